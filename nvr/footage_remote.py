"""Footage anywhere: segments held by another node are fetched over the internal API before playback or export.

``footage_root(catalog, config, cameras, start, end)`` returns what playback
and exports read segment files through (``root / segment.path``): the storage
root itself when every segment of the range is on this node, else a
``FootageRoot`` that maps the other nodes' segments to verified copies in a
local cache (``cluster-cache`` beside the storage root, never inside it, so
start-up recovery never mistakes them for this node's recordings). A copy is
checked against the catalog's size and SHA-256 before it is used.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

import aiohttp

from nvr.errors import NvrError
from nvr.node_auth import HEADER, sign

if TYPE_CHECKING:
    from nvr.config import Config
    from nvr.models import Segment
    from nvr.storage.catalog import Catalog

__all__ = ["FootageRoot", "RemoteFootageError", "footage_root"]

log = logging.getLogger(__name__)

CACHE_DIR = "cluster-cache"
CACHE_MAX_BYTES = 4 * 1024**3
"""Copies beyond this total are deleted, least recently used first."""
FETCH_TIMEOUT_S = 120
CHUNK = 256 * 1024


class RemoteFootageError(NvrError):
    """A segment held by another node could not be fetched (node down, no secret, bad copy)."""


class FootageRoot:
    """``root / relpath`` for footage on several nodes: this node's files, or verified cached copies."""

    def __init__(self, local: Path, cache: Path, remote_paths: set[str]):
        self.local, self.cache, self.remote_paths = local, cache, remote_paths

    def __truediv__(self, relpath: str) -> Path:
        return (self.cache if relpath in self.remote_paths else self.local) / relpath

    def __fspath__(self) -> str:
        return str(self.local)

    def __repr__(self) -> str:
        return f"FootageRoot({self.local}, {len(self.remote_paths)} remote)"


async def footage_root(catalog: Catalog, config: Config, cameras: list[str], start_us: int,
                       end_us: int) -> Path | FootageRoot:
    """Where to read the footage of ``cameras`` in ``[start_us, end_us)`` from; fetches other nodes' segments."""
    local = config.storage.root
    me = getattr(catalog, "node", None)
    if me is None:  # a single server: every segment is on this disk
        return local
    segments = [s for cam in cameras for s in await catalog.segments(cam, start_us, end_us)]
    holders = await catalog.segment_nodes([s.id for s in segments])
    remote = [s for s in segments if holders.get(s.id) not in (None, me)]
    if not remote:
        return local
    cache = local.parent / CACHE_DIR
    urls = {n.name: n.url for n in await catalog.list_nodes()}
    secret = config.cluster.secret.get_secret_value() if config.cluster.secret else ""
    if not secret:
        raise RemoteFootageError("footage of this range is on other nodes; set [cluster] secret on every node")
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=FETCH_TIMEOUT_S)) as session:
        for seg in remote:
            node = holders[seg.id]
            await _fetch(session, seg, node, urls.get(node or ""), cache, secret, me)
    await asyncio.to_thread(_trim, cache, {s.path for s in remote})
    return FootageRoot(local, cache, {s.path for s in remote})


async def _fetch(session: aiohttp.ClientSession, seg: Segment, node: str | None, url: str | None, cache: Path,
                 secret: str, me: str) -> None:
    """Copy one segment from its node into the cache, unless a verified copy is there."""
    target = cache / seg.path
    if await asyncio.to_thread(_cached, target, seg.size_bytes):
        return
    if not url:
        raise RemoteFootageError(f"segment {seg.path} is on node {node}, which has no URL in the catalog")
    path = f"/internal/segments/{seg.id}"
    part = target.with_name(target.name + ".part")
    await asyncio.to_thread(part.parent.mkdir, parents=True, exist_ok=True)
    digest, size = hashlib.sha256(), 0
    try:
        async with session.get(url.rstrip("/") + path, headers={HEADER: sign(secret, "GET", path, me)}) as resp:
            if resp.status != 200:
                raise RemoteFootageError(f"node {node} answered {resp.status} for segment {seg.path}")
            with open(part, "wb") as out:  # noqa: ASYNC230 - writes go to a thread below
                async for chunk in resp.content.iter_chunked(CHUNK):
                    digest.update(chunk)
                    size += len(chunk)
                    await asyncio.to_thread(out.write, chunk)
    except aiohttp.ClientError as exc:
        raise RemoteFootageError(f"cannot fetch segment {seg.path} from node {node}: {exc}") from None
    if size != seg.size_bytes or digest.hexdigest() != seg.sha256:
        await asyncio.to_thread(part.unlink, missing_ok=True)
        raise RemoteFootageError(f"segment {seg.path} from node {node} does not match the catalog (size or SHA-256)")
    await asyncio.to_thread(os.replace, part, target)
    log.info("fetched segment %s (%d bytes) from node %s", seg.path, size, node)


def _cached(target: Path, size: int) -> bool:
    try:
        if target.stat().st_size == size:  # verified when it was written; renamed into place only then
            os.utime(target)
            return True
    except FileNotFoundError:
        pass
    return False


def _trim(cache: Path, keep: set[str]) -> None:
    """Delete the least recently used copies beyond ``CACHE_MAX_BYTES`` (never the ones just asked for)."""
    files = [(p.stat().st_mtime, p.stat().st_size, p) for p in cache.rglob("*") if p.is_file()]
    total = sum(size for _, size, _ in files)
    for _, size, path in sorted(files, key=lambda f: f[0]):
        if total <= CACHE_MAX_BYTES:
            break
        if str(path.relative_to(cache)) not in keep:
            path.unlink(missing_ok=True)
            total -= size
