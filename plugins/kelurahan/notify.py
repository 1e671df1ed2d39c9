"""Notifications: events and escalations of a kelurahan, handed to the ``kelurahan_notification`` hook, and the
built-in signed webhook delivery with retry, exponential backoff and a delivery log in the catalog."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import time
from collections import OrderedDict
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import aiohttp

from nvr.storage.kelurahan_catalog import Delivery

from .config import SEVERITIES, WebhookConfig
from .regions import scope_matches
from .state import state_of

if TYPE_CHECKING:
    from nvr.models import Event
    from nvr.runtime import Runtime

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-NVR-Signature"
TIMESTAMP_HEADER = "X-NVR-Timestamp"
DELIVERY_HEADER = "X-NVR-Delivery"


@dataclass(frozen=True, slots=True)
class Notification:
    """What a kelurahan should hear about: an ``event`` that started (``change`` ``"started"``) or whose severity
    rose above every level already notified (``change`` ``"severity_raised"``, ``previous_severity`` set), or an
    ``escalation`` of one to an agency."""

    kind: str
    camera: str
    kelurahan: str | None
    kecamatan: str | None
    severity: str
    event: dict[str, Any]
    agency: str | None = None
    note: str | None = None
    by: str | None = None
    change: str | None = None
    previous_severity: str | None = None
    at_us: int = field(default_factory=lambda: time.time_ns() // 1000)

    def payload(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":")).encode()


def signature(secret: bytes, timestamp: str, body: bytes) -> str:
    """``sha256=<hex>`` of HMAC-SHA256 over ``<timestamp>.<body>`` (the receiver recomputes and compares)."""
    return "sha256=" + hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def wants(hook: WebhookConfig, note: Notification) -> bool:
    """Whether a webhook receives a notification: its scope covers the camera, and the severity is high enough
    (an escalation goes to the webhooks of its scope and to those listing its agency)."""
    from .regions import Region

    if note.kind == "escalation" and note.agency in hook.agencies:
        return True
    if hook.scope != "*" and not scope_matches(hook.scope, Region(note.kelurahan, note.kecamatan)):
        return False
    if note.kind == "escalation":
        return True
    return SEVERITIES.index(note.severity) >= SEVERITIES.index(hook.min_severity) if note.severity in SEVERITIES \
        else False


def event_notification(event: Event, runtime: Runtime, kind: str = "event", **extra: Any) -> Notification:
    from nvr.web.routes.events import event_json

    state = state_of(runtime)
    camera = runtime.config.camera(event.camera)
    region = state.region_of(camera) if state is not None and camera is not None else None
    return Notification(kind=kind, camera=event.camera, kelurahan=region.kelurahan if region else None,
                        kecamatan=region.kecamatan if region else None, severity=event.severity,
                        event=event_json(event), **extra)


def rank(severity: str | None) -> int:
    """Order of a severity (-1 for none or an unknown one)."""
    return SEVERITIES.index(severity) if severity in SEVERITIES else -1


REMEMBERED_EVENTS = 10_000
"""Events whose severities the notifier keeps in memory; an older one is looked up in the delivery log again."""


class Notifier:
    """Sends notifications through the hook, and delivers the plugin's own webhooks in background tasks."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._tasks: set[asyncio.Task] = set()
        self._session: aiohttp.ClientSession | None = None
        self._levels: OrderedDict[int, tuple[str | None, str | None]] = OrderedDict()
        """Per event id: (the severity last seen, the highest severity notified)."""
        self._lookup = asyncio.Lock()

    def _remember(self, event_id: int, last: str | None, top: str | None) -> None:
        self._levels[event_id] = (last, top)
        self._levels.move_to_end(event_id)
        while len(self._levels) > REMEMBERED_EVENTS:
            self._levels.popitem(last=False)

    def event(self, event: Event, runtime: Runtime) -> None:
        """An event started: tell every ``kelurahan_notification`` implementation (never waits)."""
        if event.id is not None:
            self._remember(event.id, event.severity, event.severity)
        self.send(event_notification(event, runtime, change="started"))

    def seen(self, event: Event) -> None:
        """Note an event's severity before something changes it (an escalation), so a rise names what it was."""
        if event.id is not None and event.id not in self._levels:
            self._remember(event.id, event.severity, None)

    async def updated(self, event: Event, runtime: Runtime) -> Notification | None:
        """An event changed: notify once per rise of its severity above every level notified for it so far
        (a drop, or a rise back to a level already notified, is not notified). What was notified before a
        restart comes from the delivery log."""
        if event.id is None:
            return None
        known = self._levels.get(event.id)
        if known is not None and known[0] == event.severity:
            return None  # the common case (a better score, a later end): no catalog access
        async with self._lookup:  # one look-up per event; updates are decided in the order they came
            known = self._levels.get(event.id)
            if known is None or known[1] is None:
                delivered = [json.loads(d.payload).get("severity")
                             for d in await self.runtime.catalog.event_deliveries(event.id)]
                top = max(delivered, key=rank, default=None)
                if known is None and top is None:  # started before this server knew it: its level now is the base
                    self._remember(event.id, event.severity, event.severity)
                    return None
                known = (known[0] if known is not None else top, top)
            last, top = known
            if rank(event.severity) <= rank(top):
                self._remember(event.id, event.severity, top)
                return None
            self._remember(event.id, event.severity, event.severity)
        note = event_notification(event, runtime, change="severity_raised", previous_severity=last)
        self.send(note)
        return note

    def send(self, note: Notification) -> None:
        self.runtime.plugins.notify("kelurahan_notification", notification=note, runtime=self.runtime)

    def deliver_all(self, note: Notification, webhooks: list[WebhookConfig]) -> None:
        for hook in webhooks:
            if wants(hook, note):
                self._spawn(self.deliver(hook, note), hook.name)

    async def deliver(self, hook: WebhookConfig, note: Notification) -> None:
        """Log the delivery, then try it."""
        body = note.payload()
        record = await self.runtime.catalog.add_delivery(hook.name, note.kind, note.event.get("id"), body.decode())
        await self._attempts(hook, record.id, body, 0)

    def resume(self, webhooks: list[WebhookConfig], pending: list[Delivery]) -> int:
        """Carry on with deliveries a stopped server left ``pending`` (same id and body; tries counted on)."""
        hooks = {h.name: h for h in webhooks}
        resumed = 0
        for record in pending:
            hook = hooks.get(record.webhook)
            if hook is not None and record.attempts < hook.attempts:
                self._spawn(self._attempts(hook, record.id, record.payload.encode(), record.attempts), hook.name)
                resumed += 1
        return resumed

    def _spawn(self, coro: Any, name: str) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=f"webhook-{name}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _attempts(self, hook: WebhookConfig, delivery_id: int, body: bytes, done: int) -> None:
        """POST until a 2xx answer or ``attempts`` tries, waiting ``backoff_s * 2**(n-1)`` after the n-th failure."""
        catalog = self.runtime.catalog
        if self._session is None:
            self._session = aiohttp.ClientSession()
        secret = hook.secret.get_secret_value().encode()
        for attempt in range(done + 1, hook.attempts + 1):
            timestamp = str(int(time.time()))
            headers = {"Content-Type": "application/json", TIMESTAMP_HEADER: timestamp,
                       SIGNATURE_HEADER: signature(secret, timestamp, body), DELIVERY_HEADER: str(delivery_id)}
            status: int | None = None
            error: str | None = None
            try:
                async with self._session.post(hook.url, data=body, headers=headers,
                                              timeout=aiohttp.ClientTimeout(total=hook.timeout_s)) as resp:
                    status = resp.status
                    if 200 <= resp.status < 300:
                        await catalog.update_delivery(delivery_id, "delivered", attempt, status, None)
                        return
                    error = f"HTTP {resp.status}"
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                error = f"{type(exc).__name__}: {exc}"[:300]
            last = attempt == hook.attempts
            await catalog.update_delivery(delivery_id, "failed" if last else "pending", attempt, status, error)
            log.warning("webhook %s: delivery %d try %d failed: %s", hook.name, delivery_id, attempt, error)
            if not last:
                await asyncio.sleep(hook.backoff_s * 2 ** (attempt - 1))

    async def drain(self, timeout: float = 5.0) -> None:
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=timeout)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
