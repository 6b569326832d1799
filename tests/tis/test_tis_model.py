"""models/tis against the PTP arbitration rules, written out by hand from the spec text."""

from __future__ import annotations

from models.tis import TisModel
from models.tis.model import (ACTIVE, BEEN_SEIZED, COMMAND_READY, DATA_AVAIL, ESTABLISHMENT, EXPECT, PENDING,
                              REQUEST_USE, STS_VALID, VALID)

IDLE = VALID | ESTABLISHMENT


def test_request_is_granted_at_once_when_no_locality_is_active_else_pending():
    tis = TisModel()
    tis.request_use(1)
    tis.request_use(0)
    assert tis.access(1) == IDLE | ACTIVE | PENDING
    assert tis.access(0) == IDLE | REQUEST_USE
    assert tis.access(3) == IDLE | PENDING


def test_relinquish_grants_the_highest_pending_locality():
    tis = TisModel()
    tis.request_use(0)
    tis.request_use(1)
    tis.request_use(3)
    tis.relinquish(0)
    assert tis.active == 3 and tis.access(1) == IDLE | REQUEST_USE


def test_seize_only_from_a_higher_locality_and_sets_been_seized():
    tis = TisModel()
    tis.request_use(2)
    tis.seize(1)
    assert tis.active == 2
    tis.seize(3)
    assert tis.active == 3 and tis.access(2) == IDLE | BEEN_SEIZED
    tis.clear_seized(2)
    assert tis.access(2) == IDLE


def test_fifo_expect_until_command_size_then_data_avail_until_read():
    tis = TisModel()
    tis.request_use(0)
    tis.command_ready(0)
    assert tis.sts(0)[0] == COMMAND_READY
    command = bytes.fromhex("80010000000c00000144") + b"\x00\x00"
    tis.write_fifo(0, command[:11], command[:11])
    assert tis.sts(0) == (STS_VALID | EXPECT, 0xD8)
    tis.write_fifo(0, command[11:], command)
    assert tis.sts(0)[0] == STS_VALID
    tis.go(0)
    tis.completed(10)
    tis.read_fifo(9)
    assert tis.sts(0)[0] == STS_VALID | DATA_AVAIL
    tis.read_fifo(1)
    assert tis.sts(0)[0] == STS_VALID


def test_a_locality_change_abandons_the_fifo():
    tis = TisModel()
    tis.request_use(0)
    tis.command_ready(0)
    tis.write_fifo(0, b"\x80", b"\x80")
    tis.request_use(1)
    tis.relinquish(0)
    assert tis.active == 1 and tis.sts(1) is None  # nothing predicted before commandReady
    tis.command_ready(1)
    assert tis.sts(1)[0] == COMMAND_READY and tis.received == 0
