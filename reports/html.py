"""``evidence.html``: the evidence for people, in one self-contained file.

Reviewers open it years later, offline, possibly from an archive: so inline
CSS only, no script, and a Content-Security-Policy that forbids every fetch.
Every value comes from evidence.json, which a target partly controls
(identity strings, response data in steps), so everything is escaped and
only bundle-relative trace paths become links.
"""

from __future__ import annotations

import json
import re
from html import escape
from pathlib import Path

from harness.invariants import REQUIREMENTS
from reports.atomic import write_atomic

HTML_FILE = "evidence.html"
_TRACE_LINK = re.compile(r"traces/[A-Za-z0-9][A-Za-z0-9._-]*\.json")
_VERDICTS = ("passed", "failed", "not-applicable")

_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222;max-width:80em}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:.5em 0}th,td{border:1px solid #ccc;padding:.25em .5em;
text-align:left;vertical-align:top}td.num{text-align:right;font-variant-numeric:tabular-nums}
tr.passed td.verdict{background:#dfd}tr.failed td.verdict{background:#fcc;font-weight:bold}
tr.not-applicable td.verdict{background:#eee;color:#555}
pre{background:#f6f6f6;padding:.5em;overflow-x:auto}.finding{border-left:4px solid #c33;padding-left:1em}
code{font-size:.95em}
"""


def render(evidence: dict) -> str:
    """The whole page for one evidence document (single run or merged)."""
    requirements = evidence["requirements"]
    parts = [
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">",
        "<meta http-equiv=\"Content-Security-Policy\" "
        "content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">",
        f"<title>vtpm-harness evidence: {_e(evidence['target']['spec'])}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>vtpm-harness evidence: <code>{_e(evidence['target']['spec'])}</code></h1>",
        _totals(requirements, evidence),
        _requirements(requirements),
        _target(evidence["target"]),
        _run(evidence["harness"], evidence["run"]),
        _findings(evidence["findings"]),
        _errors(evidence["errors"]),
        _tests(evidence["tests"]),
        "</body></html>\n",
    ]
    return "\n".join(parts)


def write_html(directory: Path) -> Path:
    """Render ``directory/evidence.json`` into ``directory/evidence.html`` (atomically)."""
    directory = Path(directory)
    evidence = json.loads((directory / "evidence.json").read_text(encoding="utf-8"))
    path = directory / HTML_FILE
    write_atomic(path, render(evidence))
    return path


# --- sections ---------------------------------------------------------------------


def _e(value) -> str:
    """Any value as escaped text; non-strings as compact JSON."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return escape(text, quote=True)


def _totals(requirements: dict, evidence: dict) -> str:
    verdicts = [r["verdict"] for r in requirements.values()]
    counts = {v: verdicts.count(v) for v in _VERDICTS}
    return ("<p id=\"totals\">Requirements: "
            f"<span id=\"count-passed\">{counts['passed']}</span> passed, "
            f"<span id=\"count-failed\">{counts['failed']}</span> failed, "
            f"<span id=\"count-not-applicable\">{counts['not-applicable']}</span> not applicable; "
            f"<span id=\"count-findings\">{len(evidence['findings'])}</span> findings; "
            f"<span id=\"count-errors\">{len(evidence['errors'])}</span> harness errors.</p>")


def _requirements(requirements: dict) -> str:
    rows = []
    for rid, entry in requirements.items():
        verdict = entry["verdict"]
        head = (f"<tr id=\"req-{_e(rid)}\" class=\"{_e(verdict)}\">"
                f"<td class=\"requirement\"><b>{_e(rid)}</b><br>{_e(REQUIREMENTS.get(rid, ''))}</td>"
                f"<td class=\"verdict\">{_e(verdict)}</td>")
        if verdict == "not-applicable":
            rows.append(head + "<td class=\"num examples\"></td><td class=\"num steps\"></td>"
                        "<td class=\"num operations\"></td><td class=\"num findings\"></td>"
                        f"<td class=\"detail\">{_e(entry['reason'])}</td></tr>")
        else:
            rows.append(head + "".join(f"<td class=\"num {k}\">{_e(entry[k])}</td>"
                                       for k in ("examples", "steps", "operations", "findings"))
                        + f"<td class=\"detail\">{_e(', '.join(entry['tests']))}</td></tr>")
    return ("<h2>Requirements</h2><table id=\"requirements\"><thead><tr><th>Requirement</th>"
            "<th>Verdict</th><th>Examples</th><th>Steps</th><th>Operations</th><th>Findings</th>"
            "<th>Tests / reason not applicable</th></tr></thead><tbody>"
            + "".join(rows) + "</tbody></table>")


def _kv_table(table_id: str, items) -> str:
    rows = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in items)
    return f"<table id=\"{table_id}\" class=\"kv\">{rows}</table>"


def _target(target: dict) -> str:
    items = [("spec", target["spec"]), ("profile", target["profile"]),
             ("banks", ", ".join(target["banks"]))]
    items += [(f"identity: {k}", v) for k, v in target["identity"].items()]
    return "<h2>Target</h2>" + _kv_table("target", items)


def _run_items(run: dict) -> list:
    hyp = run["hypothesis"]
    return [("profile", run["profile"]), ("seed", "none" if run["seed"] is None else run["seed"]),
            ("max_examples", hyp["max_examples"]), ("stateful_step_count", hyp["stateful_step_count"]),
            ("derandomize", hyp["derandomize"]), ("deadline", hyp["deadline"] or "none"),
            ("started", run["started"]), ("finished", run["finished"] or "did not finish"),
            ("python", run["python"]), ("platform", run["platform"]),
            *((f"package: {k}", v or "not installed") for k, v in run["packages"].items()),
            ("arguments", " ".join(run["argv"]))]


def _run(harness: dict, run: dict) -> str:
    head = [("harness version", harness["version"]), ("harness commit", harness["commit"])]
    if not run.get("merged"):
        return "<h2>Run</h2>" + _kv_table("run", head + _run_items(run))
    head += [("started", run["started"]), ("finished", run["finished"] or "not every shard finished")]
    shards = "".join(f"<h3>Shard {n}: <code>{_e(shard['source'])}</code></h3>"
                     + _kv_table(f"run-shard-{n}", _run_items(shard["run"]))
                     for n, shard in enumerate(run["shards"]))
    return (f"<h2>Run (merged from {len(run['shards'])} shards)</h2>"
            + _kv_table("run", head) + shards)


def _findings(findings: list) -> str:
    if not findings:
        return "<h2>Findings</h2><p id=\"findings\">None.</p>"
    out = [f"<h2>Findings ({len(findings)})</h2><div id=\"findings\">"]
    for n, finding in enumerate(findings, 1):
        trace = finding["trace"]
        link = (f"<a href=\"{_e(trace)}\">{_e(trace)}</a>" if _TRACE_LINK.fullmatch(trace)
                else f"<code>{_e(trace)}</code> (not a bundle path; not linked)")
        shard = f" (shard {_e(finding['shard'])})" if "shard" in finding else ""
        out.append(
            f"<section class=\"finding\" id=\"finding-{n}\">"
            f"<h3>{n}. [{_e(finding['requirement'])}] {_e(finding['summary'])}</h3>"
            f"<p>Found by <code>{_e(finding['test'])}</code>{shard}. Steps of the minimal example "
            "(the last is the one that failed):</p>"
            f"<pre class=\"steps\">{_e(chr(10).join(finding['steps']))}</pre>"
            f"<p>Trace (replay with <code>vtpm-harness replay</code>): {link}</p></section>")
    return "".join(out) + "</div>"


def _errors(errors: list) -> str:
    if not errors:
        return ""
    items = "".join(f"<li><code>{_e(err['test'])}</code>: {_e(err['error'])}</li>" for err in errors)
    return (f"<h2>Harness errors ({len(errors)})</h2><p>Not findings about the target: "
            f"the harness or its environment failed.</p><ul id=\"errors\">{items}</ul>")


def _tests(tests: list) -> str:
    rows = "".join(
        f"<tr class=\"{_e(t['outcome'])}\"><td><code>{_e(t['nodeid'])}</code></td>"
        f"<td>{_e(', '.join(t['requirements']))}</td><td>{_e(t['outcome'])}</td>"
        + "".join(f"<td class=\"num\">{_e(t[k])}</td>" for k in ("examples", "steps", "operations", "shrinks", "duration"))
        + f"<td>{_e(t.get('reason', ''))}</td></tr>" for t in tests)
    return ("<h2>Tests</h2><table id=\"tests\"><thead><tr><th>Test</th><th>Requirements</th>"
            "<th>Outcome</th><th>Examples</th><th>Steps</th><th>Operations</th><th>Shrinks</th><th>Seconds</th>"
            "<th>Reason</th></tr></thead><tbody>" + rows + "</tbody></table>")
