"""swtpm's control channel: the CMD_* requests of swtpm's tpm_ioctl.h, one write each.

The control channel is how a platform (QEMU) drives what a TPM's hardware
pins and bus cycles do: _TPM_Init (CMD_INIT), the locality, the
_TPM_Hash_Start/Data/End sequence of H-CRTM and DRTM, and state migration.

Wire rules (measured on swtpm 0.7.1, matching its ctrlchannel.c): a request
is a big-endian u32 code and a fixed body with no length field, and swtpm
drops a connection whose body stays short for 500 ms, so every request is
built whole and sent with one ``sendall``.  Replies carry no length either:
their size follows from the code, and swtpm's early checks (bad body, TPM not
running, TPM running, I/O, memory) answer with the bare 4-byte result.
Results are TPM 1.2 TPM_RESULT codes (TPM 1.2 Main Part 2, section 16) and
print by name.  One control client is served at a time.
"""

from __future__ import annotations

import enum
import json
import socket
import struct
from dataclasses import dataclass

from harness.errors import TargetError
from harness.swtpm import sockets

U32 = struct.Struct(">I")
U64 = struct.Struct(">Q")
_U32_U32 = struct.Struct(">II")
_U32_U8 = struct.Struct(">IB")
_U32X3 = struct.Struct(">III")
_U32X4 = struct.Struct(">IIII")
_GET_INFO = struct.Struct(">IQII")  # code, flags, offset, pad
_HASH_DATA = struct.Struct(">II")  # code, length

# swtpm reads one message of at most 4 + 4 + 4096 bytes (0.7.1) and older
# releases 4096 in all; chunks of 4088 data bytes fit both.
HASH_DATA_CHUNK = 4088


class TPM_RESULT(enum.IntEnum):
    """TPM 1.2 result codes (TPM 1.2 Main Part 2, 16) that swtpm's control channel uses."""

    TPM_SUCCESS = 0x00
    TPM_AUTHFAIL = 0x01
    TPM_BADINDEX = 0x02
    TPM_BAD_PARAMETER = 0x03
    TPM_FAIL = 0x09
    TPM_BAD_ORDINAL = 0x0A
    TPM_RESOURCES = 0x15
    TPM_SIZE = 0x17
    TPM_BAD_PARAM_SIZE = 0x19
    TPM_IOERROR = 0x1F
    TPM_ENCRYPT_ERROR = 0x20
    TPM_DECRYPT_ERROR = 0x21
    TPM_INVALID_POSTINIT = 0x26
    TPM_BAD_DATASIZE = 0x2B
    TPM_BAD_VERSION = 0x2E
    TPM_BAD_LOCALITY = 0x3D
    TPM_RETRY = 0x800  # TPM_NON_FATAL + 0

    def __str__(self) -> str:
        return f"{self.name} ({self.value:#x})"

    __repr__ = __str__


_RESULT_BY_VALUE = {m.value: m for m in TPM_RESULT}


def describe_result(code: int) -> str:
    """``TPM_BAD_LOCALITY (0x3d)``; unknown codes print as hex."""
    member = _RESULT_BY_VALUE.get(code)
    return str(member) if member is not None else f"TPM 1.2 result ({code:#x})"


class CMD(enum.IntEnum):
    """Control channel request codes (swtpm's tpm_ioctl.h)."""

    CMD_GET_CAPABILITY = 0x01
    CMD_INIT = 0x02
    CMD_SHUTDOWN = 0x03
    CMD_GET_TPMESTABLISHED = 0x04
    CMD_SET_LOCALITY = 0x05
    CMD_HASH_START = 0x06
    CMD_HASH_DATA = 0x07
    CMD_HASH_END = 0x08
    CMD_CANCEL_TPM_CMD = 0x09
    CMD_STORE_VOLATILE = 0x0A
    CMD_RESET_TPMESTABLISHED = 0x0B
    CMD_GET_STATEBLOB = 0x0C
    CMD_SET_STATEBLOB = 0x0D
    CMD_STOP = 0x0E
    CMD_GET_CONFIG = 0x0F
    CMD_SET_DATAFD = 0x10
    CMD_SET_BUFFERSIZE = 0x11
    CMD_GET_INFO = 0x12


# CMD_GET_CAPABILITY's mask: bit n set = the request is implemented (PTM_CAP_*).
PTM_CAP = (
    "INIT", "SHUTDOWN", "GET_TPMESTABLISHED", "SET_LOCALITY", "HASHING", "CANCEL_TPM_CMD",
    "STORE_VOLATILE", "RESET_TPMESTABLISHED", "GET_STATEBLOB", "SET_STATEBLOB", "STOP",
    "GET_CONFIG", "SET_DATAFD", "SET_BUFFERSIZE", "GET_INFO", "SEND_COMMAND_HEADER",
    "LOCK_STORAGE",
)


