"""One process at a time may change a storage root: an advisory ``flock`` on ``<root>/.nvr.lock``."""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
from collections.abc import Iterator
from pathlib import Path

from nvr.errors import NvrError

__all__ = ["LOCK_FILE", "StorageLocked", "lock_storage", "storage_in_use"]

log = logging.getLogger(__name__)

LOCK_FILE = ".nvr.lock"
"""Hidden, so the storage walk skips it. Holds the owner's pid and role, for people."""


class StorageLocked(NvrError):
    """Another process (a running nvr, or ``nvr check-storage --repair``) holds the storage root."""


@contextlib.contextmanager
def lock_storage(root: Path, owner: str = "nvr run") -> Iterator[None]:
    """Hold the root's lock for the ``with`` block; raise ``StorageLocked`` at once if it is taken.

    The kernel drops the lock when the process dies (kill -9 included), so a
    crash never leaves a stale lock behind.
    """
    root.mkdir(parents=True, exist_ok=True)
    path = root / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _holder(path)
        os.close(fd)
        raise StorageLocked(f"storage root {root} is in use by another process ({holder})") from None
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()} {owner}\n".encode())
        log.debug("locked storage root %s for %s", root, owner)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the flock


def storage_in_use(root: Path) -> bool:
    """True if some process holds the root's lock now (a running nvr)."""
    if not (root / LOCK_FILE).exists():
        return False
    try:
        with lock_storage(root, "probe"):
            return False
    except StorageLocked:
        return True


def _holder(path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8").strip()
    except OSError:
        text = ""
    pid, _, owner = text.partition(" ")
    return f"pid {pid}, {owner}" if pid.isdigit() else "unknown holder"
