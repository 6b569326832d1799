"""``vtpm-harness ima verify``: check a measurement list against PCR values.

    vtpm-harness ima verify LOG [--ascii] --pcr ALG:10=HEX ... [--template T] [--json]

Exit codes: 0 verified; 1 not verified (the reason, and the first bad entry
when one entry by itself proves the list edited); 2 bad input, one line on
stderr (unreadable file, bad ``--pcr``, malformed list).  The ``--pcr``
values must come from one read of the TPM (a quote, or one TPM2_PCR_Read of
all banks): all banks must match the same prefix of the list.
"""

from __future__ import annotations

import argparse
import gc
import json
import re
import sys
from pathlib import Path

from models.ima import (
    BANK_DIGEST_SIZE,
    EXTEND_MODELS,
    TEMPLATE_FIELDS,
    ImaLogError,
    Verdict,
    bank_name,
    parse_ascii,
    parse_binary,
    split_fields,
    verify,
    verify_binary,
)

EXIT_VERIFIED, EXIT_NOT_VERIFIED, EXIT_BAD_INPUT = 0, 1, 2
_PCR_ARG = re.compile(r"([A-Za-z0-9_]+):([0-9]+)=([0-9A-Fa-f]*)")


class BadInput(Exception):
    """What the user gave cannot be checked: exit 2 with this one line."""


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register ``ima verify`` under ``subparsers``; the ``ima`` parser's ``func`` is :func:`run`."""
    ima = subparsers.add_parser("ima", help="IMA measurement lists")
    commands = ima.add_subparsers(dest="ima_command", required=True, parser_class=type(ima))
    p = commands.add_parser("verify", help="verify a measurement list against PCR values",
                            description="Exit codes: 0 verified, 1 not verified, 2 bad input.")
    p.add_argument("log", metavar="LOG", help="binary_runtime_measurements (or the ASCII list with --ascii)")
    p.add_argument("--ascii", action="store_true", help="LOG is an ascii_runtime_measurements list")
    p.add_argument("--pcr", action="append", default=[], metavar="ALG:10=HEX",
                   help="the PCR value of one bank, e.g. sha256:10=ab12...; repeat per bank")
    p.add_argument("--template", metavar="T", help="require every entry to use template T (e.g. ima-sig)")
    p.add_argument("--json", action="store_true", help="print the verdict as one JSON object")
    p.add_argument("--big-endian", action="store_true",
                   help="the list's u32 fields are big-endian (a big-endian kernel without ima_canonical_fmt)")
    p.add_argument("--model", choices=EXTEND_MODELS,
                   help="what the kernel extended into non-SHA-1 banks (default: try both per bank)")
    p.add_argument("--list-bank", default="sha1", metavar="ALG",
                   help="LOG is the per-bank list of ALG (Linux 6.10+ *_runtime_measurements_ALG)")
    ima.set_defaults(func=run)
    return ima


def _pcr_values(specs: list[str]) -> tuple[int, dict[str, bytes]]:
    if not specs:
        raise BadInput("give the PCR values to verify against: --pcr ALG:10=HEX (one per bank)")
    values, pcrs = {}, set()
    for spec in specs:
        match = _PCR_ARG.fullmatch(spec)
        if not match:
            raise BadInput(f"--pcr {spec!r}: expected ALG:PCR=HEX, e.g. sha256:10=<64 hex digits>")
        alg, index, hex_value = match.groups()
        try:
            bank = bank_name(alg.lower())
        except ValueError as exc:
            raise BadInput(f"--pcr {spec!r}: {exc}") from None
        if len(hex_value) != 2 * BANK_DIGEST_SIZE[bank]:
            raise BadInput(f"--pcr {spec!r}: a {bank} value has {2 * BANK_DIGEST_SIZE[bank]} hex digits, "
                           f"not {len(hex_value)}")
        if bank in values:
            raise BadInput(f"--pcr {spec!r}: the {bank} bank is given twice")
        values[bank] = bytes.fromhex(hex_value)
        pcrs.add(int(index))
    if len(pcrs) != 1:
        raise BadInput(f"--pcr values name PCRs {sorted(pcrs)}: give one PCR, in every bank")
    (pcr,) = pcrs
    return pcr, values


