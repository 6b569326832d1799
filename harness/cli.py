"""``vtpm-harness``: the command line (DESIGN.md, "Command line").

Exit codes: 0 no finding, 1 findings, 2 usage or environment error with a
one-line reason on stderr (never a traceback).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

from harness.errors import UsageError

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors in one line with exit code 2."""

    def error(self, message: str):
        raise UsageError(message)


def _add_run(sub) -> None:
    p = sub.add_parser("run", help="run the suites against a target and write an evidence bundle")
    p.add_argument("--target", default="emulator", metavar="SPEC")
    p.add_argument("--profile", default="ci", choices=["ci", "certify", "hunt"])
    p.add_argument("--evidence", default="evidence", metavar="DIR")
    p.add_argument("--swtpm-binary", default=None, metavar="PATH")
    p.add_argument("--qemu-binary", default=None, metavar="PATH",
                   help="qemu-system-x86_64 for --target tis+qtest (default: $QEMU, then PATH)")
    p.add_argument("--seed", type=int, default=None,
                   help="Hypothesis seed (random and recorded in evidence unless the profile is ci)")
    p.add_argument("-k", dest="select", default=None, metavar="EXPR", help="only suites matching EXPR")
    p.add_argument("--signing-key", default=None, metavar="PEM",
                   help="Ed25519 private key (PKCS8 PEM) that signs the bundle's manifest; default a "
                        "fresh key per run, printed so a lab can pin it")
    p.add_argument("--example-db", default=None, metavar="PATH|redis://HOST:PORT",
                   help="failure corpus shared by runs (not with the ci profile, which is derandomized)")
    p.add_argument("--screenshot", action="store_true", help="add evidence.png to the bundle (needs chromium)")
    p.set_defaults(func=cmd_run)


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be positive")
    return value


def _add_hunt(sub) -> None:
    p = sub.add_parser("hunt", help="run the machines for a time budget; stop at the first finding")
    p.add_argument("--target", required=True, metavar="SPEC")
    p.add_argument("--budget", required=True, type=_positive, metavar="SECONDS")
    p.add_argument("--workers", type=int, default=1, metavar="N")
    p.add_argument("--evidence", default="evidence-hunt", metavar="DIR")
    p.add_argument("--example-db", default=None, metavar="PATH|redis://HOST:PORT",
                   help="failure corpus shared by workers and machines (default: Hypothesis's local directory)")
    p.add_argument("--swtpm-binary", default=None, metavar="PATH")
    p.set_defaults(func=cmd_hunt)


def _add_replay(sub) -> None:
    p = sub.add_parser("replay", help="re-execute a trace against a target: does the divergence appear?")
    p.add_argument("trace", metavar="TRACE")
    p.add_argument("--target", required=True, metavar="SPEC")
    p.add_argument("--swtpm-binary", default=None, metavar="PATH")
    p.set_defaults(func=cmd_replay)


def _add_mutants(sub) -> None:
    p = sub.add_parser("mutants", help="list the emulator's planted bugs (for the mutation self-check)")
    p.set_defaults(func=cmd_mutants)


def cmd_run(args) -> int:
    import pytest

    import suites
    from harness.targets.factory import parse_target

    _probe(parse_target(args.target, args.swtpm_binary, args.qemu_binary))  # a bad spec or dead endpoint: one line here
    if args.signing_key:
        from reports.manifest import load_private_key

        load_private_key(args.signing_key)  # so does an unreadable key
    evidence = Path(args.evidence)
    argv = [str(Path(suites.__file__).parent), "-p", "harness.pytest_plugin",
            "-o", "python_files=*_suite.py", "-p", "no:cacheprovider", "-q",
            "--target", args.target, "--hypothesis-profile", args.profile,
            "--evidence", str(evidence), f"--junitxml={evidence / 'junit.xml'}"]
    if args.swtpm_binary:
        argv += ["--swtpm-binary", args.swtpm_binary]
    if args.qemu_binary:
        argv += ["--qemu-binary", args.qemu_binary]
    if args.signing_key:
        argv += ["--signing-key", args.signing_key]
    seed = args.seed if args.seed is not None else (None if args.profile == "ci" else random.getrandbits(32))
    if seed is not None:
        argv.append(f"--hypothesis-seed={seed}")
    if args.example_db:
        from harness.example_db import load_profile_with_database

        load_profile_with_database(args.profile, args.example_db)  # bad spec, dead Redis, ci: one line
        argv += ["--example-db", args.example_db]
    if args.screenshot:
        from reports.screenshot import find_chromium

        if find_chromium() is None:
            raise UsageError("--screenshot needs chromium (Debian package chromium) or $CHROMIUM")
        argv.append("--screenshot")
    if args.select:
        argv += ["-k", args.select]
    code = pytest.main(argv)
    return _verdict(code, evidence)


def _probe(factory) -> None:
    """Make and close one target, so an unreachable one fails before pytest starts."""
    from harness.errors import TargetError

    try:
        factory.create().close()
    except TargetError as exc:
        raise UsageError(f"target {factory.spec}: {exc}") from None


