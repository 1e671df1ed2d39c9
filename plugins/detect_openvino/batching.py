"""Gathers the frames of several cameras into one inference: callers block until their batch has run.

The first caller to find no batch forming leads one: it waits until
``size`` frames of the same shape joined or ``wait_s`` passed, runs them
as one batch, and hands each follower its own result. A frame therefore
waits at most ``wait_s`` plus one batch's inference. Frames of another
shape than the forming batch start (or join) a batch of their own.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import numpy as np

R = TypeVar("R")

RunBatch = Callable[[Sequence[np.ndarray]], Sequence[R]]


@dataclass
class _Slot(Generic[R]):
    image: np.ndarray
    done: threading.Event = field(default_factory=threading.Event)
    result: R | None = None
    error: BaseException | None = None


@dataclass
class _Batch(Generic[R]):
    shape: tuple[int, ...]
    slots: list[_Slot[R]] = field(default_factory=list)
    closed: bool = False


@dataclass
class BatchStats:
    """How full the batches were: ``frames / batches`` is the mean batch size."""

    batches: int = 0
    frames: int = 0
    waited_s: float = 0.0


class Batcher(Generic[R]):
    """Thread-safe: ``run(image)`` from any number of threads; ``run_batch`` gets 1..``size`` same-shape images."""

    def __init__(self, run_batch: RunBatch[R], size: int, wait_s: float) -> None:
        if size < 1:
            raise ValueError("a batch holds at least one frame")
        self.size, self.wait_s = size, wait_s
        self._run_batch = run_batch
        self._cond = threading.Condition()
        self._forming: dict[tuple[int, ...], _Batch[R]] = {}
        self.stats = BatchStats()

    def run(self, image: np.ndarray) -> R:
        slot: _Slot[R] = _Slot(image)
        with self._cond:
            batch = self._forming.get(image.shape)
            lead = batch is None
            if batch is None:
                batch = self._forming[image.shape] = _Batch(image.shape)
            batch.slots.append(slot)
            if len(batch.slots) >= self.size:
                self._close(batch)
                self._cond.notify_all()
            if lead:
                started = time.monotonic()
                deadline = started + self.wait_s
                while not batch.closed and (left := deadline - time.monotonic()) > 0:
                    self._cond.wait(left)
                self._close(batch)
                self.stats.waited_s += time.monotonic() - started
        if lead:
            self._execute(batch.slots)
        else:
            slot.done.wait()
        if slot.error is not None:
            raise slot.error
        return slot.result  # type: ignore[return-value]

    def _close(self, batch: _Batch[R]) -> None:
        """No frame joins ``batch`` any more (called with the lock held)."""
        batch.closed = True
        if self._forming.get(batch.shape) is batch:
            del self._forming[batch.shape]

    def _execute(self, slots: list[_Slot[R]]) -> None:
        try:
            results = self._run_batch([s.image for s in slots])
            if len(results) != len(slots):
                raise RuntimeError(f"a batch of {len(slots)} frames gave {len(results)} results")
            for slot, result in zip(slots, results, strict=True):
                slot.result = result
        except BaseException as exc:  # every frame of the batch gets the error
            for slot in slots:
                slot.error = exc
        finally:
            with self._cond:
                self.stats.batches += 1
                self.stats.frames += len(slots)
            for slot in slots:
                slot.done.set()
