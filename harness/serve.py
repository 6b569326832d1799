"""``serve-emulator``: the built-in emulator behind swtpm's socket protocol, on loopback.

Why: tools written for swtpm (tpm2-tools' swtpm TCTI, QEMU's emulator
backend, the harness's own ``swtpm+tcp://`` target) can then drive the
emulator, which tests the emulator with clients the harness did not write.

The two channels mirror swtpm 0.7.1 (notes/swtpm.md sections 2, 3, 9):

- data port: either a plain TPM 2.0 command (tag 0x8001/0x8002 first), run
  at the locality last set (CMD_SET_LOCALITY or a prefix), or the
  MS-simulator TPM_SEND_COMMAND framing ``00000008 LL SSSSSSSS <cmd>`` ->
  ``SSSSSSSS <rsp> 00000000``, whose LL also becomes the sticky locality,
  as in swtpm.  A plain command is complete when its commandSize has
  arrived (swtpm instead takes one read() as one command); a commandSize
  beyond MAX_BUFFER, or below the header, is executed as it came, so the
  emulator answers TPM_RC_COMMAND_SIZE.  Clients connect and disconnect
  freely: the swtpm TCTI opens a new connection per command.
- control port: the CMD_* requests of swtpm's tpm_ioctl.h that a platform
  needs (CAPABILITY_MASK advertises them); results are TPM 1.2 TPM_RESULT codes, an
  unknown request gets TPM_BAD_ORDINAL.  CMD_INIT is _TPM_Init
  (``Emulator.power_on``), HASH_START/DATA/END one DRTM/H-CRTM sequence
  (``Emulator.drtm`` at HASH_END with the data accumulated), STOP makes data
  commands fail with TPM_RC_FAILURE until the next INIT, SHUTDOWN ends
  ``serve``.

One thread runs everything (``selectors``), so the emulator sees one command
at a time and needs no lock; several clients may be connected at once.
"""

from __future__ import annotations

import errno
import ipaddress
import json
import selectors
import socket
import struct
import sys
import threading
from typing import Callable

from harness.emulator import MUTANTS, Emulator
from harness.emulator.capability import PROPERTIES
from harness.errors import UsageError
from harness.swtpm.control import CMD, PTM_CAP, TPM_RESULT
from models.tcg import TPM_PT, TPM_RC, TPM_ST

__all__ = ["serve", "add_parser", "CAPABILITY_MASK"]

ALL_BANKS = ("sha1", "sha256", "sha384", "sha512")
MAX_BUFFER = 4096  # swtpm 0.7.1's TPM I/O buffer: CMD_SET_BUFFERSIZE reports (4096, 2808, 4096)
MIN_BUFFER = 2808
_POLL = 0.1  # seconds between looks at ``stop``
_RECV = 65536

_U32 = struct.Struct(">I")
_U64 = struct.Struct(">Q")
_PREFIX = struct.Struct(">IBI")  # TPM_SEND_COMMAND, locality, commandSize
_ERROR = struct.Struct(">HII")  # a TPM 2.0 error response: tag, size 10, rc
_TPM_SEND_COMMAND = 8
_TRAILER = b"\0\0\0\0"
_FAILURE = _ERROR.pack(int(TPM_ST.TPM_ST_NO_SESSIONS), 10, int(TPM_RC.TPM_RC_FAILURE))
_BAD_LOCALITY = _ERROR.pack(int(TPM_ST.TPM_ST_NO_SESSIONS), 10, int(TPM_RC.TPM_RC_LOCALITY))

