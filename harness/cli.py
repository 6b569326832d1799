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
    p.add_argument("--seed", type=int, default=None,
                   help="Hypothesis seed (random and recorded in evidence unless the profile is ci)")
    p.add_argument("-k", dest="select", default=None, metavar="EXPR", help="only suites matching EXPR")
    p.set_defaults(func=cmd_run)


def _add_mutants(sub) -> None:
    p = sub.add_parser("mutants", help="list the emulator's planted bugs (for the mutation self-check)")
    p.set_defaults(func=cmd_mutants)


def cmd_run(args) -> int:
    import pytest

    import suites
    from harness.targets.factory import parse_target

    parse_target(args.target, args.swtpm_binary)  # a bad spec fails here, in one line
    evidence = Path(args.evidence)
    argv = [str(Path(suites.__file__).parent), "-p", "harness.pytest_plugin",
            "-o", "python_files=*_suite.py", "-p", "no:cacheprovider", "-q",
            "--target", args.target, "--hypothesis-profile", args.profile,
            "--evidence", str(evidence), f"--junitxml={evidence / 'junit.xml'}"]
    if args.swtpm_binary:
        argv += ["--swtpm-binary", args.swtpm_binary]
    seed = args.seed if args.seed is not None else (None if args.profile == "ci" else random.getrandbits(32))
    if seed is not None:
        argv.append(f"--hypothesis-seed={seed}")
    if args.select:
        argv += ["-k", args.select]
    code = pytest.main(argv)
    return _verdict(code, evidence)


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
    if data["findings"]:
        return EXIT_FINDINGS
    if data["errors"] or pytest_code not in (0, 1):
        first = data["errors"][0]["error"] if data["errors"] else f"pytest exit code {pytest_code}"
        raise UsageError(f"harness error, not a finding: {first}")
    return EXIT_OK


def cmd_mutants(args) -> int:
    from harness.emulator import MUTANTS

    for name, mutant in sorted(MUTANTS.items()):
        print(f"{name:36s} {mutant.requirement:16s} {mutant.description}")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="vtpm-harness", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    _add_run(sub)
    _add_mutants(sub)
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
