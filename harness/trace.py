"""Traces: every step a machine took, as a reproducer can replay it.

A step is recorded on the hot path as a bare tuple (cheap); it is turned into
readable lines and JSON only when a failure is reported.
"""

from __future__ import annotations

import dataclasses
import json
import typing
from typing import Iterable

from models import ops
from models.tcg import TPM_ALG, TPM_CAP, TPM_SU, describe_rc

# (instance, op, command bytes or None for platform ops, response bytes or None)
Step = tuple[str, object, bytes | None, bytes | None]

TRACE_FORMAT = "vtpm-harness-trace/1"

_OPS_BY_NAME = {
    cls.__name__: cls
    for cls in (ops.Startup, ops.Shutdown, ops.PcrExtend, ops.PcrEvent, ops.PcrReset, ops.PcrRead,
                ops.GetRandom, ops.GetCapability, ops.Raw, ops.PowerCycle, ops.Crash, ops.Drtm)
}
_OPS_BY_NAME.update((cls.__name__, cls) for cls in (ops.AttachDisk, ops.DetachDisk, ops.MirrorPcrs))
_OPS_BY_NAME.update({cls.__name__: cls for cls in typing.get_args(ops.NvCommand)})
_OPS_BY_NAME.update({cls.__name__: cls for cls in typing.get_args(ops.PolicyCommand)})
_OPS_BY_NAME.update({cls.__name__: cls for cls in typing.get_args(ops.SequenceCommand)})


def _name(enum, value: int, prefix: str = "") -> str:
    """The TCG name of ``value`` in ``enum`` (without ``prefix``), or its hex when unknown."""
    try:
        return enum(value).name.removeprefix(prefix)
    except ValueError:
        return f"{value:#x}"


def _alg(alg: int) -> str:
    return _name(TPM_ALG, alg, "TPM_ALG_").lower()


def describe_op(op) -> str:
    """One readable line in TPM terms: ``TPM2_PCR_Extend(PCR 16, sha1+sha256) at locality 2``."""
    loc = getattr(op, "locality", None)
    at = f" at locality {loc}" if loc is not None else ""
    match op:
        case ops.Startup(su=su) | ops.Shutdown(su=su):
            return f"TPM2_{type(op).__name__}({_name(TPM_SU, su)}){at}"
        case ops.PcrExtend(pcr=pcr, digests=digests):
            banks = "+".join(_alg(a) for a, _ in digests)
            return f"TPM2_PCR_Extend({_pcr(pcr)}, {banks}: {' '.join(d.hex()[:12] for _, d in digests)}){at}"
        case ops.PcrEvent(pcr=pcr, data=data):
            return f"TPM2_PCR_Event({_pcr(pcr)}, {len(data)} bytes){at}"
        case ops.PcrReset(pcr=pcr):
            return f"TPM2_PCR_Reset({_pcr(pcr)}){at}"
        case ops.PcrRead(selection=sel):
            return f"TPM2_PCR_Read({'; '.join(f'{_alg(a)}:{_ranges(p)}' for a, p in sel)}){at}"
        case ops.GetRandom(size=n):
            return f"TPM2_GetRandom({n}){at}"
        case ops.GetCapability(capability=cap, prop=prop, count=count):
            return f"TPM2_GetCapability({_name(TPM_CAP, cap)}, {prop:#x}, {count}){at}"
        case ops.Raw(data=data, kind=kind):
            return f"malformed command [{kind}] {data[:16].hex()}{'...' if len(data) > 16 else ''}{at}"
        case ops.PowerCycle(orderly=orderly):
            return f"power cycle ({'orderly' if orderly else 'power cut'}), _TPM_Init"
        case ops.Crash():
            return "crash: TPM process killed and restarted"
        case ops.Drtm(data=data):
            return f"_TPM_Hash_Start/Data({len(data)} bytes)/End at locality 4"
        case ops.AttachDisk():
            return "vTPM manager attaches the disk (NV) while the vTPM runs"
        case ops.DetachDisk():
            return "the vTPM's disk is lost while it runs"
        case ops.StartAuthSession(session_type=kind, auth_hash=alg, nonce_caller=nonce):
            kinds = {0: "HMAC", 1: "policy", 3: "trial"}
            return (f"TPM2_StartAuthSession({kinds.get(kind, hex(kind))}, {_alg(alg)}, "
                    f"{len(nonce)}-byte nonceCaller){at}")
        case ops.PolicyPCR(session=handle, selection=sel, pcr_digest=digest):
            pcrs = "; ".join(f"{_alg(a)}:{_ranges(p)}" for a, p in sel)
            given = f", pcrDigest {digest.hex()[:12]}" if digest else ""
            return f"TPM2_PolicyPCR({handle:#010x}, {pcrs}{given}){at}"
        case ops.PolicyLocality(session=handle, localities=mask):
            return f"TPM2_PolicyLocality({handle:#010x}, localities {mask:#04x}){at}"
        case ops.PolicyGetDigest(session=handle) | ops.PolicyRestart(session=handle):
            return f"TPM2_{type(op).__name__}({handle:#010x}){at}"
        case ops.FlushContext(handle=handle):
            return f"TPM2_FlushContext({handle:#010x}){at}"
        case ops.NvPolicyRead(index=index, size=size, session=handle, continue_session=keep):
            return (f"TPM2_NV_Read({index:#010x}, {size} bytes) with policy session {handle:#010x}"
                    f"{'' if keep else ', continueSession clear'}{at}")
        case ops.NvPolicyWrite(index=index, data=data, offset=offset, session=handle, continue_session=keep):
            return (f"TPM2_NV_Write({index:#010x}, {len(data)} bytes at {offset}) with policy session "
                    f"{handle:#010x}{'' if keep else ', continueSession clear'}{at}")
        case ops.HashSequenceStart(hash_alg=alg):
            kind = "event sequence" if alg == TPM_ALG.TPM_ALG_NULL else _alg(alg)
            return f"TPM2_HashSequenceStart({kind}){at}"
        case ops.SequenceUpdate(handle=handle, data=data):
            return f"TPM2_SequenceUpdate({handle:#x}, {len(data)} bytes){at}"
        case ops.SequenceComplete(handle=handle, data=data, hierarchy=hierarchy):
            return f"TPM2_SequenceComplete({handle:#x}, {len(data)} bytes, {hierarchy:#x}){at}"
        case ops.EventSequenceComplete(pcr=pcr, handle=handle, data=data):
            return f"TPM2_EventSequenceComplete({_pcr(pcr)}, {handle:#x}, {len(data)} bytes){at}"
        case ops.MirrorPcrs(values=values):
            copied = "; ".join(f"{_alg(a)}:{_ranges(tuple(p for p, _ in pcrs))}" for a, pcrs in values)
            return f"vTPM starts with hardware PCRs mirrored ({copied}) from its next Startup(CLEAR)"
    return repr(op)


