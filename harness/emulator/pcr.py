"""PCR banks: attributes, values, extend/reset, startup initialisation, DRTM.

The attribute table is the PC Client one of the reference code (PCR.c
``s_initAttributes`` and the TCB/policy/auth groups of PCR 20-22): it fixes
which PCRs are state-saved, who may extend or reset them, their initial
values and which changes bump pcrUpdateCounter.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from typing import NamedTuple

from .codes import (
    PCR_COUNT,
    TPM_ALG_SHA1,
    TPM_ALG_SHA256,
    TPM_ALG_SHA384,
    TPM_ALG_SHA512,
)

HCRTM_PCR = 0
DRTM_PCR = 17
LOCALITY_4 = 0x10  # bit 4 of a locality mask


class PcrAttributes(NamedTuple):
    state_save: bool  # restored by TPM Resume (Part 1, "TPM Resume")
    reset_mask: int  # localities allowed to TPM2_PCR_Reset (bit n = locality n)
    extend_mask: int  # localities allowed to TPM2_PCR_Extend / TPM2_PCR_Event
    no_increment: bool  # TCB group: changes do not bump pcrUpdateCounter
    policy_group: bool  # TPM_PT_PCR_POLICY
    auth_group: bool  # TPM_PT_PCR_AUTH


def _ptp_table() -> tuple[PcrAttributes, ...]:
    static = PcrAttributes(True, 0x00, 0x1F, False, False, False)
    dynamic_os = PcrAttributes(False, 0x14, 0x04, True, True, True)
    return (static,) * 16 + (
        PcrAttributes(False, 0x0F, 0x1F, False, False, False),  # 16 debug
        PcrAttributes(False, 0x10, 0x1C, False, False, False),  # 17 DRTM, locality 4
        PcrAttributes(False, 0x10, 0x1C, False, False, False),  # 18 locality 3
        PcrAttributes(False, 0x10, 0x0C, False, False, False),  # 19 locality 2
        PcrAttributes(False, 0x14, 0x0E, True, True, True),  # 20 locality 1
        dynamic_os,  # 21
        dynamic_os,  # 22
        PcrAttributes(False, 0x0F, 0x1F, False, False, False),  # 23 application
    )


PTP_ATTRIBUTES = _ptp_table()
# PCRs a DRTM sequence resets: those resettable by locality 4 (17-22).
DRTM_RESET_PCRS = tuple(p for p, a in enumerate(PTP_ATTRIBUTES) if a.reset_mask & LOCALITY_4)


class HashAlg(NamedTuple):
    alg: int  # TPM_ALG_ID
    name: str  # hashlib name
    size: int  # digest size
    new: Callable  # hashlib constructor, e.g. hashlib.sha256


# The implemented hash algorithms, in the order the TPM reports them.
IMPLEMENTED = (
    HashAlg(TPM_ALG_SHA1, "sha1", 20, hashlib.sha1),
    HashAlg(TPM_ALG_SHA256, "sha256", 32, hashlib.sha256),
    HashAlg(TPM_ALG_SHA384, "sha384", 48, hashlib.sha384),
    HashAlg(TPM_ALG_SHA512, "sha512", 64, hashlib.sha512),
)
DIGEST_SIZE = {h.alg: h.size for h in IMPLEMENTED}
BY_ALG = {h.alg: h for h in IMPLEMENTED}


def initial_value(pcr: int, size: int, locality: int) -> bytes:
    """PCR value at TPM Reset/Restart (PCR.c PCRStartup): FF..FF if locality 4
    may reset it, else 00..00 with PCR 0's last byte = the startup locality."""
    if PTP_ATTRIBUTES[pcr].reset_mask & LOCALITY_4:
        return b"\xff" * size
    if pcr == HCRTM_PCR:
        return bytes(size - 1) + bytes((locality,))
    return bytes(size)


class Bank:
    """One allocated PCR bank: 24 values of one hash algorithm."""

    __slots__ = ("hash", "values", "counts")

    def __init__(self, hash_alg: HashAlg, counts: tuple[bool, ...]) -> None:
        self.hash = hash_alg
        self.values = [bytes(hash_alg.size)] * PCR_COUNT
        # counts[pcr]: whether changing this PCR in this bank bumps pcrUpdateCounter
        self.counts = counts


