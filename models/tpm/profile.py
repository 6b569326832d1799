"""Profiles: the points where conforming implementations legitimately differ.

A profile names one implementation family so that evidence can cite it.  Every
field says where its value comes from: the TCG reference code ("ptp": PC Client
PTP + TPM 2.0 Library Parts 1-4) or libtpms 0.9.2 as measured through swtpm
0.7.1 (notes/swtpm.md; the property and command lists were measured the same
way for this module: swtpm 0.7.1 / libtpms 0.9.2-3.1+deb12u1, fresh state dir).
"""

from __future__ import annotations

from dataclasses import dataclass

from models.ops import ANY
from models.tcg import DIGEST_SIZE, TPM_ALG, TPM_CC, TPM_PT
from models.tpm.attributes import PC_CLIENT_PCR_ATTRIBUTES, PCR_COUNT

PT_FIXED = 0x100  # Part 2, TPM_PT: the fixed and the variable property groups
PT_VAR = 0x200
PT_GROUP = 0x100

# The commands this model executes; every profile must implement them.
MODELLED_COMMANDS = frozenset(int(cc) for cc in (
    TPM_CC.TPM_CC_Startup, TPM_CC.TPM_CC_Shutdown, TPM_CC.TPM_CC_PCR_Extend,
    TPM_CC.TPM_CC_PCR_Event, TPM_CC.TPM_CC_PCR_Reset, TPM_CC.TPM_CC_PCR_Read,
    TPM_CC.TPM_CC_GetRandom, TPM_CC.TPM_CC_GetCapability))


@dataclass(frozen=True)
class Profile:
    """Where implementations legitimately differ; named so evidence can cite it."""

    name: str
    reset_mask: tuple[int, ...]  # per PCR: bit n = locality n may TPM2_PCR_Reset it
    extend_mask: tuple[int, ...]  # per PCR: bit n = locality n may extend it
    state_save: frozenset[int]  # PCRs saved by Shutdown(STATE) (TPM_PT_PCR_SAVE)
    no_increment: frozenset[int]  # changes do not bump pcrUpdateCounter (TPM_PT_PCR_NO_INCREMENT)
    implemented_algs: tuple[int, ...]  # PCR hash algorithms, in TPM_CAP_PCRS order
    max_random: int  # most bytes one TPM2_GetRandom returns (sizeof(TPMU_HA))
    policy_group: frozenset[int]  # PCRs authorizable by policy (TPM_PT_PCR_POLICY)
    auth_group: frozenset[int]  # PCRs with their own authValue (TPM_PT_PCR_AUTH)
    # TPM_CAP_TPM_PROPERTIES: (TPM_PT, value) ascending; ANY where the value is the
    # implementation's own (manufacturer, firmware, dates, live counts).
    tpm_properties: tuple[tuple[int, object], ...]
    # True: exactly these properties exist.  False: these exist and later
    # specification revisions may append more after the last one of each group
    # (revisions only append), so answers that reach past it are left open.
    tpm_properties_complete: bool
    # TPM_CC values that may be implemented: any other code gets
    # TPM_RC_COMMAND_CODE; ``command_codes_complete`` says every one of them is.
    command_codes: frozenset[int]
    command_codes_complete: bool
    # TPM_ST values the tag unmarshalling accepts before it checks for a command
    # tag: such a tag gets TPM_RC_BAD_TAG, any other TPM_RC_VALUE.  None: the tag
    # is unmarshalled as TPMI_ST_COMMAND_TAG alone, every bad tag is
    # TPM_RC_BAD_TAG (Part 3, 5.2 a).
    tpm_st_values: frozenset[int] | None
    max_command_size: int  # MAX_COMMAND_SIZE: larger commands get TPM_RC_COMMAND_SIZE
    # MAX_LOADED_OBJECTS: transient object slots (sequences); 3 in the reference and libtpms 0.9
    # (measured: a fourth TPM2_HashSequenceStart gets TPM_RC_OBJECT_MEMORY).
    max_loaded_objects: int = 3

    def __post_init__(self) -> None:
        for field in ("reset_mask", "extend_mask"):
            masks = getattr(self, field)
            if len(masks) != PCR_COUNT or any(not 0 <= m <= 0x1F for m in masks):
                raise ValueError(f"profile {self.name}: {field} needs {PCR_COUNT} masks of localities 0-4")
        for field in ("state_save", "no_increment", "policy_group", "auth_group"):
            if not getattr(self, field) <= frozenset(range(PCR_COUNT)):
                raise ValueError(f"profile {self.name}: {field} names a PCR outside 0-{PCR_COUNT - 1}")
        if 0 in self.no_increment:
            # Part 4, PCR.c PCRChanged: a change of PCR 0 always bumps the counter.
            raise ValueError(f"profile {self.name}: PCR 0 cannot be in no_increment")
        if not self.implemented_algs or len(set(self.implemented_algs)) != len(self.implemented_algs) \
                or any(alg not in DIGEST_SIZE for alg in self.implemented_algs):
            raise ValueError(f"profile {self.name}: implemented_algs must be distinct PCR hash algorithms")
        tags = [tag for tag, _ in self.tpm_properties]
        if tags != sorted(set(tags)) or any(not PT_FIXED <= t < PT_VAR + PT_GROUP for t in tags):
            raise ValueError(f"profile {self.name}: tpm_properties must be ascending, distinct, "
                             "in the fixed and variable groups")
        if not MODELLED_COMMANDS <= self.command_codes:
            raise ValueError(f"profile {self.name}: command_codes lacks commands the model executes")

    @property
    def max_digest(self) -> int:
        """sizeof(TPMU_HA): the largest digest of an implemented algorithm (TPM_PT_MAX_DIGEST)."""
        return max(DIGEST_SIZE[alg] for alg in self.implemented_algs)


