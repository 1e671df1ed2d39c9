"""The shared ingest thread and the ordered file jobs on the shared pool."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from nvr.ingest_thread import SerialJobs, in_ingest_thread, ingest_loop, submit


def test_one_ingest_loop_in_its_own_thread() -> None:
    loop = ingest_loop()
    assert loop is ingest_loop() and loop.is_running()

    async def where() -> tuple[str, bool, asyncio.AbstractEventLoop]:
        return threading.current_thread().name, in_ingest_thread(), asyncio.get_running_loop()

    name, inside, running = submit(where()).result(5)
    assert (name, inside, running) == ("nvr-ingest", True, loop)
    assert not in_ingest_thread()


async def test_the_ingest_loop_is_not_the_callers() -> None:
    name, loop = await asyncio.wrap_future(submit(_here()))
    assert name == "nvr-ingest" and loop is not asyncio.get_running_loop()


async def _here() -> tuple[str, asyncio.AbstractEventLoop]:
    return threading.current_thread().name, asyncio.get_running_loop()


def test_serial_jobs_run_in_order_and_keep_the_first_error() -> None:
    jobs = SerialJobs()
    seen: list[int] = []

    def step(i: int) -> int:
        time.sleep(0.001 * (5 - i % 5))  # later jobs are quicker: order must still hold
        seen.append(i)
        return i

    futures = [jobs.submit(step, i) for i in range(20)]
    assert [f.result(5) for f in futures] == list(range(20)) and seen == list(range(20))
    assert jobs.error is None

    def boom() -> None:
        raise OSError(28, "No space left on device")

    failed = jobs.submit(boom)
    after = jobs.submit(step, 99)
    with pytest.raises(OSError):
        failed.result(5)
    assert after.result(5) == 99 and isinstance(jobs.error, OSError)


def test_a_slow_job_does_not_hold_up_another_files_jobs() -> None:
    slow, quick = SerialJobs(), SerialJobs()
    release = threading.Event()
    blocked = slow.submit(release.wait, 5)
    assert quick.submit(lambda: "done").result(2) == "done"
    release.set()
    assert blocked.result(5) is True