# Request body sizes (after the u32 code); HASH_DATA's is 4 + its length field.
_BODY = {
    CMD.CMD_GET_CAPABILITY: 0, CMD.CMD_INIT: 4, CMD.CMD_SHUTDOWN: 0, CMD.CMD_GET_TPMESTABLISHED: 0,
    CMD.CMD_SET_LOCALITY: 1, CMD.CMD_HASH_START: 0, CMD.CMD_HASH_DATA: 4, CMD.CMD_HASH_END: 0,
    CMD.CMD_STOP: 0, CMD.CMD_GET_CONFIG: 0, CMD.CMD_SET_BUFFERSIZE: 4, CMD.CMD_GET_INFO: 16,
}
# PTM_CAP bits of what is implemented here, plus SEND_COMMAND_HEADER (the data port's prefix).
CAPABILITY_MASK = sum(1 << PTM_CAP.index(name) for name in (
    "INIT", "SHUTDOWN", "GET_TPMESTABLISHED", "SET_LOCALITY", "HASHING", "STOP", "GET_CONFIG",
    "SET_BUFFERSIZE", "GET_INFO", "SEND_COMMAND_HEADER"))
_OK = _U32.pack(TPM_RESULT.TPM_SUCCESS)
_BAD_PARAMETER = _U32.pack(TPM_RESULT.TPM_BAD_PARAMETER)
_BAD_ORDINAL = _U32.pack(TPM_RESULT.TPM_BAD_ORDINAL)
_BAD_LOCALITY_RESULT = _U32.pack(TPM_RESULT.TPM_BAD_LOCALITY)
_INFO_SPECIFICATION, _INFO_ATTRIBUTES = 1, 2  # GET_INFO flags (SWTPM_INFO_*)


def _family(host: str) -> socket.AddressFamily:
    """AF_INET/AF_INET6 of a loopback ``host``; anything else is a UsageError."""
    try:
        address = ipaddress.ip_address("127.0.0.1" if host == "localhost" else host)
    except ValueError:
        raise UsageError(f"serve-emulator: host {host!r} is not an IP address (loopback only)") from None
    if not address.is_loopback:
        raise UsageError(f"serve-emulator: host {host} is not a loopback address (loopback only)")
    return socket.AF_INET6 if address.version == 6 else socket.AF_INET


def _listen(host: str, port: int, family: socket.AddressFamily, what: str) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(4)
    except OSError as exc:
        sock.close()
        reason = "is in use" if exc.errno == errno.EADDRINUSE else f"cannot be bound: {exc.strerror or exc}"
        raise UsageError(f"serve-emulator: {what} port {port} on {host} {reason}") from None
    sock.setblocking(False)
    return sock