class BLOB(enum.IntEnum):
    """State blob types of GET/SET_STATEBLOB (PTM_BLOB_TYPE_*)."""

    PERMANENT = 1
    VOLATILE = 2
    SAVESTATE = 3


INIT_DELETE_VOLATILE = 0x1  # PTM_INIT_FLAG_DELETE_VOLATILE: drop the volatile file after loading it
STATE_FLAG_DECRYPTED = 0x1  # GET_STATEBLOB request: hand the blob out decrypted
STATE_FLAG_ENCRYPTED = 0x2  # GET reply / SET request: the blob is encrypted
INFO_TPMSPECIFICATION = 0x1  # GET_INFO flags (SWTPM_INFO_*)
INFO_TPMATTRIBUTES = 0x2

_EARLY_RESULTS = frozenset({TPM_RESULT.TPM_BAD_PARAMETER, TPM_RESULT.TPM_BAD_ORDINAL,
                            TPM_RESULT.TPM_IOERROR, TPM_RESULT.TPM_SIZE})


class ControlError(TargetError):
    """A control request that swtpm answered with a non-success result."""

    def __init__(self, command: CMD, result: int) -> None:
        self.command = command
        self.result = result
        super().__init__(f"{command.name} failed: {describe_result(result)}")


@dataclass(frozen=True, slots=True)
class StateBlob:
    """One piece of TPM state as GET_STATEBLOB hands it out."""

    blob_type: BLOB
    data: bytes
    encrypted: bool


