"""The installation's Ed25519 signing key: created once (mode 0600), loaded, fingerprinted, used to sign and verify."""

from __future__ import annotations

import hashlib
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from nvr.errors import NvrError
from nvr.storage.durable import fsync_dir

__all__ = ["KeyError_", "SigningKey", "fingerprint", "load_or_create_key", "load_public_key", "verify_signature"]


class KeyError_(NvrError):  # noqa: N801 - "KeyError" is a builtin
    """The signing key cannot be read, created or used."""


def fingerprint(public: Ed25519PublicKey) -> str:
    """``sha256:`` + hex SHA-256 of the raw 32-byte public key (what the admin page shows)."""
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def public_pem(public: Ed25519PublicKey) -> bytes:
    return public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


@dataclass(frozen=True)
class SigningKey:
    """A loaded private key, its public half (PEM) and fingerprint."""

    path: Path
    private: Ed25519PrivateKey

    @property
    def public(self) -> Ed25519PublicKey:
        return self.private.public_key()

    @property
    def public_pem(self) -> bytes:
        return public_pem(self.public)

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.public)

    def sign(self, data: bytes) -> bytes:
        """The 64-byte detached Ed25519 signature of ``data``."""
        return self.private.sign(data)


def _load_private(path: Path) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise KeyError_(f"cannot load the export signing key {path}: {exc}") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyError_(f"{path} is not an Ed25519 private key")
    return key


def load_or_create_key(path: Path) -> SigningKey:
    """Load the key at ``path``, creating it (folder 0700, file 0600) if there is none (blocking).

    Two processes starting together end up with the same key: the file is
    written under a temporary name and linked into place, and whoever loses
    the race loads the winner's.
    """
    if path.exists():
        return SigningKey(path, _load_private(path))
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, pem)
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(tmp, path)
        except FileExistsError:
            return SigningKey(path, _load_private(path))
        finally:
            tmp.unlink(missing_ok=True)
        fsync_dir(path.parent)
    except OSError as exc:
        raise KeyError_(f"cannot create the export signing key {path}: {exc.strerror or exc}") from exc
    return SigningKey(path, key)


def load_public_key(data: bytes) -> Ed25519PublicKey:
    """An Ed25519 public key from PEM (a public key, or a private key whose public half is taken)."""
    try:
        if b"PRIVATE KEY" in data:
            key = serialization.load_pem_private_key(data, password=None)
            if isinstance(key, Ed25519PrivateKey):
                return key.public_key()
        else:
            public = serialization.load_pem_public_key(data)
            if isinstance(public, Ed25519PublicKey):
                return public
    except (ValueError, TypeError) as exc:
        raise KeyError_(f"not a PEM key: {exc}") from exc
    raise KeyError_("not an Ed25519 key")


def verify_signature(public: Ed25519PublicKey, signature: bytes, data: bytes) -> bool:
    """True if ``signature`` is ``public``'s signature of ``data``."""
    try:
        public.verify(signature, data)
    except InvalidSignature:
        return False
    return True