def _entry_path(entry, byteorder: str) -> str:
    kinds = TEMPLATE_FIELDS.get(entry.template_name)
    if kinds is None:
        return f"(template {entry.template_name})"
    name = split_fields(entry.template_name, entry.template_data, byteorder)[1]
    return name.rstrip(b"\0").decode("utf-8", "backslashreplace")


def _load(args) -> tuple[bytes, str, int, dict[str, bytes]]:
    """The list's bytes, its bank, and the PCR and values to verify it against."""
    pcr, values = _pcr_values(args.pcr)
    try:
        list_bank = bank_name(args.list_bank.lower())
    except ValueError as exc:
        raise BadInput(f"--list-bank: {exc}") from None
    try:
        data = Path(args.log).read_bytes()
    except OSError as exc:
        raise BadInput(f"cannot read {args.log}: {exc.strerror or exc}") from None
    return data, list_bank, pcr, values


def _byteorder(args) -> str:
    return "big" if args.big_endian else "little"


def _malformed(args, exc: ImaLogError) -> BadInput:
    kind = "an ASCII" if args.ascii else "a binary"
    return BadInput(f"{args.log} is not {kind} measurement list: {exc}")


def _parse(args, data: bytes, list_bank: str) -> list:
    parse = parse_ascii if args.ascii else parse_binary
    try:
        return parse(data, byteorder=_byteorder(args), bank=list_bank)
    except ImaLogError as exc:
        raise _malformed(args, exc) from None


def _verdict(args, data: bytes, list_bank: str, pcr: int, values: dict[str, bytes]) -> tuple[Verdict, list | None]:
    """The verdict, and the parsed entries when it took them (a binary list is verified in one
    pass over its bytes, without them, unless ``--template`` asks about every entry)."""
    if args.ascii or args.template:
        entries = _parse(args, data, list_bank)
        for index, entry in enumerate(entries if args.template else ()):
            if entry.template_name != args.template:
                return Verdict(False, f"entry {index} uses template {entry.template_name}, not {args.template}",
                               bad_entry=index), entries
        return verify(entries, values, model=args.model, pcr=pcr, log_bank=list_bank), entries
    try:
        return verify_binary(data, values, byteorder=_byteorder(args), model=args.model, pcr=pcr,
                             log_bank=list_bank), None
    except ImaLogError as exc:
        raise _malformed(args, exc) from None


def run(args) -> int:
    """Execute ``ima verify``; returns the exit code."""
    # A list of 100,000s of entries holds no reference cycles: the cyclic collector would
    # only rescan it while it is built (about 15% of the parse time).
    collecting = gc.isenabled()
    gc.disable()
    try:
        data, list_bank, pcr, values = _load(args)
        verdict, entries = _verdict(args, data, list_bank, pcr, values)
        if entries is None and not verdict.ok:
            entries = _parse(args, data, list_bank)  # a well-formed list: for the count and the bad entry
    except BadInput as exc:
        print(f"vtpm-harness: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    finally:
        if collecting:
            gc.enable()
    count = verdict.matched_prefix + verdict.trailing if entries is None else len(entries)
    bad = None
    if verdict.bad_entry is not None:
        bad = {"index": verdict.bad_entry, "path": _entry_path(entries[verdict.bad_entry], _byteorder(args))}
    if args.json:
        print(json.dumps({"verified": verdict.ok, "reason": verdict.reason, "entries": count,
                          "matched_prefix": verdict.matched_prefix, "trailing": verdict.trailing,
                          "models": verdict.models, "bad_entry": bad}))
    elif verdict.ok:
        print(f"verified: {verdict.reason}")
    else:
        print(f"not verified: {verdict.reason}")
        if bad:
            print(f"first bad entry: {bad['index']} {bad['path']}")
    return EXIT_VERIFIED if verdict.ok else EXIT_NOT_VERIFIED


class _OneLineParser(argparse.ArgumentParser):
    def error(self, message: str):
        raise BadInput(message)


def main(argv: list[str] | None = None) -> int:
    """``python -m harness.ima_cli ima verify ...`` until the main CLI registers the command."""
    parser = _OneLineParser(prog="vtpm-harness")
    add_parser(parser.add_subparsers(dest="command", required=True, parser_class=_OneLineParser))
    try:
        args = parser.parse_args(argv)
    except BadInput as exc:
        print(f"vtpm-harness: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
