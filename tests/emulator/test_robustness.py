"""Any bytes at any locality: never an exception, always a well-formed response.

A response is well formed (RESP-WELLFORMED) when its size field is its
length and either it is the 10-byte error ``8001 0000000a <rc>`` or a success
whose tag-0x8002 form carries parameterSize and whole response sessions.
"""

from __future__ import annotations

import struct

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.emulator import Emulator

from .frames import (
    BANKS,
    CC,
    NO_SESSIONS,
    SESSIONS,
    SIZE,
    auth_area,
    frame,
    get_capability,
    get_random,
    pcr_event,
    pcr_extend,
    pcr_read,
    pcr_reset,
    rc_only,
    session,
    shutdown,
    startup,
)

localities = st.integers(0, 4)


def assert_well_formed(response: bytes) -> None:
    assert len(response) >= 10, response.hex()
    tag, size, code = struct.unpack_from(">HII", response)
    assert size == len(response), response.hex()
    if code != 0:
        assert response == rc_only(code), response.hex()
        return
    assert tag in (NO_SESSIONS, SESSIONS), response.hex()
    if tag == SESSIONS:
        (param_size,) = struct.unpack_from(">I", response, 10)
        pos, sessions = 14 + param_size, 0
        assert pos < len(response), "a tag-0x8002 response without sessions"
        while pos < len(response):  # TPMS_AUTH_RESPONSE: nonce, attributes, hmac
            (nonce,) = struct.unpack_from(">H", response, pos)
            pos += 2 + nonce + 1
            (hmac,) = struct.unpack_from(">H", response, pos)
            pos += 2 + hmac
            sessions += 1
        assert pos == len(response) and sessions <= 3, response.hex()


pcrs = st.one_of(st.integers(0, 26), st.sampled_from([0x40000007, 0x40000001, 0xFFFFFFFF]))


@st.composite
def valid_commands(draw) -> bytes:
    """A well-formed command of every implemented kind, with drawn parameters."""
    kind = draw(st.sampled_from(
        ["startup", "shutdown", "extend", "event", "reset", "read", "random", "capability"]))
    if kind in ("startup", "shutdown"):
        su = draw(st.integers(0, 2))
        return startup(su) if kind == "startup" else shutdown(su)
    if kind == "extend":
        banks = draw(st.lists(st.sampled_from(BANKS), max_size=5))
        return pcr_extend(draw(pcrs), [(b, draw(st.binary(min_size=SIZE[b], max_size=SIZE[b])))
                                       for b in banks])
    if kind == "event":
        return pcr_event(draw(pcrs), draw(st.binary(max_size=40)))
    if kind == "reset":
        return pcr_reset(draw(pcrs))
    if kind == "read":
        return pcr_read(draw(st.lists(
            st.tuples(st.sampled_from(BANKS), st.lists(st.integers(0, 23))), max_size=5)))
    if kind == "random":
        return get_random(draw(st.integers(0, 0xFFFF)))
    return get_capability(draw(st.sampled_from([0, 1, 5, 6, 7, 9])),
                          draw(st.integers(0, 0x300)), draw(st.integers(0, 200)))


@st.composite
def mutated_commands(draw) -> bytes:
    """A valid command with bytes replaced, cut, inserted or appended; size field
    usually kept consistent so the damage reaches past the header checks."""
    command = bytearray(draw(valid_commands()))
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["replace", "cut", "insert", "append"]))
        where = draw(st.integers(0, max(len(command) - 1, 0)))
        if op == "replace" and command:
            command[where] = draw(st.integers(0, 255))
        elif op == "cut":
            del command[where:where + draw(st.integers(1, 8))]
        elif op == "insert":
            command[where:where] = draw(st.binary(min_size=1, max_size=8))
        else:
            command += draw(st.binary(min_size=1, max_size=8))
    if len(command) >= 6 and draw(st.booleans()):
        struct.pack_into(">I", command, 2, len(command))
    return bytes(command)


def started() -> Emulator:
    tpm = Emulator()
    tpm.execute(startup())
    return tpm


@given(st.binary(max_size=300), localities, st.booleans())
def test_arbitrary_bytes_get_a_well_formed_response(data, locality, is_started):
    tpm = started() if is_started else Emulator()
    assert_well_formed(tpm.execute(data, locality))


@given(st.sampled_from(sorted(CC.values())), st.sampled_from([NO_SESSIONS, SESSIONS]),
       st.binary(max_size=120), localities)
def test_arbitrary_bodies_behind_a_valid_header_get_a_well_formed_response(code, tag, body, locality):
    assert_well_formed(started().execute(frame(tag, code, body), locality))


@given(mutated_commands(), localities)
def test_mutated_commands_get_a_well_formed_response(command, locality):
    assert_well_formed(started().execute(command, locality))


@given(valid_commands(), localities)
def test_valid_commands_get_a_well_formed_response(command, locality):
    assert_well_formed(started().execute(command, locality))


@given(st.binary(max_size=60), localities)
def test_arbitrary_authorization_areas_get_a_well_formed_response(area, locality):
    body = struct.pack(">I", 16) + struct.pack(">I", len(area)) + area + bytes(4)
    assert_well_formed(started().execute(frame(SESSIONS, CC["PCR_Extend"], body), locality))


operations = st.one_of(
    st.tuples(st.just("command"), st.one_of(valid_commands(), mutated_commands()), localities),
    st.tuples(st.just("power_on")),
    st.tuples(st.just("drtm"), st.binary(max_size=16)),
)


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(operations, max_size=40))
def test_sequences_with_power_cycles_and_drtm_never_raise(ops):
    tpm = Emulator()
    for op in ops:
        if op[0] == "command":
            assert_well_formed(tpm.execute(op[1], op[2]))
        elif op[0] == "power_on":
            tpm.power_on()
        else:
            tpm.drtm(op[1])


def test_sessions_area_of_a_success_is_checked_by_the_well_formedness_check():
    response = started().execute(pcr_extend(16, [("sha1", bytes(20))], auth_area(session())))
    assert_well_formed(response)
    broken = response[:-1]
    broken = broken[:2] + struct.pack(">I", len(broken)) + broken[6:]
    try:
        assert_well_formed(broken)
    except (AssertionError, struct.error):
        return
    raise AssertionError("a truncated session area passed the check")
