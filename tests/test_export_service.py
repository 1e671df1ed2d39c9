"""Export jobs end to end on a real catalog and real files: bundles, holds, audit, resume, dead owners."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from nvr.clock import SystemClock
from nvr.config import Config, parse_config
from nvr.export_bundle import checkpoint_path
from nvr.export_plan import ExportInputError, ExportRequest
from nvr.export_service import ExportService, ProgressTracker
from nvr.export_verify import verify_bundle
from nvr.storage.catalog import Catalog, open_catalog
from tests.export_media import T0, record, shown_packets, source_frames_in

S = 1_000_000


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return parse_config('[storage]\nroot = "storage"\n', base_dir=tmp_path).config


@pytest.fixture
async def catalog(tmp_path: Path):
    async with await open_catalog(f"sqlite://{tmp_path / 'catalog.db'}") as cat:
        yield cat


@pytest.fixture
def service(catalog: Catalog, config: Config) -> ExportService:
    return ExportService(catalog, lambda: config, SystemClock(), poll_s=0.05)


async def test_a_multi_camera_bundle(catalog: Catalog, config: Config, service: ExportService, tmp_path: Path) -> None:
    root = config.storage.root
    a = await record(catalog, root, "menteng-1", T0, count=3, kelurahan="Menteng")
    b = await record(catalog, root, "gambir-1", T0, count=1, kelurahan="Gambir")
    b += await record(catalog, root, "gambir-1", T0 + 4 * S, count=1, kelurahan="Gambir")  # gap [2 s, 4 s)
    request = ExportRequest(("menteng-1", "gambir-1"), T0 + 500_000, T0 + 5_500_000, "LP/B/77/2024", "tawuran",
                            hold=True)
    job = await service.submit(request, "penyidik")
    assert job.state == "queued" and len(job.hold_ids) == 2
    done = await service.run_job(job.id)
    assert done is not None and done.state == "done", done and done.error
    assert done.percent == 100 and done.result["clips"] == 2 and done.result["gaps"] == 1

    bundle = Path(done.result["bundle"])
    assert bundle.parent == config.export_dir and bundle.name == f"{job.id}-LP_B_77_2024.zip"
    report = verify_bundle(bundle)
    assert report.ok, report.problems
    manifest = report.manifest
    assert manifest["export"]["case"] == "LP/B/77/2024" and manifest["export"]["requested_by"] == "penyidik"
    assert manifest["software"]["name"] == "nvr" and manifest["signing_key"]["fingerprint"] == service.key.fingerprint
    cams = {c["name"]: c for c in manifest["cameras"]}
    assert [s["sha256"] for s in cams["menteng-1"]["sources"]] == [s.sha256 for s in a]
    assert cams["gambir-1"]["gaps"][0]["start_us"] == T0 + 2 * S and cams["gambir-1"]["gaps"][0]["seconds"] == 2
    assert cams["gambir-1"]["gaps"][0]["at_seconds"] == pytest.approx(1.52)  # 0.48 s .. 2 s, then the gap
    assert cams["menteng-1"]["kelurahan"] == "Menteng" and cams["gambir-1"]["gap_seconds"] == 2
    for cam, segments in (("menteng-1", a), ("gambir-1", b)):
        clip = cams[cam]["clips"][0]
        with zipfile.ZipFile(bundle) as archive:
            out = tmp_path / cam
            out.write_bytes(archive.read(clip["file"]))
        shown = [p[1] for p in shown_packets(out)]
        assert shown == source_frames_in(root, segments, T0 + 500_000, T0 + 5_500_000)
        assert clip["frames"] == len(shown)
        gaps = cams[cam]["gap_seconds"]
        assert clip["duration_seconds"] == pytest.approx(5 - gaps, abs=0.041), "duration = range - gaps (±1 frame)"
    holds = await catalog.active_holds(T0)
    assert {(h.camera_name, h.reason, h.created_by) for h in holds} == {
        ("menteng-1", "export LP/B/77/2024", "penyidik"), ("gambir-1", "export LP/B/77/2024", "penyidik")}
    actions = [(e.actor, e.action, e.target) for e in await catalog.audit_entries()]
    assert actions == [("nvr", "export.done", f"export:{job.id}"), ("penyidik", "export.create", f"export:{job.id}")]
    assert not list(config.export_dir.glob("*.part*")), "no .part or checkpoint left"


async def test_a_range_without_footage_writes_nothing(catalog: Catalog, config: Config,
                                                       service: ExportService) -> None:
    await record(catalog, config.storage.root, "menteng-1", T0, count=1)
    with pytest.raises(ExportInputError, match="no footage") as info:
        await service.submit(ExportRequest(("menteng-1",), T0 + 60 * S, T0 + 120 * S, "C-1", "r"), "penyidik")
    assert info.value.status == 422
    assert await catalog.list_export_jobs() == [] and await catalog.audit_entries() == []
    assert await catalog.list_holds() == [] and not config.export_dir.exists()


async def test_resume_after_an_interruption_keeps_finished_cameras(
        catalog: Catalog, config: Config, service: ExportService) -> None:
    root = config.storage.root
    for name in ("cam-a", "cam-b"):
        await record(catalog, root, name, T0, count=3)
    job = await service.submit(ExportRequest(("cam-a", "cam-b"), T0, T0 + 6 * S, "C-2", "r"), "penyidik")
    bundle = Path(job.output_path)

    class StopAfterFirstCamera(ProgressTracker):
        def add(self, n: int) -> None:
            super().add(n)
            if checkpoint_path(bundle).exists():
                service._cancel.set()  # what stop() does at shutdown

    paused = await service.run_job(job.id, StopAfterFirstCamera())
    assert paused is not None and paused.state == "queued" and paused.owner is None
    state = json.loads(checkpoint_path(bundle).read_text())
    assert list(state["cameras"]) == ["cam-a"]

    service._cancel.clear()
    resumed = ProgressTracker()
    done = await service.run_job(job.id, resumed)
    assert done is not None and done.state == "done" and done.attempts == 2
    report = verify_bundle(bundle)
    assert report.ok, report.problems
    assert [c["name"] for c in report.manifest["cameras"]] == ["cam-a", "cam-b"]
    assert report.manifest["export"]["attempts"] == 2


async def test_jobs_of_dead_processes_and_stale_heartbeats_are_taken_over(
        catalog: Catalog, config: Config, service: ExportService) -> None:
    import socket
    import subprocess
    import sys

    await record(catalog, config.storage.root, "cam-a", T0, count=1)
    job = await service.submit(ExportRequest(("cam-a",), T0, T0 + 2 * S, "C-3", "r"), "penyidik")
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    owner = f"{socket.gethostname()}:{dead.stdout.strip()}:abc"
    assert await catalog.claim_export_job(job.id, owner, 30_000_000) is not None
    assert await catalog.claimable_export_jobs(30_000_000) == [], "a fresh heartbeat holds the job"
    assert await service.release_dead_owners() == [job.id]
    assert (await catalog.get_export_job(job.id)).state == "queued"

    alive_owner = f"{socket.gethostname()}:1:abc"  # pid 1 exists: its heartbeat must age instead
    assert await catalog.claim_export_job(job.id, alive_owner, 30_000_000) is not None
    assert await service.release_dead_owners() == []
    assert await catalog.claimable_export_jobs(0) == [job.id], "a heartbeat older than the limit is stale"


async def test_the_service_loop_runs_queued_jobs(catalog: Catalog, config: Config, service: ExportService) -> None:
    import asyncio

    await record(catalog, config.storage.root, "cam-a", T0, count=1)
    await service.start()
    try:
        job = await service.submit(ExportRequest(("cam-a",), T0, T0 + 2 * S, "C-4", "r"), "penyidik")
        for _ in range(200):
            if (await catalog.get_export_job(job.id)).state == "done":
                break
            await asyncio.sleep(0.05)
        assert (await catalog.get_export_job(job.id)).state == "done"
    finally:
        await service.stop()
    assert service.key is not None and config.export_key_file.exists()


async def test_a_changed_source_fails_the_job_and_leaves_nothing(
        catalog: Catalog, config: Config, service: ExportService) -> None:
    segments = await record(catalog, config.storage.root, "cam-a", T0, count=2)
    path = config.storage.root / segments[1].path
    path.write_bytes(path.read_bytes()[:-1] + b"\x00")  # one byte differs from what the catalog recorded
    job = await service.submit(ExportRequest(("cam-a",), T0, T0 + 4 * S, "C-5", "r"), "penyidik")
    failed = await service.run_job(job.id)
    assert failed is not None and failed.state == "failed"
    assert "does not match the catalog" in failed.error and "check-storage" in failed.error
    assert not any(config.export_dir.iterdir()), "no bundle, no .part, no checkpoint"
    [entry] = await catalog.audit_entries(action="export.failed")
    assert entry.target == f"export:{job.id}" and "does not match" in entry.detail["error"]
