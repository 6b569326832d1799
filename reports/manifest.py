"""``manifest.json``: the SHA-256 of every file of a bundle, signed with Ed25519.

A lab checks evidence years after the run, so the bundle carries its own
integrity: every file's hash (bundle-relative POSIX paths, sorted) and an
Ed25519 signature (RFC 8032, via ``cryptography``) over the canonical
encoding of the manifest body: JSON with sorted keys, no whitespace, ASCII
only. Keys are raw 32-byte Ed25519 public keys in lowercase hex; the
signature is the 64-byte signature in lowercase hex.

The key comes from ``--signing-key PEM`` (a PKCS8 private key the lab
controls) or is fresh per run; then the manifest only proves the bundle is
unchanged since it was signed, and the lab must pin the public key by other
means (record it from the run's output, compare with ``--public-key``).

manifest.json is written in exactly one serialization (sorted keys, indent 1)
and verification insists on it, so no byte of it can change unnoticed, not
even whitespace the signature does not cover.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from harness.errors import UsageError
from reports.atomic import write_atomic

MANIFEST = "manifest.json"
FORMAT = "vtpm-harness-manifest/1"
_HEX64 = re.compile(r"[0-9a-f]{64}")
_HEX128 = re.compile(r"[0-9a-f]{128}")


# --- keys ---------------------------------------------------------------------------


def load_private_key(path: str | os.PathLike) -> Ed25519PrivateKey:
    """The Ed25519 signing key in a PEM (PKCS8) file; anything else is a one-line UsageError."""
    what = f"signing key {path}"
    key = _parse_pem(_read(path, what), what, lambda data: serialization.load_pem_private_key(data, None))
    if not isinstance(key, Ed25519PrivateKey):
        raise UsageError(f"{what}: {type(key).__name__}, expected an Ed25519 private key")
    return key


def read_public_key_pem(path: str | os.PathLike) -> bytes:
    """The bytes of a PEM (SubjectPublicKeyInfo) Ed25519 public key file, checked: for ``verify``."""
    what = f"public key {path}"
    pem = _read(path, what)
    parse_public_key(pem, what)
    return pem


def parse_public_key(pem: bytes, what: str = "public key") -> Ed25519PublicKey:
    """An Ed25519 public key from PEM bytes; anything else is a one-line UsageError."""
    key = _parse_pem(pem, what, serialization.load_pem_public_key)
    if not isinstance(key, Ed25519PublicKey):
        raise UsageError(f"{what}: {type(key).__name__}, expected an Ed25519 public key")
    return key


def _read(path, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise UsageError(f"{what}: cannot read it ({exc.strerror or exc})") from None


def _parse_pem(data: bytes, what: str, load):
    try:
        return load(data)
    except TypeError:  # an encrypted private key and no password
        raise UsageError(f"{what}: encrypted; give an unencrypted PEM key") from None
    except (ValueError, UnicodeDecodeError):
        raise UsageError(f"{what}: not a PEM key") from None
    except UnsupportedAlgorithm:
        raise UsageError(f"{what}: a key type this system cannot load") from None


def public_key_hex(key: Ed25519PublicKey) -> str:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw).hex()


# --- writing ----------------------------------------------------------------------


def bundle_files(directory: Path) -> list[str]:
    """Every file of the bundle but the manifest, as sorted POSIX relative paths."""
    found = []
    for root, dirs, files in os.walk(directory):
        rel = Path(root).relative_to(directory)
        # A symlinked directory is not descended into; listing it makes it "added".
        found += [(rel / name).as_posix() for name in files]
        found += [(rel / name).as_posix() for name in dirs if (Path(root) / name).is_symlink()]
    return sorted(p for p in found if p != MANIFEST)


def _sha256(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def canonical(body: dict) -> bytes:
    """The bytes the signature covers."""
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def _serialize(manifest: dict) -> str:
    return json.dumps(manifest, sort_keys=True, indent=1, ensure_ascii=True) + "\n"


def write_manifest(directory: Path, private_key: Ed25519PrivateKey | None) -> dict:
    """Hash every file in ``directory``, sign, write ``manifest.json`` atomically; return it.

    ``private_key`` None signs with a fresh key that is then forgotten.
    """
    directory = Path(directory)
    key = private_key if private_key is not None else Ed25519PrivateKey.generate()
    body = {
        "format": FORMAT,
        "files": [{"path": p, "sha256": _sha256(directory / p)} for p in bundle_files(directory)],
        "signer": {"algorithm": "ed25519", "public_key": public_key_hex(key.public_key())},
    }
    manifest = {**body, "signature": key.sign(canonical(body)).hex()}
    write_atomic(directory / MANIFEST, _serialize(manifest))
    return manifest


# --- verifying --------------------------------------------------------------------


def verify(directory: Path, public_key_pem: bytes | None) -> list[str]:
    """Problems with the bundle, one line each naming the file; empty when intact.

    ``public_key_pem`` pins the signer; without it the manifest's own key is
    trusted (integrity, not authenticity). A manifest that is not authentic
    is the only problem reported: its hashes cannot be trusted to name files.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise UsageError(f"{directory}: not a directory")
    pinned = None if public_key_pem is None else public_key_hex(parse_public_key(public_key_pem))
    try:
        manifest = read_manifest(directory)
    except ValueError as exc:
        return [f"{MANIFEST}: {exc}"]
    problems = []
    signer = manifest["signer"]["public_key"]
    if pinned is not None and signer != pinned:
        problems.append(f"{MANIFEST}: signed by key {signer}, not the expected key {pinned}")
    listed = {entry["path"]: entry["sha256"] for entry in manifest["files"]}
    present = set(bundle_files(directory))
    for path in sorted(listed.keys() | present):
        if path not in present:
            problems.append(f"{path}: missing (listed in the manifest)")
        elif path not in listed:
            problems.append(f"{path}: added (not in the manifest)")
        else:
            try:
                digest = _sha256(directory / path)
            except OSError as exc:
                problems.append(f"{path}: unreadable ({exc.strerror or exc})")
                continue
            if digest != listed[path]:
                problems.append(f"{path}: changed (its SHA-256 differs from the manifest)")
    return problems


