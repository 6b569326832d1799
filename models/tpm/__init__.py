"""Reference model of the TPM 2.0 PCR and startup subset (Part 1-4, PC Client PTP).

``TpmModel(profile, banks).apply(op)`` gives the Outcome a conforming TPM must
produce for each operation of models.ops; ``PROFILES`` names the places where
implementations legitimately differ.
"""

from models.tpm.attributes import PC_CLIENT_PCR_ATTRIBUTES, PcrAttributes, pcr_initial_value
from models.tpm.model import ALL_BANKS, TpmModel
from models.tpm.profile import PROFILES, Profile

__all__ = ["ALL_BANKS", "PC_CLIENT_PCR_ATTRIBUTES", "PROFILES", "PcrAttributes", "Profile",
           "TpmModel", "pcr_initial_value"]
