"""TPM state directories: one template per (binary, banks) and process, copied per target.

A fresh swtpm state allocates four PCR banks (sha1, sha256, sha384, sha512).
The template chooses the banks explicitly with the target's own binary, so
template and target agree on the state format:

    Startup(CLEAR); PCR_Allocate(TPM_RH_PLATFORM, requested banks all on,
    every other bank all off) (Part 3, 22.5); Shutdown(CLEAR); CMD_INIT (the
    allocation takes effect at _TPM_Init); Startup(CLEAR);
    GetCapability(TPM_CAP_PCRS) must report exactly the requested banks;
    GetCapability(TPM_PROPERTIES) for identity; Shutdown(CLEAR); CMD_SHUTDOWN.

About 10 ms once, then ~0.5 ms per copy (``swtpm_setup --pcr-banks`` does the
same in ~570 ms and needs swtpm-tools).  Ending on an orderly Shutdown(CLEAR)
makes each target's first Startup(CLEAR) an ordinary TPM Reset.  The TPM
properties read here are the identity of every target copied from the
template: same binary, same implementation, and no need to start a target's
TPM to name it.
"""

from __future__ import annotations

import atexit
import os
import shutil
import struct
import tempfile
import threading
from dataclasses import dataclass

from harness.errors import TargetError, UsageError
from harness.swtpm import launch, properties
from harness.wire import TPML_PCR_SELECTION, TPMS_AUTH_COMMAND, TPMS_PCR_SELECTION, encode_command
from models.ops import Shutdown, Startup
from models.tcg import ALG_BY_NAME, PCR_COUNT, TPM_CC, TPM_RH, TPM_ST, TPM_SU, describe_rc

PERMANENT_FILE = "tpm2-00.permall"  # NV, seeds, hierarchy state: the "disk"
VOLATILE_FILE = "tpm2-00.volatilestate"  # written by CMD_STORE_VOLATILE; a restart resumes from it
SWTPM_BANKS = ("sha1", "sha256", "sha384", "sha512")  # what libtpms 0.9 allocates on a fresh state

_HEADER = struct.Struct(">HII")
_PASSWORD = TPMS_AUTH_COMMAND(int(TPM_RH.TPM_RS_PW), b"", 0, b"").marshal()
_ALL_PCRS = bytes([0xFF]) * (PCR_COUNT // 8)
_NO_PCRS = bytes(PCR_COUNT // 8)
_STARTUP = encode_command(Startup(TPM_SU.TPM_SU_CLEAR))
_SHUTDOWN = encode_command(Shutdown(TPM_SU.TPM_SU_CLEAR))


@dataclass(frozen=True)
class Template:
    path: str
    banks: tuple[str, ...]
    identity: dict  # what the template's TPM reported (properties.query)


_templates: dict[tuple[str, tuple[str, ...]], Template] = {}
_lock = threading.Lock()
_root: list[str] = []  # the process's template directory, made on first use


def pcr_allocate(banks: tuple[str, ...]) -> bytes:
    """TPM2_PCR_Allocate(TPM_RH_PLATFORM, password auth): ``banks`` all on, the others all off.

    Banks left out of pcrAllocation would keep their current allocation
    (Part 3, 22.5.1), so every bank libtpms knows is listed.
    """
    selection = TPML_PCR_SELECTION(tuple(
        TPMS_PCR_SELECTION(int(ALG_BY_NAME[name]), _ALL_PCRS if name in banks else _NO_PCRS)
        for name in SWTPM_BANKS + tuple(b for b in banks if b not in SWTPM_BANKS)
    )).marshal()
    body = (struct.pack(">II", TPM_RH.TPM_RH_PLATFORM, len(_PASSWORD)) + _PASSWORD + selection)
    size = _HEADER.size + len(body)
    return _HEADER.pack(TPM_ST.TPM_ST_SESSIONS, size, TPM_CC.TPM_CC_PCR_Allocate) + body


def template(binary: str, banks: tuple[str, ...], timeout: float) -> Template:
    """The template for ``binary`` and ``banks``, made on first use in this process."""
    key = (binary, banks)
    with _lock:
        if key not in _templates:
            _templates[key] = _make_template(binary, banks, timeout)
        return _templates[key]


def copy_state(source: Template, destination: str) -> None:
    """A new state directory at ``destination`` holding the template's state."""
    shutil.copytree(source.path, destination)


def _template_root() -> str:
    if not _root:
        root = tempfile.mkdtemp(prefix="vtpm-harness-swtpm-templates-")
        owner = os.getpid()
        atexit.register(lambda: os.getpid() == owner and shutil.rmtree(root, ignore_errors=True))
        _root.append(root)
    return _root[0]


def _check(step: str, response: bytes) -> bytes:
    rc = _HEADER.unpack_from(response)[2] if len(response) >= _HEADER.size else None
    if rc != 0:
        what = describe_rc(rc) if rc is not None else f"{len(response)} bytes"
        raise TargetError(f"preparing the swtpm state: {step} returned {what}")
    return response


def _make_template(binary: str, banks: tuple[str, ...], timeout: float) -> Template:
    work = tempfile.mkdtemp(prefix="bank-", dir=_template_root())
    state = os.path.join(work, "state")
    os.mkdir(state)
    tpm = launch.start(binary, state, work, "unix", timeout)
    try:
        send = tpm.data.transmit
        _check("Startup(CLEAR)", send(_STARTUP))
        response = _check("PCR_Allocate", send(pcr_allocate(banks)))
        if response[14] != 1:  # parameterSize u32, then allocationSuccess (TPMI_YES_NO)
            raise UsageError(f"{binary} refused to allocate PCR banks {','.join(banks)}")
        _check("Shutdown(CLEAR)", send(_SHUTDOWN))
        tpm.control.init()
        _check("Startup(CLEAR) after the allocation", send(_STARTUP))
        identity = properties.query(send)
        if set(identity.get("pcr_banks", ())) != set(banks):
            raise UsageError(f"{binary} allocated PCR banks {identity.get('pcr_banks')} "
                             f"when asked for {list(banks)}")
        _check("Shutdown(CLEAR)", send(_SHUTDOWN))
        tpm.control.shutdown()
        tpm.process.wait(timeout)
    finally:
        tpm.close()
    return Template(state, banks, identity)