class _Tpm:
    """The emulator plus the platform state swtpm keeps beside libtpms."""

    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator
        self.locality = 0  # sticky, process-wide, as swtpm's
        self.running = True  # False after CMD_STOP until CMD_INIT
        self.established = False  # TPM_ACCESS.tpmEstablishment: set by _TPM_Hash_Start (PTP 6.5.2.4)
        self.hash_data: list[bytes] | None = None  # between HASH_START and HASH_END
        self.buffer_size = MAX_BUFFER
        self.shutdown = False

    def execute(self, command: bytes, locality: int) -> bytes:
        if not self.running:
            return _FAILURE
        if not 0 <= locality <= 4:
            return _BAD_LOCALITY
        return self.emulator.execute(command, locality)

    # --- the data port -----------------------------------------------------

    def data(self, buf: bytearray) -> bytes | None:
        """Consume one whole request from ``buf``; its reply, or None when more bytes must come."""
        n = len(buf)
        if n < 4:
            return None
        if _U32.unpack_from(buf)[0] == _TPM_SEND_COMMAND:  # a command tag cannot start like this
            if n < 9:
                return None
            _, locality, size = _PREFIX.unpack_from(buf)
            if n < 9 + size:
                return None
            command = bytes(buf[9:9 + size])
            del buf[:9 + size]
            self.locality = locality
            response = self.execute(command, locality)
            return _U32.pack(len(response)) + response + _TRAILER
        if n < 10:
            return None
        size = _U32.unpack_from(buf, 2)[0]
        if 10 <= size <= MAX_BUFFER and n < size:
            return None
        take = size if 10 <= size <= n else n
        command = bytes(buf[:take])
        del buf[:take]
        return self.execute(command, self.locality)

    # --- the control port --------------------------------------------------

    def control(self, buf: bytearray) -> bytes | None:
        """Consume one whole control request from ``buf``; its reply, or None when more must come."""
        if len(buf) < 4:
            return None
        code = _U32.unpack_from(buf)[0]
        body_size = _BODY.get(code)
        if body_size is None:
            del buf[:4]
            return _BAD_ORDINAL
        if code == CMD.CMD_HASH_DATA and len(buf) >= 8:
            body_size += _U32.unpack_from(buf, 4)[0]
        if len(buf) < 4 + body_size:
            return None
        body = bytes(buf[4:4 + body_size])
        del buf[:4 + body_size]
        return self._control(code, body)

    def _control(self, code: int, body: bytes) -> bytes:
        if code == CMD.CMD_GET_CAPABILITY:
            return _U64.pack(CAPABILITY_MASK)
        if code == CMD.CMD_INIT:
            self.emulator.power_on()
            self.running = True
            self.hash_data = None
            return _OK
        if code == CMD.CMD_SHUTDOWN:
            self.shutdown = True
            return _OK
        if code == CMD.CMD_STOP:
            self.running = False
            return _OK
        if code == CMD.CMD_SET_LOCALITY:
            if body[0] > 4:
                return _BAD_LOCALITY_RESULT
            self.locality = body[0]
            return _OK
        if code == CMD.CMD_GET_TPMESTABLISHED:
            return _OK + bytes([self.established, 0, 0, 0])
        if code == CMD.CMD_GET_CONFIG:
            return _OK + _U32.pack(0)  # no state encryption, no migration key
        if code == CMD.CMD_SET_BUFFERSIZE:
            return self._buffer_size(_U32.unpack(body)[0])
        if code == CMD.CMD_GET_INFO:
            flags, offset, _ = struct.unpack(">QII", body)
            return self._info(flags, offset)
        if not self.running:  # the hash sequence needs a running TPM, as in swtpm
            return _BAD_ORDINAL
        if code == CMD.CMD_HASH_START:
            self.hash_data = []
            self.established = True
        elif code == CMD.CMD_HASH_DATA:
            if len(body) - 4 > MAX_BUFFER:
                return _BAD_PARAMETER
            if self.hash_data is not None:
                self.hash_data.append(body[4:])
        elif self.hash_data is not None:  # HASH_END; without HASH_START it does nothing (swtpm: 0)
            self.emulator.drtm(b"".join(self.hash_data))
            self.hash_data = None
        return _OK

    def _buffer_size(self, size: int) -> bytes:
        """Query (size 0) or, while stopped, set the buffer size within swtpm's bounds."""
        if size:
            if self.running:
                return _BAD_ORDINAL
            self.buffer_size = min(max(size, MIN_BUFFER), MAX_BUFFER)
        return _OK + struct.pack(">III", self.buffer_size, MIN_BUFFER, MAX_BUFFER)

    def _info(self, flags: int, offset: int) -> bytes:
        info = {}
        if flags & _INFO_SPECIFICATION:
            info["TPMSpecification"] = {"family": "2.0", "level": PROPERTIES[TPM_PT.TPM_PT_LEVEL],
                                        "revision": PROPERTIES[TPM_PT.TPM_PT_REVISION]}
        if flags & _INFO_ATTRIBUTES:
            ident = self.emulator.identity()
            info["TPMAttributes"] = {"manufacturer": ident["manufacturer"], "version": ident["firmware"],
                                     "model": ident["model"]}
        text = json.dumps(info, separators=(",", ":")).encode()
        chunk = text[offset:offset + MAX_BUFFER]
        return _OK + struct.pack(">II", len(text), len(chunk)) + chunk


