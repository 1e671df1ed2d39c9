"""Durable file operations: fsync a file, fsync its folder, rename atomically."""

from __future__ import annotations

import os
from pathlib import Path


def fsync_file(path: Path) -> None:
    """Flush a file's data and metadata to the device."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: Path) -> None:
    """Flush a folder's entries (a created, renamed or removed name) to the device."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def durable_rename(src: Path, dst: Path) -> None:
    """fsync ``src``, rename it to ``dst`` (same folder or filesystem), fsync the folder."""
    fsync_file(src)
    os.replace(src, dst)
    fsync_dir(dst.parent)


def make_dirs_durable(path: Path, root: Path) -> None:
    """Create ``path`` (and parents up to ``root``), fsyncing each parent that gained an entry."""
    missing = []
    current = path
    while not current.exists() and current != root and root in current.parents:
        missing.append(current)
        current = current.parent
    for folder in reversed(missing):
        folder.mkdir(exist_ok=True)
        fsync_dir(folder.parent)