class PcrBanks:
    """The allocated banks and pcrUpdateCounter (Part 1, "PCR Change Tracking")."""

    def __init__(self, names: Iterable[str], mutants: frozenset[str]) -> None:
        counts = tuple(not a.no_increment for a in PTP_ATTRIBUTES)
        skip_sha256 = "update-counter-skips-sha256" in mutants
        wanted = set(names)
        self.banks = tuple(
            Bank(h, (False,) * PCR_COUNT if skip_sha256 and h.alg == TPM_ALG_SHA256 else counts)
            for h in IMPLEMENTED
            if h.name in wanted
        )
        self.by_alg = {b.hash.alg: b for b in self.banks}
        self.update_counter = 0
        self.extend = self._extend_swapped if "extend-operand-order" in mutants else self._extend
        self._pcr0_ignores_locality = "pcr0-ignores-startup-locality" in mutants
        self._drtm_pcrs_zero = "drtm-pcrs-init-zero" in mutants
        self._resume_restores_all = "resume-restores-all-pcrs" in mutants
        self._hcrtm_overwritten = "hcrtm-pcr0-overwritten" in mutants
        self._drops_first_extend = "first-extend-after-startup-dropped" in mutants
        self.drop_next_extend = False  # set by a TPM Reset/Restart under that mutant
        self._drtm_resets = tuple(
            p for p in DRTM_RESET_PCRS if not (p == 18 and "drtm-keeps-pcr18" in mutants)
        )

    def _extend(self, pcr: int, alg: int, digest: bytes) -> None:
        """PCR := H_alg(PCR || digest) if the bank is allocated (PCR.c PCRExtend)."""
        bank = self.by_alg.get(alg)
        if bank is not None:
            values = bank.values
            values[pcr] = bank.hash.new(values[pcr] + digest).digest()
            if bank.counts[pcr]:
                self.update_counter += 1

    def _extend_swapped(self, pcr: int, alg: int, digest: bytes) -> None:
        bank = self.by_alg.get(alg)
        if bank is not None:
            values = bank.values
            values[pcr] = bank.hash.new(digest + values[pcr]).digest()  # planted bug
            if bank.counts[pcr]:
                self.update_counter += 1

    def reset(self, pcr: int) -> None:
        """TPM2_PCR_Reset: 00..00 in every bank; one counter change (PCR.c PCRChanged)."""
        for bank in self.banks:
            bank.values[pcr] = bytes(bank.hash.size)
        if not PTP_ATTRIBUTES[pcr].no_increment:
            self.update_counter += 1

    def snapshot(self) -> dict[int, tuple[bytes, ...]]:
        """The values TPM2_Shutdown(STATE) saves, by algorithm."""
        return {b.hash.alg: tuple(b.values) for b in self.banks}

    def load(self, values: dict[int, dict[int, bytes]]) -> None:
        """Set PCRs to given values (alg -> {pcr: value}), as a vTPM manager's hwinitpcr does."""
        for bank in self.banks:
            for pcr, value in values.get(bank.hash.alg, {}).items():
                bank.values[pcr] = value

    def startup(
        self,
        locality: int,
        hcrtm: bool,
        saved: dict[int, tuple[bytes, ...]] | None,
        counter: int,
    ) -> None:
        """PCR part of TPM2_Startup (PCR.c PCRStartup).

        ``saved``: the Shutdown(STATE) values for a TPM Resume (restores the
        state-saved PCRs 0-15), None for TPM Reset/Restart.  ``counter``:
        pcrUpdateCounter to continue from (0 at TPM Reset).  After an H-CRTM
        sequence PCR 0 keeps its value, except on Resume.
        """
        pcr0_locality = 0 if self._pcr0_ignores_locality else locality
        self.drop_next_extend = self._drops_first_extend and saved is None
        for pcr, attrs in enumerate(PTP_ATTRIBUTES):
            restore = saved is not None and (attrs.state_save or self._resume_restores_all)
            if not restore and (pcr == 0 or not attrs.no_increment):
                counter += 1
            if pcr == HCRTM_PCR and hcrtm and saved is None and not self._hcrtm_overwritten:
                continue
            for bank in self.banks:
                if restore:
                    bank.values[pcr] = saved[bank.hash.alg][pcr]
                elif self._drtm_pcrs_zero and attrs.reset_mask & LOCALITY_4:
                    bank.values[pcr] = bytes(bank.hash.size)  # planted bug
                else:
                    bank.values[pcr] = initial_value(pcr, bank.hash.size, pcr0_locality)
        self.update_counter = counter

    def hash_end(self, data: bytes, started: bool) -> None:
        """_TPM_Hash_End (IntegrityCommands.c, PCR.c PcrDrtm).

        After Startup (DRTM): PCRs 17-22 := 00..00, then PCR 17 := H(00..00 ||
        H(data)).  Before Startup (H-CRTM): PCR 0 := H(00..04 || H(data)).
        """
        if started:
            for pcr in self._drtm_resets:
                for bank in self.banks:
                    bank.values[pcr] = bytes(bank.hash.size)
            pcr = DRTM_PCR
        else:
            pcr = HCRTM_PCR
        for bank in self.banks:
            size = bank.hash.size
            bank.values[pcr] = bytes(size) if started else bytes(size - 1) + b"\x04"
            self.extend(pcr, bank.hash.alg, bank.hash.new(data).digest())