def _pcr(pcr: int) -> str:
    return "TPM_RH_NULL" if pcr == 0x40000007 else f"PCR {pcr}"


def _ranges(pcrs: Iterable[int]) -> str:
    return ",".join(str(p) for p in pcrs)


def response_code(response: bytes | None) -> str:
    if response is None or len(response) < 10:
        return "no response" if response is None else f"{len(response)}-byte response"
    return describe_rc(int.from_bytes(response[6:10], "big"))


def readable(steps: Iterable[Step]) -> list[str]:
    """Numbered lines a person can follow: which TPM, which locality, what came back."""
    lines = []
    for n, (instance, op, _cmd, rsp) in enumerate(steps, 1):
        who = f"[{instance}] " if instance else ""
        result = f" -> {response_code(rsp)}" if _cmd is not None else ""
        lines.append(f"{n:3d}. {who}{describe_op(op)}{result}")
    return lines


# --- JSON -------------------------------------------------------------------------


def _encode(value):
    if isinstance(value, bytes):
        return {"hex": value.hex()}
    if isinstance(value, tuple):
        return [_encode(v) for v in value]
    return value


def _decode(value):
    if isinstance(value, dict) and set(value) == {"hex"}:
        return bytes.fromhex(value["hex"])
    if isinstance(value, list):
        return tuple(_decode(v) for v in value)
    return value


def op_to_json(op) -> dict:
    return {"op": type(op).__name__,
            **{f.name: _encode(getattr(op, f.name)) for f in dataclasses.fields(op)}}


def op_from_json(data: dict):
    fields = dict(data)
    try:
        cls = _OPS_BY_NAME[fields.pop("op")]
        return cls(**{k: _decode(v) for k, v in fields.items()})
    except (KeyError, TypeError) as exc:
        raise ValueError(f"not an operation: {data!r} ({exc})") from None


def to_json(steps: Iterable[Step], *, target: str, requirement: str | None = None,
            summary: str = "") -> str:
    records = []
    for instance, op, cmd, rsp in steps:
        record = {"instance": instance, "step": describe_op(op), **op_to_json(op)}
        if cmd is not None:
            record["command"] = cmd.hex()
            record["response"] = rsp.hex() if rsp is not None else None
            record["rc"] = response_code(rsp)
        records.append(record)
    return json.dumps({"format": TRACE_FORMAT, "target": target, "requirement": requirement,
                       "summary": summary, "steps": records}, indent=1)


def from_json(text: str) -> dict:
    """Parse a trace file; steps come back as (instance, op, command, response)."""
    data = json.loads(text)
    if data.get("format") != TRACE_FORMAT:
        raise ValueError(f"not a {TRACE_FORMAT} trace")
    steps = []
    for rec in data["steps"]:
        op_fields = {k: v for k, v in rec.items()
                     if k not in ("instance", "step", "command", "response", "rc")}
        cmd = bytes.fromhex(rec["command"]) if rec.get("command") is not None else None
        rsp = bytes.fromhex(rec["response"]) if rec.get("response") is not None else None
        steps.append((rec.get("instance", ""), op_from_json(op_fields), cmd, rsp))
    data["steps"] = steps
    return data
