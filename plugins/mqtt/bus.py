"""The MQTT publisher: a bounded queue (oldest dropped, counted), retained states, reconnect with backoff."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiomqtt

from .config import MqttConfig
from .payloads import OFFLINE, ONLINE, Message, availability_topic

log = logging.getLogger(__name__)

Health = Callable[[str | None], None]
"""Told the reason the bus is unhealthy (``None``: healthy again)."""


@dataclass
class BusStats:
    """Counters shown in the plugin status and the docs' benchmark."""

    queued: int = 0
    published: int = 0
    dropped: int = 0
    connects: int = 0
    failures: int = 0
    connected: bool = False
    last_error: str | None = None
    last_change: float = 0.0


class MqttBus:
    """Publishes from one task; ``publish`` and ``set_state`` (event loop) never wait for the broker."""

    def __init__(self, cfg: MqttConfig, on_health: Health | None = None) -> None:
        self.cfg = cfg
        self.stats = BusStats(last_change=time.time())
        self._queue: deque[Message] = deque()
        self._states: dict[str, Message] = {}
        self._dirty: dict[str, Message] = {}
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._on_health = on_health
        self._warned_drop = False

    # -- event loop side -------------------------------------------------------

    def publish(self, message: Message) -> None:
        """Queue ``message``; when the queue is full the oldest message is dropped and counted."""
        if len(self._queue) >= self.cfg.queue_size:
            self._queue.popleft()
            self.stats.dropped += 1
            if not self._warned_drop:
                self._warned_drop = True
                log.warning("mqtt: queue full (%d messages): dropping the oldest until the broker is back",
                            self.cfg.queue_size)
        self._queue.append(message)
        self.stats.queued = len(self._queue)
        self._wake.set()

    def set_state(self, key: str, message: Message) -> None:
        """Set the retained message under ``key`` (one per camera); only the newest is ever published."""
        self._states[key] = message
        self._dirty[key] = message
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="mqtt-bus")

    async def stop(self, timeout: float = 2.0) -> None:
        """Publish what is queued (for at most ``timeout`` s), mark the node offline, disconnect."""
        self._stopping = True
        self._wake.set()
        if self._task is None:
            return
        done, _ = await asyncio.wait([self._task], timeout=timeout)
        if not done:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def status(self) -> dict[str, Any]:
        s = self.stats
        return {"broker": f"{self.cfg.host}:{self.cfg.port}", "connected": s.connected, "queued": len(self._queue),
                "published": s.published, "dropped": s.dropped, "connects": s.connects, "failures": s.failures,
                "last_error": s.last_error}

    # -- the publishing task ---------------------------------------------------

    def _client(self) -> aiomqtt.Client:
        cfg = self.cfg
        tls = aiomqtt.TLSParameters(ca_certs=cfg.ca_file, certfile=cfg.cert_file, keyfile=cfg.key_file) \
            if cfg.tls else None
        return aiomqtt.Client(
            cfg.host, cfg.port, identifier=cfg.identifier, username=cfg.username,
            password=cfg.password.get_secret_value() if cfg.password is not None else None,
            will=aiomqtt.Will(availability_topic(cfg), OFFLINE, qos=cfg.qos, retain=True),
            keepalive=cfg.keepalive_s, timeout=cfg.publish_timeout_s, tls_params=tls,
            tls_insecure=cfg.tls_insecure if cfg.tls else None, logger=log)

    async def _run(self) -> None:
        delay = self.cfg.reconnect_min_s
        while not self._stopping:
            try:
                async with self._client() as client:
                    self._up()
                    delay = self.cfg.reconnect_min_s
                    await self._send(client, Message(availability_topic(self.cfg), ONLINE.encode(), retain=True))
                    self._dirty = dict(self._states)  # the broker may have lost its retained messages
                    await self._drain(client)
                    await self._send(client, Message(availability_topic(self.cfg), OFFLINE.encode(), retain=True))
                    return
            except aiomqtt.MqttError as exc:
                self._down(exc)
            except OSError as exc:  # TLS files unreadable, and the like
                self._down(exc)
            if self._stopping:
                return
            await self._sleep(delay * random.uniform(0.8, 1.2))
            delay = min(delay * 2, self.cfg.reconnect_max_s)

    async def _sleep(self, seconds: float) -> None:
        """Wait before reconnecting; a stop ends the wait."""
        self._wake.clear()
        if not self._stopping:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop_requested(), seconds)

    async def _stop_requested(self) -> None:
        while not self._stopping:
            await self._wake.wait()
            self._wake.clear()

    async def _drain(self, client: aiomqtt.Client) -> None:
        """Publish states, then queued messages, until a stop empties both; raise MqttError on a lost link."""
        lost: asyncio.Future[None] = client._disconnected  # noqa: SLF001 - aiomqtt exposes no public signal
        while True:
            if self._dirty:
                key, message = next(iter(self._dirty.items()))
                await self._send(client, message)
                if self._dirty.get(key) is message:
                    del self._dirty[key]
            elif self._queue:
                message = self._queue[0]
                await self._send(client, message)
                if self._queue and self._queue[0] is message:
                    self._queue.popleft()
                self.stats.queued = len(self._queue)
            elif self._stopping:
                return
            else:
                self._wake.clear()
                waiter = asyncio.ensure_future(self._wake.wait())
                await asyncio.wait([waiter, lost], return_when=asyncio.FIRST_COMPLETED)
                waiter.cancel()
                if lost.done():
                    raise aiomqtt.MqttError(f"connection lost: {lost.exception() or 'closed by the broker'}")

    async def _send(self, client: aiomqtt.Client, message: Message) -> None:
        await client.publish(message.topic, message.payload, qos=self.cfg.qos, retain=message.retain)
        self.stats.published += 1

    # -- health ----------------------------------------------------------------

    def _up(self) -> None:
        s = self.stats
        s.connected, s.connects, s.last_error, s.last_change = True, s.connects + 1, None, time.time()
        self._warned_drop = False
        log.info("mqtt: connected to %s:%d as %s (%d queued)", self.cfg.host, self.cfg.port, self.cfg.identifier,
                 len(self._queue))
        if self._on_health:
            self._on_health(None)

    def _down(self, exc: BaseException) -> None:
        s = self.stats
        was_connected = s.connected
        s.connected, s.failures, s.last_error = False, s.failures + 1, f"{type(exc).__name__}: {exc}"
        s.last_change = time.time()
        reason = f"broker {self.cfg.host}:{self.cfg.port} unreachable: {exc} ({len(self._queue)} queued, " \
                 f"{s.dropped} dropped)"
        if was_connected or s.failures == 1:
            log.warning("mqtt: %s; reconnecting with backoff", reason)
        else:
            log.debug("mqtt: %s", reason)
        if self._on_health:
            self._on_health(reason)