class ControlChannel:
    """A client of one swtpm control channel (not thread-safe; swtpm serves one client)."""

    def __init__(self, sock: socket.socket, name: str) -> None:
        self._sock = sock
        self.name = name

    @classmethod
    def connect(cls, address: sockets.Address, timeout: float, check=None) -> ControlChannel:
        sock = sockets.connect(address, timeout, check)
        return cls(sock, f"control channel {sockets.describe(address)}")

    def close(self) -> None:
        self._sock.close()

    # --- framing ---------------------------------------------------------

    def _send(self, command: CMD, request: bytes) -> None:
        sockets.send_all(self._sock, request, f"{command.name} on the {self.name}")

    def _recv(self, command: CMD, size: int) -> bytes:
        return sockets.recv_exact(self._sock, size, f"reply to {command.name} on the {self.name}")

    def _result(self, command: CMD, request: bytes, error_size: int = 4) -> None:
        """Send; read the u32 result; raise ControlError unless it is TPM_SUCCESS.

        ``error_size``: how long a failure reply from past swtpm's early checks is.
        """
        self._send(command, request)
        result = U32.unpack(self._recv(command, 4))[0]
        if result:
            if result not in _EARLY_RESULTS and error_size > 4:
                self._recv(command, error_size - 4)
            raise ControlError(command, result)

    # --- requests --------------------------------------------------------

    def get_capability(self) -> int:
        """Bit mask of implemented requests (PTM_CAP); the reply has no result field."""
        self._send(CMD.CMD_GET_CAPABILITY, U32.pack(CMD.CMD_GET_CAPABILITY))
        return U64.unpack(self._recv(CMD.CMD_GET_CAPABILITY, 8))[0]

    def init(self, delete_volatile: bool = False) -> None:
        """_TPM_Init: terminate and restart the TPM from its state; it then awaits TPM2_Startup.

        With ``delete_volatile``, a stored volatile state is loaded one last time and deleted.
        """
        flags = INIT_DELETE_VOLATILE if delete_volatile else 0
        self._result(CMD.CMD_INIT, _U32_U32.pack(CMD.CMD_INIT, flags))

    def shutdown(self) -> None:
        """Terminate the TPM and the swtpm process (which then exits with rc 0)."""
        self._result(CMD.CMD_SHUTDOWN, U32.pack(CMD.CMD_SHUTDOWN))

    def stop(self) -> None:
        """Terminate the TPM but keep the process: data commands get TPM_RC_FAILURE until INIT."""
        self._result(CMD.CMD_STOP, U32.pack(CMD.CMD_STOP))

    def set_locality(self, locality: int) -> None:
        """Set swtpm's one, process-wide, sticky locality (0-4; others get TPM_BAD_LOCALITY)."""
        self._result(CMD.CMD_SET_LOCALITY, _U32_U8.pack(CMD.CMD_SET_LOCALITY, locality))

    def get_tpm_established(self) -> bool:
        """The TPM_ACCESS.tpmEstablishment bit (set by a DRTM sequence)."""
        command = CMD.CMD_GET_TPMESTABLISHED
        self._result(command, U32.pack(command), error_size=8)
        return bool(self._recv(command, 4)[0] & 1)

    def reset_tpm_established(self, locality: int) -> None:
        """Clear tpmEstablishment as if from ``locality`` (the TPM allows 3 and 4)."""
        self._result(CMD.CMD_RESET_TPMESTABLISHED, _U32_U8.pack(CMD.CMD_RESET_TPMESTABLISHED, locality))

    def hash_start(self) -> None:
        """_TPM_Hash_Start (PTP: locality 4 on hardware; swtpm does not check it)."""
        self._result(CMD.CMD_HASH_START, U32.pack(CMD.CMD_HASH_START))

    def hash_data(self, data: bytes) -> None:
        """_TPM_Hash_Data, in messages small enough for every swtpm release."""
        for start in range(0, len(data), HASH_DATA_CHUNK):
            chunk = data[start:start + HASH_DATA_CHUNK]
            self._result(CMD.CMD_HASH_DATA, _HASH_DATA.pack(CMD.CMD_HASH_DATA, len(chunk)) + chunk)

    def hash_end(self) -> None:
        """_TPM_Hash_End: extend the digest into PCR 17 (DRTM) or PCR 0 (H-CRTM, before Startup)."""
        self._result(CMD.CMD_HASH_END, U32.pack(CMD.CMD_HASH_END))

    def cancel_tpm_cmd(self) -> None:
        """Ask to cancel the running command (swtpm executes commands synchronously)."""
        self._result(CMD.CMD_CANCEL_TPM_CMD, U32.pack(CMD.CMD_CANCEL_TPM_CMD))

    def store_volatile(self) -> None:
        """Write the volatile state to ``tpm2-00.volatilestate``; a restart resumes from it."""
        self._result(CMD.CMD_STORE_VOLATILE, U32.pack(CMD.CMD_STORE_VOLATILE))

    def get_state_blob(self, blob_type: BLOB, decrypted: bool = False) -> StateBlob:
        """One state blob (a VOLATILE request also stores and then deletes the volatile file)."""
        command = CMD.CMD_GET_STATEBLOB
        flags = STATE_FLAG_DECRYPTED if decrypted else 0
        chunks, total, offset = [], None, 0
        while total is None or offset < total:
            self._result(command, _U32X4.pack(command, flags, blob_type, offset), error_size=16)
            state_flags, length, chunk_length = _U32X3.unpack(self._recv(command, 12))
            total = offset + length if total is None else total
            if not chunk_length and offset < total:
                raise TargetError(f"{command.name} on the {self.name}: empty chunk at offset {offset} of {total}")
            chunks.append(self._recv(command, chunk_length))
            offset += chunk_length
        return StateBlob(BLOB(blob_type), b"".join(chunks), bool(state_flags & STATE_FLAG_ENCRYPTED))

    def set_state_blob(self, blob: StateBlob) -> None:
        """Install a blob; swtpm accepts it only while the TPM is not running (after STOP)."""
        flags = STATE_FLAG_ENCRYPTED if blob.encrypted else 0
        header = _U32X4.pack(CMD.CMD_SET_STATEBLOB, flags, blob.blob_type, len(blob.data))
        self._result(CMD.CMD_SET_STATEBLOB, header + blob.data)

    def get_config(self) -> int:
        """PTM_CONFIG flags: 1 = the state files are encrypted, 2 = a migration key is set."""
        command = CMD.CMD_GET_CONFIG
        self._result(command, U32.pack(command))
        return U32.unpack(self._recv(command, 4))[0]

    def set_datafd(self, fd: int) -> None:
        """Hand swtpm its data connection (SCM_RIGHTS; unix control sockets only), as QEMU does."""
        command = CMD.CMD_SET_DATAFD
        try:
            socket.send_fds(self._sock, [U32.pack(command)], [fd])
        except OSError as exc:
            raise TargetError(f"{command.name} on the {self.name}: {exc}") from None
        result = U32.unpack(self._recv(command, 4))[0]
        if result:
            raise ControlError(command, result)

    def set_buffer_size(self, size: int = 0) -> tuple[int, int, int]:
        """(current, minimum, maximum) TPM I/O buffer size; ``size`` 0 only queries."""
        command = CMD.CMD_SET_BUFFERSIZE
        self._result(command, _U32_U32.pack(command, size))
        return _U32X3.unpack(self._recv(command, 12))

    def get_info(self, flags: int) -> dict:
        """The JSON document GET_INFO returns for ``flags`` (INFO_TPMSPECIFICATION, ...)."""
        command = CMD.CMD_GET_INFO
        chunks, total, offset = [], None, 0
        while total is None or offset < total:
            self._result(command, _GET_INFO.pack(command, flags, offset, 0))
            length, chunk_length = _U32_U32.unpack(self._recv(command, 8))
            total = length if total is None else total
            if not chunk_length:
                break
            chunks.append(self._recv(command, chunk_length))
            offset += chunk_length
        text = b"".join(chunks).rstrip(b"\0")
        try:
            return json.loads(text)
        except ValueError:
            raise TargetError(f"{command.name} on the {self.name}: not JSON: {text[:80]!r}") from None