def _tpm_properties(fixed_last: int, *, max_command_size: int, max_digest: int):
    """PT_FIXED through ``fixed_last`` and PT_VAR through TPM_PT_AUDIT_COUNTER_1.

    0x115 has never been assigned (Part 2, TPM_PT).  The values the sheet and
    Part 2 fix are given; every other value is the implementation's own.
    """
    fixed = {
        TPM_PT.TPM_PT_FAMILY_INDICATOR: 0x322E3000,  # "2.0"
        TPM_PT.TPM_PT_LEVEL: 0,
        TPM_PT.TPM_PT_INPUT_BUFFER: 1024,  # MAX_DIGEST_BUFFER
        TPM_PT.TPM_PT_PCR_COUNT: PCR_COUNT,
        TPM_PT.TPM_PT_PCR_SELECT_MIN: 3,
        TPM_PT.TPM_PT_MAX_COMMAND_SIZE: max_command_size,
        TPM_PT.TPM_PT_MAX_DIGEST: max_digest,
    }
    tags = [t for t in range(PT_FIXED, fixed_last + 1) if t != 0x115] + list(range(PT_VAR, 0x215))
    return tuple((t, fixed.get(t, ANY)) for t in tags)


_ALL_BANKS = tuple(int(a) for a in (TPM_ALG.TPM_ALG_SHA1, TPM_ALG.TPM_ALG_SHA256,
                                    TPM_ALG.TPM_ALG_SHA384, TPM_ALG.TPM_ALG_SHA512))
_RESET = tuple(a.reset_locality for a in PC_CLIENT_PCR_ATTRIBUTES)
_EXTEND = tuple(a.extend_locality for a in PC_CLIENT_PCR_ATTRIBUTES)
_SAVED = frozenset(pcr for pcr, a in enumerate(PC_CLIENT_PCR_ATTRIBUTES) if a.state_save)
_GROUP_20_22 = frozenset({20, 21, 22})  # PCR.c PCRBelongsPolicyGroup / PCRBelongsAuthGroup
MAX_COMMAND_SIZE = 4096

# TPM_ST constants libtpms 0.9.2 accepts (Unmarshal.c TPM_ST_Unmarshal; measured:
# 0x8000, 0x00C4, 0x8014 -> BAD_TAG; 0x0000, 0x8003, 0x801C, 0x8029 -> VALUE).
_LIBTPMS_TPM_ST = frozenset({
    0x00C4, 0x8000, 0x8001, 0x8002, 0x8014, 0x8015, 0x8016, 0x8017, 0x8018, 0x8019,
    0x801A, 0x8021, 0x8022, 0x8023, 0x8024, 0x8025})

# Command codes libtpms 0.9.2 implements: measured with an empty body before
# Startup (TPM_RC_INITIALIZE = implemented, TPM_RC_COMMAND_CODE = not), plus the
# swtpm vendor command TPM2_CC_SET_LOCALITY.
_LIBTPMS_COMMANDS = frozenset(range(0x11F, 0x194)) - frozenset(
    {0x123, 0x12F, 0x141, 0x15A, 0x15F, 0x166, 0x175, 0x179}) | {0x197, 0x20001000}

PROFILES: dict[str, Profile] = {
    # TCG reference code and PC Client PTP.  Commands: TPM_CC_FIRST..TPM_CC_LAST of
    # the newest reference (0x11F-0x19F) and TPM_CC_Vendor_TCG_Test; which of them
    # a given TPM implements is its build's choice.  Properties: those defined
    # since Part 2 rev 1.16 (through TPM_PT_NV_BUFFER_MAX).
    "ptp": Profile(
        name="ptp",
        reset_mask=_RESET,
        extend_mask=_EXTEND,
        state_save=_SAVED,
        no_increment=frozenset({20, 21, 22}),  # PCR.c PCRBelongsTCBGroup
        implemented_algs=_ALL_BANKS,
        max_random=64,
        policy_group=_GROUP_20_22,
        auth_group=_GROUP_20_22,
        tpm_properties=_tpm_properties(0x12C, max_command_size=MAX_COMMAND_SIZE, max_digest=64),
        tpm_properties_complete=False,
        command_codes=frozenset(range(0x11F, 0x1A0)) | {0x20000000},
        command_codes_complete=False,
        tpm_st_values=None,
        max_command_size=MAX_COMMAND_SIZE,
    ),
    # libtpms 0.9.2 (swtpm 0.7.1): pcrUpdateCounter not incremented for PCRs 16,
    # 21, 22, 23 ("changed for PC Client"); properties 0x100-0x12E (46) and
    # 0x200-0x214 (21) measured; TPM_PT_PCR_POLICY / AUTH measured as 20-22.
    "libtpms-0.9": Profile(
        name="libtpms-0.9",
        reset_mask=_RESET,
        extend_mask=_EXTEND,
        state_save=_SAVED,
        no_increment=frozenset({16, 21, 22, 23}),
        implemented_algs=_ALL_BANKS,
        max_random=64,
        policy_group=_GROUP_20_22,
        auth_group=_GROUP_20_22,
        tpm_properties=_tpm_properties(0x12E, max_command_size=MAX_COMMAND_SIZE, max_digest=64),
        tpm_properties_complete=True,
        command_codes=_LIBTPMS_COMMANDS,
        command_codes_complete=True,
        tpm_st_values=_LIBTPMS_TPM_ST,
        max_command_size=MAX_COMMAND_SIZE,
    ),
}
