"""Export jobs and the audit log in the catalog (every backend), and migration 0004's users rebuild."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from nvr.clock import ManualClock
from nvr.errors import CatalogError
from nvr.storage.catalog import Catalog
from nvr.storage.exports_catalog import NewExportJob
from nvr.storage.migrations import load_migrations
from nvr.storage.sqlite import SqliteCatalog

STALE = 30_000_000


def new(**overrides: object) -> NewExportJob:
    fields = {"cameras": ("cam-a", "cam-b"), "start_us": 1_000, "end_us": 2_000, "case": "LP/1", "reason": "r",
              "created_by": "penyidik", "output_path": "/x/{id}-LP_1.zip", **overrides}
    return NewExportJob(**fields)  # type: ignore[arg-type]


async def test_create_get_list(catalog: Catalog) -> None:
    job = await catalog.create_export_job(new(hold=True))
    assert job.state == "queued" and job.cameras == ("cam-a", "cam-b") and job.hold
    assert job.output_path == f"/x/{job.id}-LP_1.zip" and job.percent == 0 and not job.finished
    second = await catalog.create_export_job(new(case="LP/2"))
    assert [j.id for j in await catalog.list_export_jobs()] == [second.id, job.id]
    assert [j.id for j in await catalog.list_export_jobs(before_id=second.id)] == [job.id]
    assert await catalog.get_export_job(job.id) == job and await catalog.get_export_job(999) is None
    await catalog.set_export_holds(job.id, [4, 5])
    assert (await catalog.get_export_job(job.id)).hold_ids == (4, 5)


@pytest.mark.parametrize("bad", [{"cameras": ()}, {"end_us": 1_000}, {"case": ""}, {"reason": ""}])
async def test_refused_jobs(catalog: Catalog, bad: dict) -> None:
    with pytest.raises(CatalogError):
        await catalog.create_export_job(new(**bad))


async def test_claim_progress_release_finish(catalog: Catalog, clock: ManualClock) -> None:
    job = await catalog.create_export_job(new())
    assert await catalog.claimable_export_jobs(STALE) == [job.id]
    claimed = await catalog.claim_export_job(job.id, "a", STALE)
    assert claimed is not None and claimed.state == "running" and claimed.owner == "a" and claimed.attempts == 1
    assert await catalog.claim_export_job(job.id, "b", STALE) is None, "held by a fresh heartbeat"
    assert await catalog.update_export_progress(job.id, "a", 50, 200)
    assert not await catalog.update_export_progress(job.id, "b", 60, 200), "only the owner reports"
    assert (await catalog.get_export_job(job.id)).percent == 25

    clock.advance(timedelta(seconds=31))
    assert await catalog.claimable_export_jobs(STALE) == [job.id], "the heartbeat went stale"
    taken = await catalog.claim_export_job(job.id, "b", STALE)
    assert taken is not None and taken.owner == "b" and taken.attempts == 2 and taken.bytes_done == 0
    assert await catalog.finish_export_job(job.id, "a", "done") is None, "a lost the job"
    assert await catalog.release_export_job(job.id, "b")
    assert (await catalog.get_export_job(job.id)).state == "queued"

    await catalog.claim_export_job(job.id, "c", STALE)
    await catalog.update_export_progress(job.id, "c", 10, 100)
    done = await catalog.finish_export_job(job.id, "c", "done", result={"bundle": "/x/1.zip"})
    assert done is not None and done.state == "done" and done.finished and done.percent == 100
    assert done.bytes_done == 100 and done.result == {"bundle": "/x/1.zip"} and done.finished_at is not None
    assert await catalog.claimable_export_jobs(0) == []
    assert await catalog.finish_export_job(job.id, None, "failed") is None, "finished jobs stay finished"

    other = await catalog.create_export_job(new())
    failed = await catalog.finish_export_job(other.id, None, "failed", error="no footage")
    assert failed is not None and failed.state == "failed" and failed.error == "no footage"


async def test_audit_log(catalog: Catalog, clock: ManualClock) -> None:
    first = await catalog.audit("penyidik", "export.create", "export:1", {"case": "LP/1"})
    clock.advance(timedelta(seconds=1))
    await catalog.audit("penyidik", "footage.download", "camera:cam-a")
    await catalog.audit("nvr", "export.done", "export:1", {"size": 3})
    entries = await catalog.audit_entries()
    assert [e.action for e in entries] == ["export.done", "footage.download", "export.create"]
    assert entries[-1].id == first and entries[-1].detail == {"case": "LP/1"} and entries[1].detail == {}
    assert entries[1].at > entries[-1].at
    assert [e.action for e in await catalog.audit_entries(target="export:1")] == ["export.done", "export.create"]
    assert [e.actor for e in await catalog.audit_entries(action="footage.download")] == ["penyidik"]
    assert [e.id for e in await catalog.audit_entries(limit=1, before_id=entries[0].id)] == [entries[1].id]
    with pytest.raises(CatalogError):
        await catalog.audit("", "x")


async def test_investigators_and_the_users_rebuild(tmp_path: Path) -> None:
    """Upgrading a catalog from 0003 keeps users, sessions and the cascade, and accepts the new role."""
    path = str(tmp_path / "c.db")
    cat = await SqliteCatalog.open(path, migrations=load_migrations()[:3])
    user = await cat.create_user("piket", "hash", "operator", "Menteng")
    await cat.create_session("token", user.id, "csrf", 10**17)
    await cat.close()
    cat = await SqliteCatalog.open(path)
    try:
        assert await cat.schema_version() >= 4
        assert (await cat.get_user("piket")).kelurahan == "Menteng"
        assert (await cat.get_session("token")).user_id == user.id
        investigator = await cat.create_user("penyidik", "hash", "investigator")
        assert investigator.role == "investigator"
        with pytest.raises(CatalogError):
            await cat.create_user("x", "hash", "superuser")
        await cat.set_user_disabled(user.id, True)
        assert await cat.get_session("token") is None, "sessions still follow their user"
        assert await cat.run_in_worker(lambda c: c.execute("PRAGMA foreign_key_check").fetchall()) == []
    finally:
        await cat.close()
