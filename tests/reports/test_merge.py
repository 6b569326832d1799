"""``report merge``: shard bundles become one signed bundle with the right totals and
every finding and its trace."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reports.merge import merge, merge_requirements
from reports.manifest import verify, write_manifest
from tests.reports.conftest import (FINDING_TRACE, PCR_REQUIREMENTS, TARGET, failing_shard_evidence,
                                    passing_shard_evidence, run_command, single_run, trace_text,
                                    validator, write_bundle)


def _evidence(directory: Path) -> dict:
    return json.loads((directory / "evidence.json").read_text())


def test_merging_a_passing_and_a_failing_shard(tmp_path, passing_bundle, failing_bundle):
    out = tmp_path / "merged"
    code, stdout, error = run_command("report", "merge", str(passing_bundle), str(failing_bundle),
                                      "-o", str(out))
    assert (code, error) == (1, ""), "a merged bundle with a finding exits 1"
    assert "1 findings" in stdout
    merged = _evidence(out)
    reqs = merged["requirements"]
    # Shard A passed the PCR requirements with 40 examples, 800 steps, 9000 operations;
    # shard B ran 25 examples, 300 steps, 4000 operations and found a PCR-LOCALITY bug that
    # Hypothesis shrank 7 times.
    assert reqs["PCR-LOCALITY"] == {"verdict": "failed", "examples": 65, "steps": 1100,
                                    "operations": 13000, "shrinks": 7,
                                    "tests": ["suites/pcr_suite.py::test_pcr_machine"], "findings": 1}
    for rid in set(PCR_REQUIREMENTS) - {"PCR-LOCALITY"}:
        assert reqs[rid]["verdict"] == "passed" and reqs[rid]["examples"] == 65, rid
    assert reqs["NV-DURABLE"] == {"verdict": "not-applicable",
                                  "reason": "the target cannot crash; no NV disk"}
    assert reqs["IMA-REPLAY"]["verdict"] == "not-applicable"
    assert len(merged["tests"]) == 4 and [t["shard"] for t in merged["tests"]] == [0, 0, 1, 1]
    # The finding survives with its trace, byte for byte, under a path unique in the bundle.
    (finding,) = merged["findings"]
    original = _evidence(failing_bundle)["findings"][0]
    assert {k: finding[k] for k in original if k != "trace"} == {k: original[k] for k in original if k != "trace"}
    assert finding["shard"] == 1
    assert (out / finding["trace"]).read_bytes() == (failing_bundle / FINDING_TRACE).read_bytes()
    assert [s["source"] for s in merged["run"]["shards"]] == [str(passing_bundle), str(failing_bundle)]
    assert merged["target"] == TARGET
    assert list(validator("evidence.schema.json").iter_errors(merged)) == []
    assert verify(out, None) == []
    assert {p.name for p in out.iterdir()} == {"evidence.json", "evidence.html", "junit.xml",
                                               "traces", "manifest.json"}
    assert (out / "junit.xml").read_text().count("<testsuite ") == 2


def test_trace_paths_stay_unique_when_shards_use_the_same_name(tmp_path):
    shards = [write_bundle(tmp_path / f"s{n}", failing_shard_evidence(),
                           {FINDING_TRACE: trace_text(summary=f"shard {n}")}) for n in range(3)]
    evidence, _ = merge(shards, tmp_path / "out", None)
    traces = [f["trace"] for f in evidence["findings"]]
    assert len(set(traces)) == 3
    for n, path in enumerate(traces):
        assert json.loads((tmp_path / "out" / path).read_text())["summary"] == f"shard {n}"
    assert evidence["requirements"]["PCR-LOCALITY"]["findings"] == 3


def test_merging_merged_bundles_equals_merging_the_shards_at_once(tmp_path):
    a = write_bundle(tmp_path / "a", passing_shard_evidence(run=single_run(started="2024-05-01T09:00:00Z")))
    b = write_bundle(tmp_path / "b", failing_shard_evidence(), {FINDING_TRACE: trace_text()})
    c = write_bundle(tmp_path / "c", passing_shard_evidence(
        examples=1, steps=2, operations=3, run=single_run(finished="2024-05-02T00:00:00Z")))
    at_once, _ = merge([a, b, c], tmp_path / "abc", None)
    merge([a, b], tmp_path / "ab", None)
    nested, _ = merge([tmp_path / "ab", c], tmp_path / "ab-c", None)
    assert nested["requirements"] == at_once["requirements"]
    assert nested["run"]["shards"] == at_once["run"]["shards"]
    assert [t["shard"] for t in nested["tests"]] == [0, 0, 1, 1, 2, 2]
    assert nested["findings"][0]["shard"] == 1
    assert (nested["run"]["started"], nested["run"]["finished"]) == ("2024-05-01T09:00:00Z",
                                                                      "2024-05-02T00:00:00Z")


def test_an_unfinished_shard_leaves_the_merge_unfinished(tmp_path):
    a = write_bundle(tmp_path / "a", passing_shard_evidence(run=single_run(finished=None)))
    b = write_bundle(tmp_path / "b", passing_shard_evidence())
    evidence, _ = merge([a, b], tmp_path / "out", None)
    assert evidence["run"]["finished"] is None


def _bad(tmp_path: Path, passing_bundle: Path, failing_bundle: Path, case: str) -> list[str]:
    out = str(tmp_path / "out")
    if case == "tampered shard":
        (failing_bundle / FINDING_TRACE).write_text("{}")
    elif case == "unsigned shard":
        (failing_bundle / "manifest.json").unlink()
    elif case == "other target":
        write_bundle(failing_bundle, failing_shard_evidence(target={**TARGET, "spec": "swtpm"}),
                     {FINDING_TRACE: trace_text()})
    elif case == "other harness":
        doc = failing_shard_evidence()
        doc["harness"]["commit"] = "cd" * 20
        write_bundle(failing_bundle, doc, {FINDING_TRACE: trace_text()})
    elif case == "finding without trace":
        (failing_bundle / FINDING_TRACE).unlink()
        write_manifest(failing_bundle, None)
    elif case == "output not empty":
        (tmp_path / "out").mkdir()
        (tmp_path / "out" / "x").write_text("x")
    elif case == "output inside a shard":
        out = str(passing_bundle / "merged")
    elif case == "same shard twice":
        return ["report", "merge", str(passing_bundle), str(passing_bundle), "-o", out]
    elif case == "not a directory":
        return ["report", "merge", str(passing_bundle), str(tmp_path / "nope"), "-o", out]
    elif case == "no output":
        return ["report", "merge", str(passing_bundle), str(failing_bundle)]
    elif case == "unreadable signing key":
        return ["report", "merge", str(passing_bundle), "-o", out, "--signing-key", str(tmp_path / "k")]
    return ["report", "merge", str(passing_bundle), str(failing_bundle), "-o", out]


@pytest.mark.parametrize("case", [
    "tampered shard", "unsigned shard", "other target", "other harness", "finding without trace",
    "output not empty", "output inside a shard", "same shard twice", "not a directory", "no output",
    "unreadable signing key"])
def test_bad_merge_input_exits_2_with_one_line_and_writes_nothing(tmp_path, passing_bundle,
                                                                    failing_bundle, case):
    argv = _bad(tmp_path, passing_bundle, failing_bundle, case)
    code, _, error = run_command(*argv)
    assert code == 2 and error and "\n" not in error, error
    assert not (tmp_path / "out" / "manifest.json").exists()
    assert not (passing_bundle / "merged").exists()


def test_a_shard_signed_by_another_key_is_refused_when_a_key_is_pinned(tmp_path, passing_bundle):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    pem = tmp_path / "lab.pub.pem"
    pem.write_bytes(ed25519.Ed25519PrivateKey.generate().public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    code, _, error = run_command("report", "merge", str(passing_bundle), "-o", str(tmp_path / "out"),
                                 "--public-key", str(pem))
    assert code == 2 and "not the expected key" in error


_checked = st.builds(lambda verdict, e, s, o, n, k: {"verdict": verdict, "examples": e, "steps": s,
                                                     "operations": o, "shrinks": k, "tests": [f"t{n}"],
                                                     "findings": 1 if verdict == "failed" else 0},
                     st.sampled_from(["passed", "failed"]), st.integers(0, 10**6),
                     st.integers(0, 10**6), st.integers(0, 10**6), st.integers(0, 3),
                     st.integers(0, 10**4))
_entry = st.one_of(_checked, st.builds(lambda r: {"verdict": "not-applicable", "reason": r},
                                       st.sampled_from(["no NV", "no DRTM", "no NV; no DRTM"])))


@given(st.lists(st.dictionaries(st.sampled_from(["PCR-AGREE", "NV-DURABLE", "IMA-REPLAY"]), _entry),
                min_size=1, max_size=5))
def test_verdicts_combine_failed_anywhere_then_passed_anywhere_then_not_applicable(shards):
    merged = merge_requirements(shards)
    for rid, result in merged.items():
        entries = [s[rid] for s in shards if rid in s]
        verdicts = {e["verdict"] for e in entries}
        if "failed" in verdicts:
            assert result["verdict"] == "failed"
        elif "passed" in verdicts:
            assert result["verdict"] == "passed"
        else:
            parts = {part for e in entries for part in e["reason"].split("; ")}
            assert result["verdict"] == "not-applicable"
            assert sorted(result["reason"].split("; ")) == sorted(parts), "each reason once"
            continue
        checked = [e for e in entries if e["verdict"] != "not-applicable"]
        for key in ("examples", "steps", "operations", "findings"):
            assert result[key] == sum(e[key] for e in checked)
        assert sorted(result["tests"]) == sorted({t for e in checked for t in e["tests"]})
    assert set(merged) == {rid for s in shards for rid in s}


def test_real_shards_merge(finished_real_bundle, tmp_path):
    copy = Path(shutil.copytree(finished_real_bundle, tmp_path / "again"))
    evidence, _ = merge([finished_real_bundle, copy], tmp_path / "out", None)
    single = _evidence(finished_real_bundle)
    assert len(evidence["findings"]) == 2 * len(single["findings"]) > 0
    for finding in evidence["findings"]:
        assert (tmp_path / "out" / finding["trace"]).is_file()
    for rid, result in evidence["requirements"].items():
        assert result["verdict"] == single["requirements"][rid]["verdict"], rid
        if result["verdict"] != "not-applicable":
            assert result["examples"] == 2 * single["requirements"][rid]["examples"], rid
    assert list(validator("evidence.schema.json").iter_errors(evidence)) == []
    assert verify(tmp_path / "out", None) == []


@given(st.lists(st.dictionaries(st.sampled_from(["PCR-AGREE", "NV-DURABLE", "IMA-REPLAY"]), _entry),
                min_size=2, max_size=5), st.integers(1, 4))
def test_merging_in_stages_gives_the_same_verdicts_as_merging_at_once(shards, split):
    split = min(split, len(shards) - 1)
    staged = merge_requirements([merge_requirements(shards[:split]), merge_requirements(shards[split:])])
    assert staged == merge_requirements(shards)
