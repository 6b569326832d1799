"""Merging shard bundles (xdist workers, CI matrix jobs, machines) into one bundle.

A certification is about one implementation checked by one harness build, so
only shards with the same ``target`` and ``harness`` merge. Each shard's
manifest is verified first: merging must not launder an altered shard under a
fresh signature. Verdicts combine as evidence.py decides them per run: failed
anywhere is failed; passed if some shard passed it and none failed;
not-applicable only if not applicable everywhere.
"""

from __future__ import annotations

import json
import re
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from harness.errors import UsageError
from reports import manifest as manifest_mod
from reports.atomic import write_atomic
from reports.evidence import FORMAT
from reports.html import write_html

EVIDENCE_FILE = "evidence.json"
JUNIT_FILE = "junit.xml"
_TRACE_PATH = re.compile(r"traces/([A-Za-z0-9][A-Za-z0-9._-]*\.json)")
_NUMBERED = re.compile(r"^[0-9]+-")
_CORE = ("harness", "target", "run", "requirements", "tests", "findings", "errors")


def merge_requirements(shards: list[dict]) -> dict:
    """Combine the shards' ``requirements`` objects, in first-seen order of IDs."""
    merged = {}
    for rid in dict.fromkeys(rid for shard in shards for rid in shard):
        entries = [shard[rid] for shard in shards if rid in shard]
        checked = [e for e in entries if e["verdict"] != "not-applicable"]
        if not checked:
            # A reason is already a "; "-joined list (evidence.py); joining parts keeps merging associative.
            reasons = dict.fromkeys(part for e in entries for part in e["reason"].split("; "))
            merged[rid] = {"verdict": "not-applicable", "reason": "; ".join(reasons)}
            continue
        failed = any(e["verdict"] == "failed" for e in checked)
        merged[rid] = {"verdict": "failed" if failed else "passed",
                       "examples": sum(e["examples"] for e in checked),
                       "steps": sum(e["steps"] for e in checked),
                       "operations": sum(e["operations"] for e in checked),
                       "shrinks": sum(e["shrinks"] for e in checked),
                       "tests": list(dict.fromkeys(t for e in checked for t in e["tests"])),
                       "findings": sum(e["findings"] for e in checked)}
    return merged


def merge(sources: list[Path], out: Path, private_key: Ed25519PrivateKey | None,
          trusted_key_pem: bytes | None = None) -> tuple[dict, dict]:
    """Write the merged bundle to ``out`` (new or empty); return (evidence, manifest)."""
    sources = [Path(s) for s in sources]
    out = Path(out)
    _check_paths(out, sources)
    shards = [_load_shard(src, trusted_key_pem) for src in sources]
    _check_same(shards, "target")
    _check_same(shards, "harness")

    runs, tests, findings, errors = [], [], [], []
    copies = []  # (source file, bundle-relative destination)
    for src, doc in zip(sources, shards):
        base = len(runs)
        if doc["run"].get("merged"):
            runs += doc["run"]["shards"]
        else:
            runs.append({"source": str(src), "run": doc["run"]})
        tests += [{**t, "shard": base + t.get("shard", 0)} for t in doc["tests"]]
        errors += [{**e, "shard": base + e.get("shard", 0)} for e in doc["errors"]]
        for finding in doc["findings"]:
            name = _NUMBERED.sub("", _TRACE_PATH.fullmatch(finding["trace"]).group(1))
            dest = f"traces/{len(findings) + 1:03d}-{name}"
            copies.append((src / finding["trace"], dest))
            findings.append({**finding, "trace": dest, "shard": base + finding.get("shard", 0)})

    finished = [r["run"]["finished"] for r in runs]
    evidence = {
        "format": FORMAT,
        "harness": shards[0]["harness"],
        "target": shards[0]["target"],
        "run": {"merged": True, "started": min(r["run"]["started"] for r in runs),
                "finished": None if None in finished else max(finished), "shards": runs},
        "requirements": merge_requirements([doc["requirements"] for doc in shards]),
        "tests": tests,
        "findings": findings,
        "errors": errors,
    }
    junit = _merge_junit([src / JUNIT_FILE for src in sources if (src / JUNIT_FILE).is_file()])
    for source, dest in copies:  # traces before the evidence that cites them
        (out / dest).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, out / dest)
    if junit is not None:
        write_atomic(out / JUNIT_FILE, junit)
    write_atomic(out / EVIDENCE_FILE, json.dumps(evidence, indent=1))
    write_html(out)
    return evidence, manifest_mod.write_manifest(out, private_key)


def _check_paths(out: Path, sources: list[Path]) -> None:
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UsageError(f"output {out}: exists and is not an empty directory")
    resolved = out.resolve()
    if len({src.resolve() for src in sources}) != len(sources):
        raise UsageError("a shard is given twice; each counts once")
    for src in sources:
        if resolved == src.resolve() or src.resolve() in resolved.parents:
            raise UsageError(f"output {out}: inside the shard {src}")


def _load_shard(src: Path, trusted_key_pem: bytes | None) -> dict:
    """A shard's evidence after its manifest verified; UsageError naming the shard otherwise."""
    if not src.is_dir():
        raise UsageError(f"shard {src}: not a directory")
    problems = manifest_mod.verify(src, trusted_key_pem)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise UsageError(f"shard {src}: not intact: {problems[0]}{more}")
    try:
        doc = json.loads((src / EVIDENCE_FILE).read_text(encoding="utf-8"))
        if doc["format"] != FORMAT:
            raise UsageError(f"shard {src}: {EVIDENCE_FILE} is {doc['format']!r}, expected {FORMAT!r}")
        missing = [key for key in _CORE if key not in doc]
        if missing:
            raise UsageError(f"shard {src}: {EVIDENCE_FILE} lacks {', '.join(missing)}")
        for finding in doc["findings"]:
            if not _TRACE_PATH.fullmatch(finding["trace"]):
                raise UsageError(f"shard {src}: finding cites {finding['trace']!r}, not a traces/ file")
            if not (src / finding["trace"]).is_file():
                raise UsageError(f"shard {src}: finding cites {finding['trace']}, which is missing")
    except OSError as exc:
        raise UsageError(f"shard {src}: {EVIDENCE_FILE} unreadable ({exc.strerror or exc})") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise UsageError(f"shard {src}: {EVIDENCE_FILE} is not evidence ({type(exc).__name__}: {exc})") from None
    return doc


def _check_same(shards: list[dict], key: str) -> None:
    first = shards[0][key]
    for doc in shards[1:]:
        if doc[key] != first:
            raise UsageError(f"shards differ in {key} ({json.dumps(first)} vs {json.dumps(doc[key])}); "
                             f"merge only shards of one {key}")


def _merge_junit(paths: list[Path]) -> str | None:
    """One <testsuites> holding every shard's <testsuite> elements, or None without any."""
    if not paths:
        return None
    root = ET.Element("testsuites")
    for path in paths:
        try:
            tree = ET.parse(path).getroot()
        except ET.ParseError as exc:
            raise UsageError(f"{path}: not JUnit XML ({exc})") from None
        root.extend(tree.findall("testsuite") if tree.tag == "testsuites" else [tree])
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"
