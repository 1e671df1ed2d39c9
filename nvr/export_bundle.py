"""Write one export job's bundle: clips, manifest, signature, in a ZIP written as ``.part`` and renamed when whole.

Resuming: after each camera's clips the ``.part`` file is fsynced and a
checkpoint (``<bundle>.part.json``: file position, ZIP entries, the camera's
manifest part) is written atomically. A later attempt cuts the ``.part`` back
to that position and goes on with the next camera; without a usable
checkpoint it starts from scratch.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nvr.export_clip import ClipBuilder
from nvr.export_keys import SigningKey
from nvr.export_manifest import MANIFEST, PUBLIC_KEY, SIGNATURE, CameraInfo, camera_entry, clip_entry, encode, manifest
from nvr.export_pipe import ahead
from nvr.export_plan import CameraPlan
from nvr.export_zip import ZipEntry, ZipWriter
from nvr.storage.durable import fsync_dir
from nvr.storage.exports_catalog import ExportJob

__all__ = ["BundleTask", "checkpoint_path", "part_path", "write_bundle"]

README = """This is an evidence bundle exported by nvr.

clips/            the footage, one MP4 per camera (more if the camera's format changed), copied
                  from the recorded files without re-encoding
manifest.json     what was exported: cameras, requested and actual time ranges, gaps, the source
                  segments with their SHA-256 from the catalog, every file's SHA-256, who, when, why
manifest.json.sig Ed25519 signature of manifest.json (64 raw bytes) by the installation's key
public-key.pem    that key's public half; compare its fingerprint (in manifest.json) with the
                  one the nvr installation shows on its Exports page

Check it with:  nvr verify BUNDLE.zip
or with OpenSSL 3:  openssl pkeyutl -verify -pubin -inkey public-key.pem -rawin \\
                      -in manifest.json -sigfile manifest.json.sig
                    sha256sum clips/*   (compare with manifest.json "files")
"""


@dataclass
class BundleTask:
    """Everything one attempt needs; runs on a worker thread (blocking I/O)."""

    job: ExportJob
    plans: list[CameraPlan]
    cameras: dict[str, CameraInfo]
    root: Path
    key: SigningKey
    now_us: Callable[[], int]
    progress: Callable[[int], None]
    cancel: threading.Event | None = None


def part_path(bundle: Path) -> Path:
    return bundle.with_name(bundle.name + ".part")


def checkpoint_path(bundle: Path) -> Path:
    return bundle.with_name(bundle.name + ".part.json")


def _load_checkpoint(bundle: Path, job: ExportJob) -> dict[str, Any] | None:
    try:
        state = json.loads(checkpoint_path(bundle).read_text(encoding="utf-8"))
        if state.get("job") != job.id or part_path(bundle).stat().st_size < state["position"]:
            return None
        return state
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _save_checkpoint(bundle: Path, state: dict[str, Any]) -> None:
    path = checkpoint_path(bundle)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(state, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


def write_bundle(task: BundleTask) -> dict[str, Any]:
    """Write (or finish) the job's bundle at ``job.output_path``; return a summary for the job row."""
    bundle = Path(task.job.output_path)
    bundle.parent.mkdir(parents=True, exist_ok=True)
    state = _load_checkpoint(bundle, task.job) or {"job": task.job.id, "position": 0, "entries": [], "cameras": {}}
    fd = os.open(part_path(bundle), os.O_WRONLY | os.O_CREAT, 0o640)
    try:
        os.ftruncate(fd, state["position"])
        os.lseek(fd, state["position"], os.SEEK_SET)
        out = _Output(fd)
        zip_ = ZipWriter(out.write, position=state["position"],
                         entries=[ZipEntry.from_json(e) for e in state["entries"]], stamp=task.job.created_at / 1e6)
        for plan in task.plans:
            if plan.camera in state["cameras"]:
                task.progress(plan.source_bytes)
                continue
            clips = [_write_clip(zip_, plan_clip, task) for plan_clip in plan.clips]
            os.fsync(fd)
            state["cameras"][plan.camera] = camera_entry(plan, task.cameras.get(plan.camera, CameraInfo()), clips)
            state.update(position=zip_.position, entries=[e.as_json() for e in zip_.entries])
            _save_checkpoint(bundle, state)
        cameras = [state["cameras"][plan.camera] for plan in task.plans]
        files = [{"name": c["file"], "sha256": c["sha256"], "size_bytes": c["size_bytes"]}
                 for camera in cameras for c in camera["clips"]]
        extra = {PUBLIC_KEY: task.key.public_pem, "README.txt": README.encode()}
        files += [{"name": n, "sha256": hashlib.sha256(d).hexdigest(), "size_bytes": len(d)} for n, d in extra.items()]
        document = encode(manifest(task.job, cameras, files, task.key.fingerprint, task.now_us()))
        zip_.add(MANIFEST, document)
        zip_.add(SIGNATURE, task.key.sign(document))
        for name, data in extra.items():
            zip_.add(name, data)
        zip_.close()
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(part_path(bundle), bundle)
    fsync_dir(bundle.parent)
    checkpoint_path(bundle).unlink(missing_ok=True)
    return {"bundle": str(bundle), "size_bytes": bundle.stat().st_size,
            "manifest_sha256": hashlib.sha256(document).hexdigest(), "fingerprint": task.key.fingerprint,
            "clips": len(files) - len(extra), "gaps": sum(len(c["gaps"]) for c in cameras),
            "gap_seconds": sum(c["gap_seconds"] for c in cameras)}


def _write_clip(zip_: ZipWriter, clip: Any, task: BundleTask) -> dict[str, Any]:
    builder = ClipBuilder(clip, task.root, progress=task.progress, cancel=task.cancel)
    digest = hashlib.sha256()
    zip_.begin("clips/" + clip.name)
    for piece in ahead(builder):  # reading and source hashing on one thread, writing and hashing here
        zip_.write(piece)
        digest.update(piece)
    entry = zip_.end()
    return clip_entry(clip, builder.result, entry.size, digest.hexdigest())


class _Output:
    """Writes to the ``.part`` file and starts the kernel's write-back every 64 MB.

    Without the hint Linux holds a whole bundle in dirty pages (the background
    threshold is a tenth of memory) and the final fsync writes all of it.
    """

    FLUSH_EVERY = 64 << 20

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._unflushed = 0

    def write(self, data: bytes | memoryview) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self.fd, view):]
        self._unflushed += len(data)
        if self._unflushed >= self.FLUSH_EVERY:
            self._unflushed = 0
            os.posix_fadvise(self.fd, 0, 0, os.POSIX_FADV_DONTNEED)  # starts write-back, does not wait
