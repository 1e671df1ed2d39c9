"""Benchmarks' event-loop lag probe: how late a loop runs a 50 ms timer (what else held it, or the CPU)."""

from __future__ import annotations

import asyncio

TICK_S = 0.05


class LoopLag:
    """Started on the running loop; ``lags`` holds each tick's lateness in seconds."""

    def __init__(self) -> None:
        self.lags: list[float] = []
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            t = loop.time()
            await asyncio.sleep(TICK_S)
            self.lags.append(loop.time() - t - TICK_S)

    def take(self) -> list[float]:
        lags, self.lags = self.lags, []
        return lags

    def cancel(self) -> None:
        self._task.cancel()
