"""The evidence subcommands of ``vtpm-harness``: ``verify-evidence`` and ``report merge``.

Exit codes follow DESIGN.md: 0 intact / no finding, 1 problems or findings
(one line each), 2 bad input via :class:`UsageError`.
"""

from __future__ import annotations

from pathlib import Path

# manifest and merge (and with them cryptography) are imported by the commands that use
# them: every `vtpm-harness` invocation builds these parsers, `ima verify` included.

EXIT_OK, EXIT_PROBLEMS = 0, 1


def add_parsers(subparsers) -> None:
    """Add ``verify-evidence`` and ``report merge`` to the CLI's subparsers."""
    p = subparsers.add_parser("verify-evidence",
                              help="check an evidence bundle against its signed manifest")
    p.add_argument("directory", metavar="DIR", help="the bundle (holds manifest.json)")
    p.add_argument("--public-key", metavar="PEM", default=None,
                   help="the signer's Ed25519 public key (PEM); without it the manifest's own key "
                        "is trusted, which proves integrity but not who signed")
    p.set_defaults(func=cmd_verify_evidence)

    report = subparsers.add_parser("report", help="work with evidence bundles")
    actions = report.add_subparsers(dest="report_command", metavar="merge", required=True,
                                    parser_class=type(report))
    m = actions.add_parser("merge", help="merge shard bundles into one signed bundle")
    m.add_argument("shards", nargs="+", metavar="DIR", help="shard bundles (each with a valid manifest)")
    m.add_argument("-o", "--output", required=True, metavar="DIR",
                   help="the merged bundle's directory (new or empty)")
    m.add_argument("--signing-key", metavar="PEM", default=None,
                   help="Ed25519 private key (PKCS8 PEM) to sign the merged manifest; "
                        "default a fresh key, printed so it can be pinned")
    m.add_argument("--public-key", metavar="PEM", default=None,
                   help="require every shard to be signed by this Ed25519 public key (PEM)")
    m.set_defaults(func=cmd_report_merge)


def cmd_verify_evidence(args) -> int:
    from reports import manifest

    directory = Path(args.directory)
    pem = manifest.read_public_key_pem(args.public_key) if args.public_key else None
    problems = manifest.verify(directory, pem)
    for problem in problems:
        print(problem)
    if problems:
        print(f"vtpm-harness: evidence in {directory} is NOT intact: {len(problems)} problems")
        return EXIT_PROBLEMS
    signed = manifest.read_manifest(directory)
    pinned = "the expected key" if pem else "not pinned: --public-key checks who signed"
    print(f"vtpm-harness: evidence in {directory} intact: {len(signed['files'])} files, signed by "
          f"ed25519 public key {signed['signer']['public_key']} ({pinned})")
    return EXIT_OK


def cmd_report_merge(args) -> int:
    from reports import manifest
    from reports.merge import merge

    key = manifest.load_private_key(args.signing_key) if args.signing_key else None
    pem = manifest.read_public_key_pem(args.public_key) if args.public_key else None
    evidence, signed = merge([Path(s) for s in args.shards], Path(args.output), key, pem)
    verdicts = [r["verdict"] for r in evidence["requirements"].values()]
    print(f"vtpm-harness: merged {len(evidence['run']['shards'])} shard runs into {args.output}: "
          f"{verdicts.count('passed')} requirements passed, {verdicts.count('failed')} failed, "
          f"{verdicts.count('not-applicable')} not applicable; {len(evidence['findings'])} findings, "
          f"{len(evidence['errors'])} harness errors; signed by ed25519 public key "
          f"{signed['signer']['public_key']}")
    return EXIT_PROBLEMS if evidence["findings"] else EXIT_OK