def read_manifest(directory: Path) -> dict:
    """The manifest of ``directory`` after checking its form and signature (ValueError: why not)."""
    path = Path(directory) / MANIFEST
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise ValueError("missing") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"unreadable ({exc})") from None
    try:
        manifest = json.loads(text)
    except ValueError:
        raise ValueError("not JSON (altered or truncated)") from None
    _check_shape(manifest)
    if _serialize(manifest) != text:
        raise ValueError("altered (not in the exact form it is written in)")
    body = {k: v for k, v in manifest.items() if k != "signature"}
    try:
        key = Ed25519PublicKey.from_public_bytes(bytes.fromhex(manifest["signer"]["public_key"]))
        key.verify(bytes.fromhex(manifest["signature"]), canonical(body))
    except (InvalidSignature, ValueError):
        raise ValueError("bad signature (the manifest was altered after signing)") from None
    return manifest


def _check_shape(manifest) -> None:
    """Fail early, precisely, on anything but the structure write_manifest produces."""
    def bad(why: str):
        raise ValueError(f"malformed ({why})")

    if not isinstance(manifest, dict) or set(manifest) != {"format", "files", "signer", "signature"}:
        bad("expected the keys format, files, signer, signature")
    if manifest["format"] != FORMAT:
        bad(f"format is {manifest['format']!r}, expected {FORMAT!r}")
    signer = manifest["signer"]
    if (not isinstance(signer, dict) or signer.get("algorithm") != "ed25519"
            or set(signer) != {"algorithm", "public_key"}
            or not isinstance(signer["public_key"], str) or not _HEX64.fullmatch(signer["public_key"])):
        bad("signer must be an ed25519 public key in 64 lowercase hex digits")
    if not isinstance(manifest["signature"], str) or not _HEX128.fullmatch(manifest["signature"]):
        bad("signature must be 128 lowercase hex digits")
    files = manifest["files"]
    if not isinstance(files, list):
        bad("files must be a list")
    paths = []
    for entry in files:
        if (not isinstance(entry, dict) or set(entry) != {"path", "sha256"}
                or not isinstance(entry["sha256"], str) or not _HEX64.fullmatch(entry["sha256"])
                or not _safe_path(entry["path"])):
            bad(f"bad file entry {entry!r}")
        paths.append(entry["path"])
    if paths != sorted(set(paths)):
        bad("file paths must be unique and sorted")


def _safe_path(path) -> bool:
    """A bundle-relative POSIX path that stays inside the bundle."""
    if not isinstance(path, str) or not path or path.startswith("/") or "\\" in path:
        return False
    return all(part not in ("", ".", "..") for part in path.split("/")) and path != MANIFEST
