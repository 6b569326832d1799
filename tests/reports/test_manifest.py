"""manifest.json and ``verify-evidence``: every byte of a bundle is covered, and the
signature is checked with an independently computed encoding."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.errors import UsageError
from reports.manifest import load_private_key, verify, write_manifest
from tests.reports.conftest import (FINDING_TRACE, failing_shard_evidence, run_command, trace_text,
                                    write_bundle)


def _pem_private(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _pem_public(key) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)


def _files(directory: Path) -> list[str]:
    return sorted(p.relative_to(directory).as_posix() for p in directory.rglob("*") if p.is_file())


@pytest.fixture(scope="module")
def signing_key() -> ed25519.Ed25519PrivateKey:
    return ed25519.Ed25519PrivateKey.generate()


@pytest.fixture(scope="module")
def bundle(tmp_path_factory, signing_key) -> Path:
    """A finished bundle with every kind of file: evidence, html, junit, a trace, the manifest."""
    return write_bundle(tmp_path_factory.mktemp("bundle") / "b", failing_shard_evidence(),
                        {FINDING_TRACE: trace_text()}, key=signing_key)


def test_manifest_lists_every_file_with_its_sha256_and_a_signature_over_the_canonical_body(bundle, signing_key):
    manifest = json.loads((bundle / "manifest.json").read_text())
    expected = [{"path": p, "sha256": hashlib.sha256((bundle / p).read_bytes()).hexdigest()}
                for p in _files(bundle) if p != "manifest.json"]
    assert manifest["files"] == expected
    assert {e["path"] for e in expected} == {"evidence.json", "evidence.html", "junit.xml", FINDING_TRACE}
    raw = signing_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert manifest["signer"] == {"algorithm": "ed25519", "public_key": raw.hex()}
    body = {k: v for k, v in manifest.items() if k != "signature"}
    message = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    signing_key.public_key().verify(bytes.fromhex(manifest["signature"]), message)  # raises if bad


def test_an_intact_bundle_verifies_with_and_without_the_pinned_key(bundle, signing_key):
    assert verify(bundle, None) == []
    assert verify(bundle, _pem_public(signing_key)) == []
    code, out, _ = run_command("verify-evidence", str(bundle))
    assert code == 0 and "intact" in out


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_changing_any_single_byte_of_any_file_fails_naming_that_file(bundle, data):
    """Issue 7 acceptance: verify-evidence exits 1 and its first line names the changed file."""
    name = data.draw(st.sampled_from(_files(bundle)), label="file")
    path = bundle / name
    original = path.read_bytes()
    position = data.draw(st.integers(0, len(original) - 1), label="position")
    changed = bytearray(original)
    changed[position] = (changed[position] + data.draw(st.integers(1, 255), label="delta")) % 256
    path.write_bytes(bytes(changed))
    try:
        code, out, _ = run_command("verify-evidence", str(bundle))
    finally:
        path.write_bytes(original)
    lines = out.splitlines()
    assert code == 1
    assert lines[0].startswith(f"{name}: "), out
    assert len(lines) == 2, "exactly the changed file is named (then the summary line)"


def test_added_and_removed_files_are_named(tmp_path, bundle):
    copy = Path(shutil.copytree(bundle, tmp_path / "b"))
    (copy / "traces" / "002-extra.json").write_text("{}")
    (copy / "notes.txt").write_text("added later")
    (copy / "junit.xml").unlink()
    code, out, _ = run_command("verify-evidence", str(copy))
    assert code == 1
    assert out.splitlines()[:3] == ["junit.xml: missing (listed in the manifest)",
                                    "notes.txt: added (not in the manifest)",
                                    "traces/002-extra.json: added (not in the manifest)"]


def test_a_lost_manifest_is_a_problem_not_bad_input(tmp_path, bundle):
    copy = Path(shutil.copytree(bundle, tmp_path / "b"))
    (copy / "manifest.json").unlink()
    code, out, _ = run_command("verify-evidence", str(copy))
    assert code == 1 and out.startswith("manifest.json: missing")


def test_a_resigned_manifest_fails_against_the_pinned_key(tmp_path, bundle, signing_key):
    """Someone edits the evidence and signs it again with their own key."""
    copy = Path(shutil.copytree(bundle, tmp_path / "b"))
    doc = json.loads((copy / "evidence.json").read_text())
    doc["findings"] = []
    (copy / "evidence.json").write_text(json.dumps(doc))
    write_manifest(copy, ed25519.Ed25519PrivateKey.generate())
    assert verify(copy, None) == [], "self-consistent: only a pinned key can tell"
    pem = tmp_path / "lab.pub.pem"
    pem.write_bytes(_pem_public(signing_key))
    code, out, _ = run_command("verify-evidence", str(copy), "--public-key", str(pem))
    assert code == 1
    assert out.splitlines()[0].startswith("manifest.json: signed by key ")


def test_a_fresh_key_is_made_per_manifest(tmp_path):
    write_bundle(tmp_path / "a", failing_shard_evidence())
    first = json.loads((tmp_path / "a" / "manifest.json").read_text())["signer"]["public_key"]
    second = write_manifest(tmp_path / "a", None)["signer"]["public_key"]
    assert first != second
    assert verify(tmp_path / "a", None) == []


def test_a_pkcs8_signing_key_file_is_used(tmp_path):
    key = ed25519.Ed25519PrivateKey.generate()
    (tmp_path / "key.pem").write_bytes(_pem_private(key))
    loaded = load_private_key(tmp_path / "key.pem")
    manifest = write_manifest(write_bundle(tmp_path / "b", failing_shard_evidence()), loaded)
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert manifest["signer"]["public_key"] == raw.hex()


def _key_files(tmp_path: Path) -> dict[str, Path]:
    ed = ed25519.Ed25519PrivateKey.generate()
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    files = {
        "missing": tmp_path / "nope.pem",
        "garbage": tmp_path / "garbage.pem",
        "rsa-private": tmp_path / "rsa.pem",
        "rsa-public": tmp_path / "rsa.pub.pem",
        "ed-public-as-private": tmp_path / "ed.pub.pem",
        "ed-private-as-public": tmp_path / "ed.pem",
        "encrypted": tmp_path / "enc.pem",
        "directory": tmp_path,
    }
    files["garbage"].write_bytes(b"-----BEGIN PRIVATE KEY-----\nnot base64\n-----END PRIVATE KEY-----\n")
    files["rsa-private"].write_bytes(_pem_private(rsa_key))
    files["rsa-public"].write_bytes(_pem_public(rsa_key))
    files["ed-public-as-private"].write_bytes(_pem_public(ed))
    files["ed-private-as-public"].write_bytes(_pem_private(ed))
    files["encrypted"].write_bytes(ed.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"secret")))
    return files


@pytest.mark.parametrize("kind", ["missing", "garbage", "rsa-private", "ed-public-as-private",
                                  "encrypted", "directory"])
def test_an_unusable_signing_key_is_one_line_of_bad_input(tmp_path, kind):
    path = _key_files(tmp_path)[kind]
    with pytest.raises(UsageError) as info:
        load_private_key(path)
    message = str(info.value)
    assert "\n" not in message and str(path) in message


@pytest.mark.parametrize("kind", ["missing", "garbage", "rsa-public", "ed-private-as-public", "directory"])
def test_an_unusable_public_key_exits_2_with_one_line(tmp_path, bundle, kind):
    path = _key_files(tmp_path)[kind]
    code, out, error = run_command("verify-evidence", str(bundle), "--public-key", str(path))
    assert code == 2 and out == ""
    assert error and "\n" not in error and str(path) in error


@pytest.mark.parametrize("args", [["verify-evidence"], ["verify-evidence", "/nonexistent/bundle"]])
def test_verify_evidence_bad_arguments_exit_2(args):
    code, _, error = run_command(*args)
    assert code == 2 and error and "\n" not in error


def test_a_real_run_bundle_verifies_and_a_changed_trace_is_named(finished_real_bundle, tmp_path):
    copy = Path(shutil.copytree(finished_real_bundle, tmp_path / "b"))
    assert verify(copy, None) == []
    trace = json.loads((copy / "evidence.json").read_text())["findings"][0]["trace"]
    data = bytearray((copy / trace).read_bytes())
    data[len(data) // 2] ^= 0x01
    (copy / trace).write_bytes(bytes(data))
    assert verify(copy, None) == [f"{trace}: changed (its SHA-256 differs from the manifest)"]


def test_a_real_run_leaves_a_finished_signed_bundle(real_bundle):
    assert (real_bundle / "evidence.html").is_file()
    assert verify(real_bundle, None) == []
