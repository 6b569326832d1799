"""The PC Client PCR attribute table as data, and the initial PCR values it implies.

The table is ``s_initAttributes`` of the TCG reference code (TPM 2.0 Part 4,
PCR.c, "consistent with PC Client specification"), the same rows libtpms 0.9
ships and swtpm 0.7.1 was measured to follow (notes/swtpm.md section 4).
Bit n of a locality mask stands for locality n.
"""

from __future__ import annotations

from typing import NamedTuple

PCR_COUNT = 24  # IMPLEMENTATION_PCR of the PC Client platform
HCRTM_PCR = 0  # H-CRTM PCR; its initial value carries the startup locality
DRTM_PCR = 17  # extended by a DRTM sequence (_TPM_Hash_End after Startup)
LOCALITY_4 = 0x10  # mask bit of locality 4: such PCRs start as FF..FF (PCR.c PCRStartup)
HCRTM_LOCALITY = 4  # PCR0 is 00..04 before an H-CRTM extend (PCR.c PcrDrtm)


class PcrAttributes(NamedTuple):
    """One row of ``s_initAttributes`` (Part 4, PCR.c ``PCR_Attributes``)."""

    state_save: bool  # saved by TPM2_Shutdown(STATE), restored by TPM Resume
    reset_locality: int  # localities that may TPM2_PCR_Reset it
    extend_locality: int  # localities that may TPM2_PCR_Extend / TPM2_PCR_Event it


_STATIC_RTM = PcrAttributes(True, 0x00, 0x1F)

PC_CLIENT_PCR_ATTRIBUTES: tuple[PcrAttributes, ...] = (_STATIC_RTM,) * 16 + (
    PcrAttributes(False, 0x0F, 0x1F),  # 16: debug
    PcrAttributes(False, 0x10, 0x1C),  # 17: DRTM, locality 4
    PcrAttributes(False, 0x10, 0x1C),  # 18: locality 3
    PcrAttributes(False, 0x10, 0x0C),  # 19: locality 2
    PcrAttributes(False, 0x14, 0x0E),  # 20: locality 1
    PcrAttributes(False, 0x14, 0x04),  # 21: dynamic OS
    PcrAttributes(False, 0x14, 0x04),  # 22: dynamic OS
    PcrAttributes(False, 0x0F, 0x1F),  # 23: application specific
)


def pcr_initial_value(profile, pcr: int, size: int, startup_locality: int) -> bytes:
    """The value of ``pcr`` after TPM Reset/Restart, for a bank of ``size``-byte digests.

    All 0xFF when locality 4 may reset the PCR (a DRTM PCR), else all 0x00,
    with PCR0's last byte set to the startup locality (Part 4, PCR.c
    PCRStartup; PC Client PTP).  An H-CRTM sequence before Startup replaces
    PCR0; the model handles that, not this table.
    """
    if not 0 <= pcr < PCR_COUNT:
        raise ValueError(f"PCR {pcr} is not one of PCR 0-{PCR_COUNT - 1}")
    if size <= 0:
        raise ValueError(f"digest size must be positive, not {size}")
    if startup_locality not in (0, 3):
        raise ValueError(f"TPM2_Startup runs at locality 0 or 3, not {startup_locality}")
    if profile.reset_mask[pcr] & LOCALITY_4:
        return b"\xff" * size
    if pcr == HCRTM_PCR:
        return bytes(size - 1) + bytes((startup_locality,))
    return bytes(size)
