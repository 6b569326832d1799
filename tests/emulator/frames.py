"""Hand-built TPM 2.0 command frames and response readers for the emulator tests.

Written from the byte layouts of Part 3 and /work/shared/notes/swtpm.md
section 5 (measured on swtpm), with struct only: the tests check the emulator
against these, so nothing here comes from the emulator or harness.wire.
"""

from __future__ import annotations

import hashlib
import struct

from models.tcg import describe_rc

NO_SESSIONS, SESSIONS = 0x8001, 0x8002
CC = {
    "Startup": 0x144, "Shutdown": 0x145, "PCR_Extend": 0x182, "PCR_Event": 0x13C,
    "PCR_Reset": 0x13D, "PCR_Read": 0x17E, "GetRandom": 0x17B, "GetCapability": 0x17A,
}
ALG = {"sha1": 0x0004, "sha256": 0x000B, "sha384": 0x000C, "sha512": 0x000D}
SIZE = {"sha1": 20, "sha256": 32, "sha384": 48, "sha512": 64}
BANKS = ("sha1", "sha256", "sha384", "sha512")
TPM_RS_PW, TPM_RH_NULL = 0x40000009, 0x40000007
CLEAR, STATE = 0, 1


def frame(tag: int, code: int, body: bytes = b"") -> bytes:
    """tag, commandSize (computed), commandCode, then ``body``."""
    return struct.pack(">HII", tag, 10 + len(body), code) + body


def session(handle: int = TPM_RS_PW, nonce: bytes = b"", attrs: int = 0, hmac: bytes = b"") -> bytes:
    """TPMS_AUTH_COMMAND."""
    return (struct.pack(">IH", handle, len(nonce)) + nonce
            + struct.pack(">BH", attrs, len(hmac)) + hmac)


def auth_area(*sessions: bytes) -> bytes:
    """authorizationSize + the sessions; one empty password session by default."""
    body = b"".join(sessions or (session(),))
    return struct.pack(">I", len(body)) + body


def startup(su: int = CLEAR) -> bytes:
    return frame(NO_SESSIONS, CC["Startup"], struct.pack(">H", su))


def shutdown(su: int = CLEAR) -> bytes:
    return frame(NO_SESSIONS, CC["Shutdown"], struct.pack(">H", su))


def digest_values(digests: list[tuple[str, bytes]]) -> bytes:
    """TPML_DIGEST_VALUES from (bank name, digest) pairs."""
    return struct.pack(">I", len(digests)) + b"".join(
        struct.pack(">H", ALG[name]) + d for name, d in digests)


def pcr_extend(pcr: int, digests: list[tuple[str, bytes]], auth: bytes | None = None) -> bytes:
    return frame(SESSIONS, CC["PCR_Extend"],
                 struct.pack(">I", pcr) + (auth or auth_area()) + digest_values(digests))


def pcr_event(pcr: int, data: bytes, auth: bytes | None = None) -> bytes:
    return frame(SESSIONS, CC["PCR_Event"],
                 struct.pack(">I", pcr) + (auth or auth_area()) + struct.pack(">H", len(data)) + data)


def pcr_reset(pcr: int, auth: bytes | None = None) -> bytes:
    return frame(SESSIONS, CC["PCR_Reset"], struct.pack(">I", pcr) + (auth or auth_area()))


def pcr_selection(selection: list[tuple[str, list[int]]]) -> bytes:
    """TPML_PCR_SELECTION with sizeofSelect 3 from (bank name, [pcr, ...])."""
    out = struct.pack(">I", len(selection))
    for name, pcrs in selection:
        bits = sum(1 << p for p in set(pcrs))
        out += struct.pack(">HB", ALG[name], 3) + bits.to_bytes(3, "little")
    return out


def pcr_read(selection: list[tuple[str, list[int]]]) -> bytes:
    return frame(NO_SESSIONS, CC["PCR_Read"], pcr_selection(selection))


def get_random(n: int) -> bytes:
    return frame(NO_SESSIONS, CC["GetRandom"], struct.pack(">H", n))


def get_capability(capability: int, prop: int, count: int) -> bytes:
    return frame(NO_SESSIONS, CC["GetCapability"], struct.pack(">III", capability, prop, count))


# --- responses -------------------------------------------------------------

def rc(response: bytes) -> int:
    return struct.unpack_from(">I", response, 6)[0]


def rc_only(code: int) -> bytes:
    """The 10-byte response that carries only a response code: ``8001 0000000a <code>``.

    Every error response has this form, as has the success of a command
    without response parameters or sessions (Startup, Shutdown)."""
    return struct.pack(">HII", NO_SESSIONS, 10, code)


def assert_rc(response: bytes, code: int) -> None:
    """``response`` is exactly the 10-byte response with ``code``; the message names both codes."""
    assert response == rc_only(code), (
        f"expected {describe_rc(code)}, got "
        f"{describe_rc(rc(response)) if len(response) >= 10 else 'a short response'}: {response.hex()}")


def parameters(response: bytes) -> bytes:
    """The response parameters of a success (after parameterSize for tag 0x8002)."""
    tag, size, code = struct.unpack_from(">HII", response)
    assert code == 0 and size == len(response), response.hex()
    if tag == NO_SESSIONS:
        return response[10:]
    (param_size,) = struct.unpack_from(">I", response, 10)
    return response[14:14 + param_size]


def read_pcrs(response: bytes) -> tuple[int, list[tuple[int, int, int]], list[bytes]]:
    """TPM2_PCR_Read response: (pcrUpdateCounter, [(alg, sizeofSelect, bitmap)], digests)."""
    body = parameters(response)
    counter, count = struct.unpack_from(">II", body)
    pos, selection = 8, []
    for _ in range(count):
        alg, size = struct.unpack_from(">HB", body, pos)
        selection.append((alg, size, int.from_bytes(body[pos + 3:pos + 3 + size], "little")))
        pos += 3 + size
    (ndigests,) = struct.unpack_from(">I", body, pos)
    pos += 4
    digests = []
    for _ in range(ndigests):
        (n,) = struct.unpack_from(">H", body, pos)
        digests.append(body[pos + 2:pos + 2 + n])
        pos += 2 + n
    assert pos == len(body), "trailing bytes in PCR_Read response"
    return counter, selection, digests


def pcr_value(tpm, bank: str, pcr: int) -> bytes:
    """One PCR through TPM2_PCR_Read at locality 0."""
    _, _, digests = read_pcrs(tpm.execute(pcr_read([(bank, [pcr])])))
    assert len(digests) == 1, f"{bank}:{pcr} not readable"
    return digests[0]


def update_counter(tpm) -> int:
    return read_pcrs(tpm.execute(pcr_read([])))[0]


def extended(value: bytes, digest: bytes, bank: str) -> bytes:
    """H_bank(value || digest): the extend of Part 1, computed here with hashlib."""
    return hashlib.new(bank, value + digest).digest()
