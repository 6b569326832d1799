"""The JSON Schemas in reports/schema/: valid, documented, in step with the code, and
satisfied by what the harness really writes."""

from __future__ import annotations

import dataclasses
import json
import typing

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness import trace
from harness.invariants import REQUIREMENTS
from harness.strategies import tpm as draw
from models import ops
from tests.reports.conftest import (failing_shard_evidence, load_schema, passing_shard_evidence,
                                    single_run, trace_text, validator)

SCHEMA_FILES = ["evidence.schema.json", "trace.schema.json", "manifest.schema.json"]


def _errors(name: str, document) -> list[str]:
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator(name).iter_errors(document)]


def _undocumented(schema: dict, node, where: str = "") -> list[str]:
    """Properties with neither a description, a documented $ref, nor a const value.

    if/then/else and not only constrain fields defined elsewhere; they are not walked.
    """
    found = []
    if isinstance(node, dict):
        for name, sub in node.get("properties", {}).items():
            target = sub
            if "$ref" in sub and sub["$ref"].startswith("#/"):
                target = schema
                for part in sub["$ref"][2:].split("/"):
                    target = target[part]
            if not any(k in s for s in (sub, target) for k in ("description", "const")):
                found.append(f"{where}/{name}")
        for key, sub in node.items():
            if key not in ("if", "then", "else", "not"):
                found += _undocumented(schema, sub, f"{where}/{key}")
    elif isinstance(node, list):
        for n, sub in enumerate(node):
            found += _undocumented(schema, sub, f"{where}/{n}")
    return found


@pytest.mark.parametrize("name", SCHEMA_FILES)
def test_schema_is_valid_draft_2020_12_and_documents_every_field(name):
    schema = load_schema(name)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    validator(name)  # check_schema raises on an invalid schema
    assert schema.get("description")
    assert _undocumented(schema, schema) == []


def test_requirement_ids_in_the_schema_are_exactly_the_harness_requirements():
    ids = load_schema("evidence.schema.json")["$defs"]["requirementId"]["enum"]
    assert sorted(ids) == sorted(REQUIREMENTS)


def test_trace_schema_has_one_branch_per_operation_with_exactly_its_fields():
    branches = load_schema("trace.schema.json")["$defs"]["step"]["oneOf"]
    documented = {b["properties"]["op"]["const"]: set(b["properties"]) - {"op"} for b in branches}
    operations = {cls.__name__: {f.name for f in dataclasses.fields(cls)}
                  for cls in typing.get_args(ops.Op) + typing.get_args(ops.SequenceCommand)}
    assert documented == operations


def test_evidence_of_passing_failing_and_unfinished_runs_validates():
    for doc in (passing_shard_evidence(), failing_shard_evidence(),
                passing_shard_evidence(run=single_run(finished=None, seed=1234))):
        assert _errors("evidence.schema.json", doc) == []


def _break(path: list, value):
    doc = failing_shard_evidence()
    node = doc
    for key in path[:-1]:
        node = node[key]
    if value is KeyError:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return doc


@pytest.mark.parametrize("path,value", [
    (["format"], "vtpm-harness-evidence/2"),
    (["requirements", "PCR-AGREE", "verdict"], "ok"),
    (["requirements", "PCR-AGREE", "findings"], 1),  # passed with a finding
    (["requirements", "PCR-LOCALITY", "findings"], 0),  # failed without one
    (["requirements", "NV-DURABLE", "reason"], KeyError),
    (["requirements", "NO-SUCH-ID"], {"verdict": "not-applicable", "reason": "x"}),
    (["requirements", "PCR-AGREE", "examples"], -1),
    (["findings", 0, "trace"], "traces/../../etc/passwd.json"),
    (["findings", 0, "trace"], "/abs/traces/x.json"),
    (["findings", 0, "requirement"], "PCR-WHATEVER"),
    (["tests", 0, "outcome"], "xpassed"),
    (["harness", "commit"], "HEAD"),
    (["run", "started"], "yesterday"),
    (["target", "banks"], ["md5"]),
    (["surprise"], 1),
    (["errors"], KeyError),
])
def test_schema_rejects_a_broken_document(path, value):
    assert _errors("evidence.schema.json", _break(path, value)), f"accepted {path} = {value!r}"


any_op = st.one_of(
    draw.tpm_command, draw.malformed_command(),
    st.builds(ops.PowerCycle, orderly=st.booleans()), st.just(ops.Crash()),
    st.builds(ops.Drtm, data=st.binary(max_size=40)),
)


@given(st.lists(st.tuples(st.sampled_from(["", "ptpm", "vtpm-1"]), any_op,
                          st.one_of(st.none(), st.binary(max_size=30))), max_size=8),
       st.sampled_from(sorted(REQUIREMENTS)))
def test_every_trace_the_harness_writes_validates(steps, requirement):
    # The driver records command bytes for TPM commands and none for platform operations.
    recorded = [(who, op, bytes(10) if type(op) in typing.get_args(ops.TpmCommand) else None,
                 rsp if type(op) in typing.get_args(ops.TpmCommand) else None)
                for who, op, rsp in steps]
    text = trace.to_json(recorded, target="emulator", requirement=requirement, summary="s")
    assert _errors("trace.schema.json", json.loads(text)) == []


def test_trace_schema_rejects_wire_bytes_on_a_platform_operation_and_unknown_fields():
    doc = json.loads(trace_text())
    assert _errors("trace.schema.json", doc) == []
    platform = doc["steps"][2]
    assert platform["op"] == "PowerCycle"
    for key, value in (("command", "00"), ("extra", 1)):
        broken = json.loads(trace_text())
        broken["steps"][2][key] = value
        assert _errors("trace.schema.json", broken), key
    broken = json.loads(trace_text())
    broken["steps"][0]["command"] = "ABCD"  # hex is lowercase
    assert _errors("trace.schema.json", broken)


# --- real runs ------------------------------------------------------------------------


def test_real_run_evidence_and_traces_validate(real_bundle):
    doc = json.loads((real_bundle / "evidence.json").read_text())
    assert _errors("evidence.schema.json", doc) == []
    assert doc["findings"], "the mutant run must give a finding (and a trace) to validate"
    for finding in doc["findings"]:
        trace_doc = json.loads((real_bundle / finding["trace"]).read_text())
        assert _errors("trace.schema.json", trace_doc) == [], finding["trace"]


def test_real_run_manifest_validates(finished_real_bundle):
    manifest = json.loads((finished_real_bundle / "manifest.json").read_text())
    assert _errors("manifest.schema.json", manifest) == []


def test_real_run_counts_the_shrinks_of_its_finding(real_bundle):
    """Failing machines' records carry Hypothesis's successful shrinks; passing ones carry 0.
    (A machine whose first failing example is already minimal has none to count.)"""
    doc = json.loads((real_bundle / "evidence.json").read_text())
    failed = [t for t in doc["tests"] if t["outcome"] == "failed"]
    assert failed and any(t["shrinks"] > 0 for t in failed), failed
    assert all(t["shrinks"] == 0 for t in doc["tests"] if t["outcome"] == "passed")
    shrinks = {t["nodeid"]: t["shrinks"] for t in failed}
    for finding in doc["findings"]:  # a requirement's total includes the shrinks of each test failing it
        assert doc["requirements"][finding["requirement"]]["shrinks"] >= shrinks[finding["test"]]