def serve(port: int, ctrl_port: int, host: str = "127.0.0.1", banks: tuple[str, ...] = ALL_BANKS,
          mutants: frozenset[str] = frozenset(), ready: Callable[[], None] | None = None,
          stop: threading.Event | None = None) -> None:
    """Serve one new Emulator(banks, mutants) on ``host``:``port`` (data) and ``ctrl_port``
    (control) until CMD_SHUTDOWN or ``stop`` is set.

    Both ports are bound before ``ready()`` is called.  A non-loopback host or a
    port in use raises UsageError; bad banks or mutants raise ValueError.
    """
    if port == ctrl_port:
        raise UsageError(f"serve-emulator: data and control port are both {port}")
    tpm = _Tpm(Emulator(banks=tuple(banks), mutants=frozenset(mutants)))
    family = _family(host)
    data_listener = _listen(host, port, family, "data")
    try:
        ctrl_listener = _listen(host, ctrl_port, family, "control")
    except BaseException:
        data_listener.close()
        raise
    selector = selectors.DefaultSelector()
    handlers = {data_listener: tpm.data, ctrl_listener: tpm.control}
    selector.register(data_listener, selectors.EVENT_READ, None)
    selector.register(ctrl_listener, selectors.EVENT_READ, None)
    try:
        if ready is not None:
            ready()
        while not tpm.shutdown and not (stop is not None and stop.is_set()):
            for key, _ in selector.select(_POLL):
                sock = key.fileobj
                if key.data is None:  # a listener: accept a new client
                    try:
                        client, _ = sock.accept()
                    except BlockingIOError:
                        continue
                    client.setblocking(True)
                    client.settimeout(5.0)
                    selector.register(client, selectors.EVENT_READ, (handlers[sock], bytearray()))
                    continue
                handle, buf = key.data
                if not _serve_client(sock, handle, buf):
                    selector.unregister(sock)
                    sock.close()
                if tpm.shutdown:
                    break
    finally:
        for key in list(selector.get_map().values()):
            key.fileobj.close()
        selector.close()


def _serve_client(sock: socket.socket, handle, buf: bytearray) -> bool:
    """Read what arrived and answer every whole request; False when the client is gone."""
    try:
        chunk = sock.recv(_RECV)
    except OSError:
        return False
    if not chunk:
        return False
    buf += chunk
    while True:
        reply = handle(buf)
        if reply is None:
            return True
        try:
            sock.sendall(reply)
        except OSError:
            return False


# --- the command line ------------------------------------------------------------


def add_parser(subparsers):
    """Register ``serve-emulator``; its ``func(args)`` serves until CMD_SHUTDOWN or Ctrl-C, returns 0."""
    p = subparsers.add_parser(
        "serve-emulator", help="serve the built-in emulator over swtpm's socket protocol (loopback)",
        description="tpm2-tools: TPM2TOOLS_TCTI=swtpm:host=127.0.0.1,port=P needs --ctrl-port P+1.")
    p.add_argument("--port", type=int, required=True, metavar="P", help="data port")
    p.add_argument("--ctrl-port", type=int, required=True, metavar="C", help="control port")
    p.add_argument("--host", default="127.0.0.1", help="a loopback address (default 127.0.0.1)")
    p.add_argument("--banks", default=",".join(ALL_BANKS), metavar="ALG,...",
                   help=f"allocated PCR banks (default {','.join(ALL_BANKS)})")
    p.add_argument("--mutant", action="append", default=[], metavar="NAME",
                   help="plant a named bug (see `vtpm-harness mutants`); repeatable")
    p.set_defaults(func=_cmd_serve)
    return p


def _cmd_serve(args) -> int:
    banks = tuple(b.strip().lower() for b in args.banks.split(",") if b.strip())
    bad = [b for b in banks if b not in ALL_BANKS]
    if bad or not banks or len(set(banks)) != len(banks):
        raise UsageError(f"serve-emulator: --banks must be distinct names of {','.join(ALL_BANKS)}")
    unknown = sorted(set(args.mutant) - MUTANTS.keys())
    if unknown:
        raise UsageError(f"serve-emulator: unknown mutant {unknown[0]!r} (see `vtpm-harness mutants`)")

    def ready() -> None:
        print(f"vtpm-harness: serving the emulator ({','.join(banks)}) on {args.host}: data port "
              f"{args.port}, control port {args.ctrl_port}", file=sys.stderr, flush=True)
    try:
        serve(args.port, args.ctrl_port, args.host, banks, frozenset(args.mutant), ready)
    except KeyboardInterrupt:
        pass
    return 0
