"""Notifications: the kelurahan_notification hook, and signed webhooks with retry and backoff, delivered to a
real aiohttp receiver on 127.0.0.1 (fails twice, then succeeds); escalation of an event to its agency."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator

from aiohttp import web

from nvr.hookspecs import hookimpl
from nvr.storage.events_catalog import NewEvent
from nvr.users import create_user
from tests.web.test_auth import client, csrf_of, login

SECRET = "webhook-secret-of-rw05"


@contextlib.asynccontextmanager
async def receiver(fail_first: int, fail_once: str | None = None) -> AsyncIterator[tuple[str, list[dict]]]:
    """A webhook receiver on 127.0.0.1 answering 500 to the first ``fail_first`` requests, and to the first try of
    each delivery whose body holds ``fail_once``."""
    got: list[dict] = []

    async def hook(request: web.Request) -> web.Response:
        body = await request.read()
        tries = sum(1 for g in got if g["headers"]["X-NVR-Delivery"] == request.headers["X-NVR-Delivery"])
        got.append({"body": body, "headers": dict(request.headers), "at": time.monotonic(), "path": request.path})
        failing = len(got) <= fail_first or (fail_once is not None and fail_once in body.decode() and not tries)
        return web.Response(status=500 if failing else 200)

    app = web.Application()
    app.router.add_post("/{name}", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}", got
    finally:
        await runner.cleanup()


class Gateway:
    """A third-party plugin (a WhatsApp gateway, say) that implements the notification hook."""

    def __init__(self) -> None:
        self.notes: list = []

    @hookimpl
    def kelurahan_notification(self, notification, runtime) -> None:
        self.notes.append(notification)


def config(url: str) -> str:
    return f'''
[[cameras]]
name = "menteng1"
kelurahan = "Menteng"
enabled = false
stream = {{ main = "rtsp://127.0.0.1:9/menteng1" }}
[[cameras]]
name = "gambir1"
kelurahan = "Gambir"
enabled = false
stream = {{ main = "rtsp://127.0.0.1:9/gambir1" }}
[[plugins.kelurahan.kota]]
name = "Jakarta Pusat"
[[plugins.kelurahan.kota.kecamatan]]
name = "Menteng"
kelurahan = ["Menteng"]
[[plugins.kelurahan.webhooks]]
name = "rw05"
url = "{url}/rw05"
secret = "{SECRET}"
scope = "kecamatan:Menteng"
min_severity = "high"
backoff_s = 0.2
[[plugins.kelurahan.webhooks]]
name = "damkar"
url = "{url}/damkar"
secret = "{SECRET}"
scope = "Nowhere"
agencies = ["Damkar"]
backoff_s = 0.2
'''


async def until(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


def signed_ok(item: dict) -> bool:
    ts, sig = item["headers"]["X-NVR-Timestamp"], item["headers"]["X-NVR-Signature"]
    want = "sha256=" + hmac.new(SECRET.encode(), ts.encode() + b"." + item["body"], hashlib.sha256).hexdigest()
    return hmac.compare_digest(sig, want)


async def test_hook_kelurahan_notification(write_config, start_server) -> None:
    gateway = Gateway()
    async with receiver(fail_first=2) as (url, got):
        async with start_server(write_config(config(url)), plugins=[("gateway", gateway)]) as server:
            runtime, catalog = server.runtime, server.runtime.catalog
            events = {}
            for cam, severity in (("menteng1", "high"), ("menteng1", "low"), ("gambir1", "critical")):
                await catalog.upsert_camera(cam)
                events[(cam, severity)] = ev = await catalog.open_event(NewEvent(
                    camera=cam, kind="crowd", label="person", score=0.9, start_us=1_000_000, end_us=2_000_000,
                    severity=severity, agency="Satpol PP"))
                runtime.plugins.notify("event_started", event=ev, runtime=runtime)  # as analysis does
            await until(lambda: len(gateway.notes) == 3)
            await until(lambda: len(got) == 3)  # only menteng1/high is for rw05: two failures, then delivered
            await asyncio.sleep(0.5)  # nothing else arrives
            assert len(got) == 3
            assert {(n.camera, n.severity, n.kelurahan, n.kecamatan) for n in gateway.notes} == {
                ("menteng1", "high", "Menteng", "Menteng"), ("menteng1", "low", "Menteng", "Menteng"),
                ("gambir1", "critical", "Gambir", None)}
            assert all(signed_ok(g) for g in got) and {g["path"] for g in got} == {"/rw05"}
            assert len({g["body"] for g in got}) == 1 and len({g["headers"]["X-NVR-Delivery"] for g in got}) == 1
            payload = json.loads(got[0]["body"])
            assert (payload["kind"], payload["camera"], payload["severity"], payload["event"]["id"]) == (
                "event", "menteng1", "high", events[("menteng1", "high")].id)
            gaps = [b["at"] - a["at"] for a, b in zip(got, got[1:], strict=False)]
            assert gaps[0] >= 0.18 and gaps[1] >= 0.36, f"backoff doubles: {gaps}"
            (delivery,) = await catalog.list_deliveries("rw05")
            assert (delivery.state, delivery.attempts, delivery.last_status) == ("delivered", 3, 200)
            forged = dict(got[0], body=got[0]["body"].replace(b"high", b"low"))
            assert not signed_ok(forged)


async def test_escalation_reaches_the_agency(write_config, start_server) -> None:
    async with receiver(fail_first=0) as (url, got):
        async with start_server(write_config(config(url))) as server:
            catalog = server.runtime.catalog
            await catalog.upsert_camera("menteng1")
            ev = await catalog.open_event(NewEvent(camera="menteng1", kind="fire", label="smoke", score=0.8,
                                                   start_us=1_000_000, end_us=2_000_000, severity="medium"))
            await create_user(catalog, "piket", "piket-password", "duty_officer", "Menteng")
            async with client() as s:
                await login(s, server.url, "piket", "piket-password")
                async with s.get(server.url + "kelurahan") as page:
                    assert page.status == 200
                    token = csrf_of(await page.text())
                headers = {"X-CSRF-Token": token}
                api = server.url + f"api/kelurahan/events/{ev.id}/escalate"
                async with s.post(api, json={"note": "asap tebal"}, headers=headers) as resp:
                    assert resp.status == 400 and (await resp.json())["field"] == "agency"  # no agency on it
                async with s.post(api, json={"agency": "Damkar", "note": "asap tebal"}, headers=headers) as resp:
                    assert resp.status == 201, await resp.text()
                    assert (await resp.json())["by"] == "piket"
                async with s.post(server.url + f"api/events/{ev.id}/ack", json={"note": "dicek"},
                                  headers=headers) as resp:
                    assert resp.status == 200  # the duty officer acknowledges (the core's ack)
                async with s.get(server.url + "kelurahan") as page:
                    html = await page.text()
                    assert "piket" in html and "dicek" in html
                async with s.get(server.url + f"events/{ev.id}") as page:  # the plugin's fragment links the form
                    html = await page.text()
                    assert f'href="/kelurahan/events/{ev.id}/escalate"' in html
                start, end = ev.footage  # ... and a share of the event's clip, the form filled in
                query = f"camera=menteng1&amp;kind=clip&amp;start_us={start}&amp;end_us={end}"
                assert f'href="/kelurahan/shares?{query}"' in html
                async with s.get(server.url + "kelurahan/shares?" + query.replace("&amp;", "&")) as page:
                    html = await page.text()
                    assert f'value="{start}"' in html and '<option value="clip" selected>' in html
                form = {"csrf_token": token, "camera": "menteng1", "kind": "clip", "start_us": str(start),
                        "end_us": str(end), "hours": "9999"}
                async with s.post(server.url + "kelurahan/shares", data=form) as resp:
                    assert resp.status == 400 and "hours: more than 0 and at most 72" in await resp.text()
                async with s.post(server.url + "kelurahan/shares", data=form | {"hours": "1"},
                                  allow_redirects=False) as resp:
                    assert resp.status == 303
                (share,) = await catalog.list_shares()
                assert (share.kind, share.start_us, share.end_us, share.created_by) == ("clip", start, end, "piket")
                form_url = server.url + f"kelurahan/events/{ev.id}/escalate"
                async with s.get(form_url) as page:
                    html = await page.text()
                    assert page.status == 200 and "Damkar by piket" in html
                async with s.post(form_url, data={"csrf_token": token, "agency": ""}) as resp:
                    assert resp.status == 400 and "agency" in await resp.text()
                async with s.post(form_url, data={"csrf_token": token, "agency": "Satpol PP", "note": "jaga"},
                                  allow_redirects=False) as resp:
                    assert resp.status == 303 and resp.headers["Location"] == f"/events/{ev.id}"
            await until(lambda: len(got) == 3)  # Damkar: rw05 (its scope) and damkar (its agency); Satpol PP: rw05
            assert sorted(g["path"] for g in got) == ["/damkar", "/rw05", "/rw05"]
            assert {json.loads(g["body"])["kind"] for g in got} == {"escalation"}
            esc, esc2 = await catalog.escalations((ev.id,))
            assert (esc.agency, esc.note, esc.escalated_by) == ("Damkar", "asap tebal", "piket")
            assert (esc2.agency, esc2.note) == ("Satpol PP", "jaga")
            audit = await catalog.audit_entries(action="event.escalate")
            assert audit and audit[0].actor == "piket"


async def test_pending_deliveries_resume_after_a_restart(write_config, start_server) -> None:
    async with receiver(fail_first=0) as (url, got):
        path = write_config(config(url))
        async with start_server(path) as server:  # creates the catalog
            catalog_url = server.runtime.config.catalog_url
        from nvr.storage.catalog import open_catalog

        async with await open_catalog(catalog_url) as catalog:  # what a server stopped mid-retry left
            pending = await catalog.add_delivery("rw05", "event", None, '{"kind":"event"}')
            await catalog.update_delivery(pending.id, "pending", 2, 500, "HTTP 500")
            await catalog.add_delivery("gone", "event", None, "{}")  # a webhook no longer configured
        async with start_server(path) as server:
            await until(lambda: len(got) == 1)
            assert got[0]["body"] == b'{"kind":"event"}' and signed_ok(got[0])
            assert got[0]["headers"]["X-NVR-Delivery"] == str(pending.id)
            deadline = time.monotonic() + 5
            while (d := (await server.runtime.catalog.list_deliveries("rw05"))[0]).state != "delivered":
                assert time.monotonic() < deadline
                await asyncio.sleep(0.05)
            assert d.attempts == 3  # the two before the restart count


def raises(got: list[dict]) -> list[dict]:
    """The bodies of the severity_raised deliveries received, in order (one per delivery, not per try)."""
    out, seen = [], set()
    for g in got:
        payload = json.loads(g["body"])
        if payload.get("change") == "severity_raised" and g["headers"]["X-NVR-Delivery"] not in seen:
            seen.add(g["headers"]["X-NVR-Delivery"])
            out.append(payload)
    return out


async def test_an_escalation_that_raises_the_severity_notifies_each_rise_once(write_config, start_server) -> None:
    gateway = Gateway()
    async with receiver(fail_first=0, fail_once='"previous_severity":"medium"') as (url, got):  # 1st rise: retried
        async with start_server(write_config(config(url)), plugins=[("gateway", gateway)]) as server:
            runtime, catalog = server.runtime, server.runtime.catalog
            await catalog.upsert_camera("menteng1")
            ev = await catalog.open_event(NewEvent(camera="menteng1", kind="crowd", label="person", score=0.7,
                                                   start_us=1_000_000, end_us=2_000_000, severity="medium"))
            runtime.plugins.notify("event_started", event=ev, runtime=runtime)  # medium: below rw05's "high"
            await until(lambda: len(gateway.notes) == 1)
            assert gateway.notes[0].change == "started"
            await create_user(catalog, "piket", "piket-password", "duty_officer", "Menteng")
            async with client() as s:
                await login(s, server.url, "piket", "piket-password")
                async with s.get(server.url + "kelurahan") as page:
                    headers = {"X-CSRF-Token": csrf_of(await page.text())}
                api = server.url + f"api/kelurahan/events/{ev.id}/escalate"
                async with s.post(api, json={"agency": "Satpol PP", "severity": "urgent"}, headers=headers) as resp:
                    assert resp.status == 400
                for severity in ("high", "high", "low", "critical", "high"):
                    async with s.post(api, json={"agency": "Satpol PP", "severity": severity},
                                      headers=headers) as resp:
                        assert resp.status == 201, await resp.text()
                    await runtime.plugins.drain()
                form = server.url + f"kelurahan/events/{ev.id}/escalate"
                async with s.get(form) as page:
                    assert '<option value="critical">' in await page.text()
            await until(lambda: len(raises(got)) == 2)
            first, second = raises(got)
            assert (first["previous_severity"], first["severity"], first["kind"]) == ("medium", "high", "event")
            assert (second["previous_severity"], second["severity"]) == ("high", "critical")
            assert first["event"]["id"] == second["event"]["id"] == ev.id and all(signed_ok(g) for g in got)
            assert (await catalog.get_event(ev.id)).severity == "critical"  # never lowered by "low" or "high"
            ups = [(n.previous_severity, n.severity) for n in gateway.notes if n.change == "severity_raised"]
            assert ups == [("medium", "high"), ("high", "critical")]  # the hook sees exactly the rises
            await until(lambda: sum(1 for g in got if json.loads(g["body"])["kind"] == "escalation") >= 5)
            await server.runtime.extras["kelurahan"].services["notifier"].drain()
            logged = await catalog.event_deliveries(ev.id)
            assert [(json.loads(d.payload)["severity"], d.state) for d in logged] == [
                ("high", "delivered"), ("critical", "delivered")]
            assert (logged[0].attempts, logged[1].attempts) == (2, 1)  # the failed first try, then the retry
            audit = await catalog.audit_entries(action="event.escalate")
            assert {a.detail.get("severity") for a in audit} == {None, "high", "critical"}


async def test_severity_rises_of_an_open_event_notify_once_per_level_even_after_a_restart(
        write_config, start_server) -> None:
    async with receiver(fail_first=0) as (url, got):
        path = write_config(config(url))
        async with start_server(path) as server:
            runtime, catalog = server.runtime, server.runtime.catalog
            await catalog.upsert_camera("menteng1")
            ev = await catalog.open_event(NewEvent(camera="menteng1", kind="crowd", label="person", score=0.7,
                                                   start_us=1_000_000, end_us=2_000_000, severity="high"))
            runtime.plugins.notify("event_started", event=ev, runtime=runtime)
            await until(lambda: len(got) == 1)
            for severity, score in (("high", 0.8), ("medium", 0.8), ("high", 0.9), ("critical", 0.9),
                                    ("critical", 0.95), ("high", 0.95), ("critical", 0.99)):
                ev = await catalog.update_event(ev.id, severity=severity, score=score)
                runtime.plugins.notify("event_updated", event=ev, runtime=runtime)  # as analysis does
                await runtime.plugins.drain()
            await until(lambda: len(raises(got)) == 1)
            notifier = runtime.extras["kelurahan"].services["notifier"]
            await notifier.drain()
            (up,) = raises(got)
            assert (up["previous_severity"], up["severity"]) == ("high", "critical")
            assert json.loads(got[0]["body"])["change"] == "started"
            count = len(got)
        async with start_server(path) as server:  # what was delivered is read back from the delivery log
            runtime, catalog = server.runtime, server.runtime.catalog
            for severity in ("high", "critical"):
                ev = await catalog.update_event(ev.id, severity=severity)
                runtime.plugins.notify("event_updated", event=ev, runtime=runtime)
                await runtime.plugins.drain()
            await runtime.extras["kelurahan"].services["notifier"].drain()
            assert len(got) == count  # critical was delivered before the restart: not again
            assert len(await catalog.event_deliveries(ev.id)) == 2
