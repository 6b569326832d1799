"""Reference model of a vTPM manager: named vTPM instances, each a TpmModel with a disk.

See :mod:`models.vtpm.manager`.
"""

from models.vtpm.manager import (ATTACHED, ABSENT, LOST, REFUSE_ALL, REFUSE_PERSISTENT, SCRATCH,
                                 WITHOUT_DISK, VtpmManagerModel, VtpmModel, is_persistent)

__all__ = ["ABSENT", "ATTACHED", "LOST", "REFUSE_ALL", "REFUSE_PERSISTENT", "SCRATCH", "WITHOUT_DISK",
           "VtpmManagerModel", "VtpmModel", "is_persistent"]
