"""Upper bounds the decoders enforce, from TCG TPM 2.0 Library Part 2.

Part 2 leaves several bounds to the implementation (HASH_COUNT, MAX_CAP_BUFFER,
PCR_SELECT_MAX).  The wire layer must accept every conforming TPM, so it uses
the loosest value a PC Client TPM can have, not the values of one build:

- HASH_COUNT_MAX = 16: the number of hash algorithms a TPM implements
  (HASH_COUNT) bounds TPML_PCR_SELECTION and TPML_DIGEST_VALUES.  The TCG
  algorithm registry has far fewer PCR-capable hashes; 16 leaves room.
- PCR_SELECT_MAX = 4: sizeofSelect of a TPMS_PCR_SELECTION is at most
  (IMPLEMENTATION_PCR + 7) / 8; 4 octets cover 32 PCRs.  PC Client TPMs have
  24 PCRs and PCR_SELECT_MIN = 3, which is what the encoders write.
- MAX_CAP_BUFFER = 1024 (the reference implementation's value); the
  capability list bounds follow from it by Part 2's formulas (MAX_CAP_DATA =
  MAX_CAP_BUFFER - sizeof(TPM_CAP) - sizeof(UINT32), divided by the size of
  one list element).  A TPM with a larger MAX_CAP_BUFFER needs larger bounds.
"""

from __future__ import annotations

HASH_COUNT_MAX = 16
PCR_SELECT_MAX = 4
PCR_SELECT_MIN = 3

TPMU_HA_SIZE = 64  # sizeof(TPMU_HA) with SHA-512: the buffer of every TPM2B_DIGEST
MAX_EVENT_DATA = 1024  # TPM2B_EVENT
TPML_DIGEST_MAX = 8  # TPML_DIGEST: digests[count] {:8}

MAX_CAP_BUFFER = 1024
MAX_CAP_DATA = MAX_CAP_BUFFER - 4 - 4
MAX_CAP_ALGS = MAX_CAP_DATA // 6  # TPMS_ALG_PROPERTY: alg u16 + algProperties u32
MAX_CAP_HANDLES = MAX_CAP_DATA // 4
MAX_CAP_CC = MAX_CAP_DATA // 4  # TPML_CC and TPML_CCA
MAX_TPM_PROPERTIES = MAX_CAP_DATA // 8  # TPMS_TAGGED_PROPERTY: u32 + u32
MAX_PCR_PROPERTIES = MAX_CAP_DATA // (4 + 1 + PCR_SELECT_MIN)  # TPMS_TAGGED_PCR_SELECT
MAX_ECC_CURVES = MAX_CAP_DATA // 2
