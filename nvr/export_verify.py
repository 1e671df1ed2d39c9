"""Check an export bundle: the manifest's Ed25519 signature, then every file's size and SHA-256."""

from __future__ import annotations

import hashlib
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from nvr.export_keys import KeyError_, fingerprint, load_public_key, verify_signature
from nvr.export_manifest import FORMAT, MANIFEST, PUBLIC_KEY, SIGNATURE

__all__ = ["VerifyReport", "verify_bundle"]

_CHUNK = 1 << 20


@dataclass
class VerifyReport:
    """The outcome: ``ok`` only if the signature and every file check out and nothing is unlisted."""

    path: Path
    problems: list[str] = field(default_factory=list)
    fingerprint: str | None = None
    key_source: str = ""
    files_checked: int = 0
    manifest: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_bundle(path: Path, public_key: Ed25519PublicKey | None = None) -> VerifyReport:
    """Verify ``path``; with no ``public_key`` the bundle's own ``public-key.pem`` is used (and said so)."""
    report = VerifyReport(path)
    try:
        with zipfile.ZipFile(path) as archive:
            _verify(archive, report, public_key)
    except (OSError, zipfile.BadZipFile) as exc:
        report.problems.append(f"cannot read the bundle as a ZIP file: {exc}")
    return report


def _verify(archive: zipfile.ZipFile, report: VerifyReport, public_key: Ed25519PublicKey | None) -> None:
    names = [info.filename for info in archive.infolist()]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        report.problems.append(f"names appear more than once: {', '.join(duplicates)}")
    if MANIFEST not in names or SIGNATURE not in names:
        report.problems.append(f"{MANIFEST} or {SIGNATURE} is missing: not an nvr export bundle")
        return
    document, signature = archive.read(MANIFEST), archive.read(SIGNATURE)
    if public_key is None:
        if PUBLIC_KEY not in names:
            report.problems.append(f"no key given and {PUBLIC_KEY} is missing")
            return
        try:
            public_key = load_public_key(archive.read(PUBLIC_KEY))
        except KeyError_ as exc:
            report.problems.append(f"{PUBLIC_KEY}: {exc}")
            return
        report.key_source = f"the bundle's own {PUBLIC_KEY}"
    else:
        report.key_source = "the key given"
    report.fingerprint = fingerprint(public_key)
    if not verify_signature(public_key, signature, document):
        report.problems.append(f"{SIGNATURE}: the signature does not match {MANIFEST} for key {report.fingerprint}"
                               " (the manifest was changed, or signed by another key)")
        return
    try:
        report.manifest = json.loads(document)
        files = report.manifest["files"]
        listed = {entry["name"]: entry for entry in files}
    except (ValueError, KeyError, TypeError) as exc:
        report.problems.append(f"{MANIFEST} is not a readable manifest: {exc}")
        return
    if report.manifest.get("format") != FORMAT:
        report.problems.append(f"{MANIFEST}: unknown format {report.manifest.get('format')!r}")
    claimed = report.manifest.get("signing_key", {}).get("fingerprint")
    if claimed != report.fingerprint:
        report.problems.append(f"{MANIFEST} names signing key {claimed}, but it verifies with {report.fingerprint}")
    for name in names:
        if name not in listed and name not in (MANIFEST, SIGNATURE):
            report.problems.append(f"{name}: in the bundle but not in the manifest")
    for name, entry in listed.items():
        if name not in names:
            report.problems.append(f"{name}: listed in the manifest but missing from the bundle")
            continue
        problem = _check_file(archive, name, entry)
        if problem:
            report.problems.append(f"{name}: {problem}")
        report.files_checked += 1


def _check_file(archive: zipfile.ZipFile, name: str, entry: dict[str, Any]) -> str | None:
    digest = hashlib.sha256()
    size = 0
    try:
        with archive.open(name) as member:
            while chunk := member.read(_CHUNK):
                digest.update(chunk)
                size += len(chunk)
    except (zipfile.BadZipFile, OSError) as exc:  # e.g. "Bad CRC-32": the stored bytes changed
        return f"damaged in the ZIP ({exc})"
    if size != entry.get("size_bytes"):
        return f"size {size} bytes, the manifest says {entry.get('size_bytes')}"
    if digest.hexdigest() != entry.get("sha256"):
        return f"SHA-256 {digest.hexdigest()} does not match the manifest's {entry.get('sha256')}"
    return None