def _verdict(pytest_code: int, evidence: Path) -> int:
    """Turn pytest's exit code and the written evidence into the harness's exit code."""
    try:
        data = json.loads((evidence / "evidence.json").read_text())
    except (OSError, ValueError) as exc:
        raise UsageError(f"the run wrote no readable evidence ({exc}); pytest exit code {pytest_code}")
    verdicts = [r["verdict"] for r in data["requirements"].values()]
    print(f"vtpm-harness: {verdicts.count('passed')} requirements passed, {verdicts.count('failed')} failed, "
          f"{verdicts.count('not-applicable')} not applicable; {len(data['findings'])} findings; "
          f"evidence in {evidence}")
    for finding in data["findings"]:
        print(f"  [{finding['requirement']}] {finding['summary']}  (trace: {evidence / finding['trace']})")
    signer = _signer(evidence)
    if signer:
        print(f"vtpm-harness: bundle signed by ed25519 public key {signer} "
              f"(check: vtpm-harness verify-evidence {evidence})")
    if data["findings"]:
        return EXIT_FINDINGS
    if data["errors"] or pytest_code not in (0, 1):
        first = data["errors"][0]["error"] if data["errors"] else f"pytest exit code {pytest_code}"
        raise UsageError(f"harness error, not a finding: {first}")
    return EXIT_OK


def cmd_hunt(args) -> int:
    from harness.hunt import hunt, hunted_requirements
    from harness.targets.factory import parse_target
    from reports.atomic import write_atomic
    from reports.evidence import Evidence, TestRecord, environment
    from reports.plugin import EVIDENCE_FILE, target_identity

    if args.workers < 1:
        raise UsageError("--workers must be at least 1")
    factory = parse_target(args.target, args.swtpm_binary)
    if args.example_db:
        from harness.example_db import example_database

        example_database(args.example_db)  # a bad spec or a dead Redis fails before any worker starts
    evidence_dir = Path(args.evidence)
    requirements = hunted_requirements(args.target)
    doc = Evidence(target={"spec": factory.spec, "profile": factory.profile, "banks": list(factory.banks),
                           "identity": target_identity(factory)},
                   run={"profile": "hunt", "budget": args.budget, "workers": args.workers,
                        "argv": sys.argv[1:], **environment()})
    finding, totals, elapsed = hunt(args.target, args.budget, args.workers, args.swtpm_binary, args.example_db)
    doc.run["elapsed"] = round(elapsed, 3)
    doc.tests.append(TestRecord("hunt", requirements, "failed" if finding else "passed", *totals,
                                duration=elapsed))
    if finding:
        trace_name = f"traces/001-hunt-{finding['machine']}-{finding['requirement']}.json"
        write_atomic(evidence_dir / trace_name, finding["trace"])
        doc.findings.append({"requirement": finding["requirement"], "test": f"hunt::{finding['machine']}",
                             "summary": finding["summary"], "steps": finding["steps"], "trace": trace_name})
    write_atomic(evidence_dir / EVIDENCE_FILE, doc.dumps())
    examples, steps, operations = totals
    if not finding:
        print(f"vtpm-harness hunt: no finding in {elapsed:.0f}s: {examples} examples, {steps} steps, "
              f"{operations} checked TPM operations ({operations / max(elapsed, 1e-9):.0f}/s); "
              f"evidence in {evidence_dir}")
        return EXIT_OK
    print(f"vtpm-harness hunt: finding after {elapsed:.1f}s in {finding['machine']}: "
          f"[{finding['requirement']}] {finding['summary']}")
    print("steps (the last is the one that failed):")
    print("\n".join(finding["steps"]))
    print(f"trace: {evidence_dir / trace_name}  (replay: vtpm-harness replay {evidence_dir / trace_name} "
          f"--target SPEC)")
    return EXIT_FINDINGS


def cmd_replay(args) -> int:
    from harness.replay import load_trace, replay
    from harness.targets.factory import parse_target

    trace = load_trace(args.trace)
    factory = parse_target(args.target, args.swtpm_binary)
    violation = replay(trace, factory)
    n = len(trace["steps"])
    if violation is None:
        print(f"not reproduced: all {n} steps agree with the model on {args.target}")
        return EXIT_OK
    recorded = trace.get("requirement")
    note = "" if recorded in (None, violation.requirement) else f" (the trace recorded {recorded})"
    print(f"reproduced on {args.target}: [{violation.requirement}] {violation.summary}{note}")
    print("\n".join(violation.steps))
    return EXIT_FINDINGS


def _signer(evidence: Path) -> str | None:
    try:
        return json.loads((evidence / "manifest.json").read_text())["signer"]["public_key"]
    except (OSError, ValueError, KeyError):
        return None


def cmd_mutants(args) -> int:
    from harness.emulator import MUTANTS

    for name, mutant in sorted(MUTANTS.items()):
        print(f"{name:36s} {mutant.requirement:16s} {mutant.description}")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="vtpm-harness", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    _add_run(sub)
    _add_hunt(sub)
    _add_replay(sub)
    _add_mutants(sub)
    from harness import ima_cli, serve
    from reports.commands import add_parsers

    ima_cli.add_parser(sub)
    serve.add_parser(sub)
    add_parsers(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        return args.func(args)
    except UsageError as exc:
        print(f"vtpm-harness: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("vtpm-harness: interrupted", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
