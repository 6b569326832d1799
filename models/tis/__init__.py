"""The TIS (PC Client PTP FIFO interface) as the spec defines it: locality arbitration and FIFO."""

from models.tis.model import FIFO_UNKNOWN, TisModel

__all__ = ["TisModel", "FIFO_UNKNOWN"]
