"""Walk a storage root in the catalog's path order, listing camera folders in a few threads."""

from __future__ import annotations

import collections
import logging
import os
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple

__all__ = ["MAX_DEPTH", "UNREADABLE", "FileEntry", "walk"]

log = logging.getLogger(__name__)

WALK_THREADS = 4
"""Threads listing camera folders ahead of the reader."""
MAX_DEPTH = 16
"""Folders deeper than this are not walked (segments sit 4 deep; this also stops symlink loops)."""
UNREADABLE = -1
"""``FileEntry.size`` of a marker for a folder that could not be listed (``relpath`` ends in ``/``)."""


class FileEntry(NamedTuple):
    """A file under the storage root: path relative to it (POSIX), size, mtime."""

    relpath: str
    size: int
    mtime: float


def walk(root: Path, threads: int = WALK_THREADS) -> Iterator[FileEntry]:
    """Every file under ``root`` except hidden ones (``.quarantine``, the lock), in catalog path order.

    Siblings sort by name, with ``/`` appended to folders: then the joined
    paths come out in plain string order, the order of ``segment_files``.
    Top-level folders (cameras) are listed by a few threads ahead of the
    reader, so a cold disk sees several ``stat`` calls in flight.
    """
    listing = _sorted_entries(root)
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="nvr-walk") as pool:
        ahead: collections.deque[Future[list[FileEntry]] | FileEntry] = collections.deque()
        pending = iter(listing)
        for _ in range(threads * 2):
            _queue_next(pending, ahead, pool)
        while ahead:
            item = ahead.popleft()
            _queue_next(pending, ahead, pool)
            if isinstance(item, Future):
                yield from item.result()
            else:
                yield item


def _queue_next(pending: Iterator[tuple[str, os.DirEntry[str]]], ahead: collections.deque,
                pool: ThreadPoolExecutor) -> None:
    for key, entry in pending:
        if key.endswith("/"):
            ahead.append(pool.submit(_list_tree, entry.path, key, []))
            return
        if (found := _file_entry(entry, key)) is not None:
            ahead.append(found)
            return


def _sorted_entries(folder: Path | str) -> list[tuple[str, os.DirEntry[str]]]:
    """Non-hidden entries keyed by name (+ ``/`` for folders, symlinked ones too); raises other OSErrors."""
    try:
        with os.scandir(folder) as it:
            entries = [e for e in it if not e.name.startswith(".")]
    except (FileNotFoundError, NotADirectoryError):
        return []  # removed while we walked
    keyed = [(e.name + "/" if _is_dir(e) else e.name, e) for e in entries]
    keyed.sort(key=lambda pair: pair[0])
    return keyed


def _is_dir(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir()  # follows symlinks: a camera folder may live on another disk
    except OSError:
        return False


def _file_entry(entry: os.DirEntry[str], relpath: str) -> FileEntry | None:
    try:
        st = entry.stat()
    except FileNotFoundError:
        return None
    return FileEntry(relpath, st.st_size, st.st_mtime)


def _list_tree(folder: str, prefix: str, out: list[FileEntry], depth: int = 1) -> list[FileEntry]:
    """Append the files under ``folder``; an unreadable folder becomes one ``UNREADABLE`` marker entry."""
    if depth > MAX_DEPTH:  # deeper than any segment (or a symlink loop): not ours
        return out
    try:
        listing = _sorted_entries(folder)
    except OSError as exc:
        log.error("cannot list %s: %s", folder, exc)
        out.append(FileEntry(prefix, UNREADABLE, 0.0))
        return out
    for key, entry in listing:
        if key.endswith("/"):
            _list_tree(entry.path, prefix + key, out, depth + 1)
        elif (found := _file_entry(entry, prefix + key)) is not None:
            out.append(found)
    return out
