"""The installation's signing key: created once with mode 0600, loaded again, fingerprinted, verifying."""

from __future__ import annotations

import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from nvr.export_keys import KeyError_, load_or_create_key, load_public_key, verify_signature


def test_created_once_private_and_stable(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "export-ed25519.pem"
    key = load_or_create_key(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    again = load_or_create_key(path)
    assert again.fingerprint == key.fingerprint and key.fingerprint.startswith("sha256:")
    assert len(key.fingerprint) == len("sha256:") + 64
    signature = key.sign(b"manifest")
    assert len(signature) == 64
    public = load_public_key(key.public_pem)
    assert verify_signature(public, signature, b"manifest")
    assert not verify_signature(public, signature, b"manifesT")
    assert load_public_key(path.read_bytes()) is not None, "a private key PEM gives its public half"


def test_two_starts_at_once_share_one_key(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "k.pem"
    with ThreadPoolExecutor(8) as pool:
        prints = set(pool.map(lambda _: load_or_create_key(path).fingerprint, range(8)))
    assert len(prints) == 1
    assert [p.name for p in path.parent.iterdir()] == ["k.pem"], "no temporary files left"


def test_unusable_key_files(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pem"
    bad.write_text("not a key")
    with pytest.raises(KeyError_, match="cannot load"):
        load_or_create_key(bad)
    with pytest.raises(KeyError_):
        load_public_key(b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")
