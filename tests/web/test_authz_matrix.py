"""Authorisation matrix: every route of the app, as every role and scope (and anonymous), against the expectations.

A route that is not in ``ROUTES`` fails the test: adding a page or an API endpoint means deciding here who may
use it. Cameras and events of the other kelurahan must answer 404 (never 403, which would reveal them), and
nothing of the other kelurahan may appear in any body.
"""

from __future__ import annotations

import itertools

import pytest

from nvr.models import SCOPED_ROLES
from nvr.storage.events_catalog import NewEvent, Snapshot
from nvr.users import create_user
from nvr.web.app import create_app
from nvr.web.permissions import ROLE_RANK
from tests.web.test_auth import client, csrf_of, login

pytestmark = pytest.mark.slow

CAMERAS = """
[[cameras]]
name = "menteng1"
kelurahan = "Menteng"
kecamatan = "Menteng"
enabled = false
stream = { main = "rtsp://127.0.0.1:9/menteng1" }
[[cameras]]
name = "kota1"
kelurahan = "Gambir"
kecamatan = "Gambir"
enabled = false
stream = { main = "rtsp://127.0.0.1:9/kota1" }
"""

# (method, path) -> (least role, what the path parameter names: None, "camera", "event", "export", "user";
# or "global": no parameter, but only users of all cameras)
ROUTES: dict[tuple[str, str], tuple[str, str | None]] = {
    ("GET", "/"): ("viewer", None),
    ("GET", "/cameras"): ("viewer", None),
    ("GET", "/cameras/{name}"): ("viewer", "camera"),
    ("POST", "/cameras/{name}/retry"): ("operator", "camera"),
    ("POST", "/api/cameras/{name}/retry"): ("operator", "camera"),
    ("GET", "/events"): ("viewer", None),
    ("GET", "/events/{id}"): ("viewer", "event"),
    ("POST", "/events/{id}/ack"): ("operator", "event"),
    ("GET", "/metrics"): ("viewer", None),
    ("GET", "/api/cameras"): ("viewer", None),
    ("GET", "/api/cameras/{name}/thumbnail.jpg"): ("viewer", "camera"),
    ("GET", "/api/cameras/{name}/timeline"): ("viewer", "camera"),
    ("GET", "/api/cameras/{name}/download.mp4"): ("investigator", "camera"),
    ("GET", "/api/cameras/{name}/play.mp4"): ("viewer", "camera"),
    ("GET", "/api/cameras/{name}/live.mp4"): ("viewer", "camera"),
    ("GET", "/admin"): ("admin", None),
    ("POST", "/admin/users"): ("admin", None),
    ("POST", "/admin/users/{username}"): ("admin", "user"),
    ("GET", "/api/events"): ("viewer", None),
    ("GET", "/api/events/{id}"): ("viewer", "event"),
    ("GET", "/api/events/{id}/snapshot.jpg"): ("viewer", "event"),
    ("POST", "/api/events/{id}/ack"): ("operator", "event"),
    ("GET", "/api/openapi.json"): ("viewer", None),
    ("GET", "/exports"): ("investigator", None),
    ("POST", "/exports"): ("investigator", None),
    ("GET", "/exports/download"): ("investigator", None),
    ("GET", "/api/exports"): ("investigator", None),
    ("POST", "/api/exports"): ("investigator", None),
    ("GET", "/api/exports/{id}"): ("investigator", "export"),
    ("GET", "/api/exports/{id}/bundle.zip"): ("investigator", "export"),
    ("GET", "/api/keys/export"): ("viewer", None),  # a public key: anyone may verify bundles
    ("GET", "/api/audit"): ("admin", "global"),  # the log spans every kelurahan: admins of all cameras only
    ("GET", "/api/devices"): ("admin", "global"),  # discovery spans every kelurahan
    ("POST", "/api/devices/adopt"): ("admin", "global"),
    ("POST", "/admin/devices/adopt"): ("admin", "global"),
    ("POST", "/admin/devices/sweep"): ("admin", "global"),
    ("POST", "/admin/devices/forget"): ("admin", "global"),
    ("POST", "/api/devices/forget"): ("admin", "global"),
    ("GET", "/api/plugins"): ("admin", "global"),  # process-wide health
    ("GET", "/api/users"): ("admin", None),  # an admin bound to a kelurahan: its users only
    ("POST", "/api/users"): ("admin", None),
    ("POST", "/api/users/{username}"): ("admin", "user"),
    ("GET", "/api/storage"): ("admin", None),
    # cluster nodes: an admin bound to a kelurahan sees the nodes but only the holds of its cameras, no URLs
    ("GET", "/api/nodes"): ("admin", None),
    ("GET", "/admin/nodes"): ("admin", None),
    # the built-in lpr plugin (its routes come through the web_routes hook; its roles through permission)
    ("GET", "/api/plates"): ("operator", None),
    ("GET", "/api/plates/{id}"): ("operator", "plate"),
    ("GET", "/api/plates/{id}/crop.jpg"): ("operator", "plate"),
    ("GET", "/api/plates/watchlist"): ("investigator", None),
    ("POST", "/api/plates/watchlist"): ("investigator", None),
    ("DELETE", "/api/plates/watchlist/{id}"): ("investigator", "watch"),
    ("GET", "/api/plates/status"): ("admin", None),
    ("GET", "/plates"): ("operator", None),  # the lpr plugin's search page
    # the built-in complaints plugin: intake is city-wide (the city app's account); the rest is per complaint,
    # whose kelurahan scopes it like a camera's
    ("POST", "/api/complaints"): ("operator", "global"),
    ("GET", "/api/complaints"): ("viewer", None),
    ("GET", "/api/complaints/{id}"): ("viewer", "complaint"),
    ("GET", "/api/complaints/{id}/photo"): ("viewer", "complaint"),
    ("POST", "/api/complaints/{id}/status"): ("operator", "complaint"),
    ("POST", "/api/complaints/{id}/relink"): ("operator", "complaint"),
    ("POST", "/api/complaints/{id}/export"): ("investigator", "complaint"),
    ("GET", "/complaints"): ("viewer", None),
    ("GET", "/complaints/{id}"): ("viewer", "complaint"),
    ("POST", "/complaints/{id}/status"): ("operator", "complaint"),
    ("POST", "/complaints/{id}/export"): ("investigator", "complaint"),
    # the built-in kelurahan plugin (issue 8): dashboard, escalation, share links, delivery log
    ("GET", "/kelurahan"): ("viewer", None),
    ("GET", "/kelurahan/shares"): ("operator", None),
    ("POST", "/kelurahan/shares"): ("operator", None),
    ("POST", "/kelurahan/shares/{id}/revoke"): ("operator", "share"),
    ("GET", "/api/kelurahan/regions"): ("viewer", None),
    ("POST", "/api/kelurahan/events/{id}/escalate"): ("operator", "event"),
    ("GET", "/kelurahan/events/{id}/escalate"): ("operator", "event"),
    ("POST", "/kelurahan/events/{id}/escalate"): ("operator", "event"),
    ("GET", "/api/kelurahan/shares"): ("operator", None),
    ("POST", "/api/kelurahan/shares"): ("operator", None),
    ("DELETE", "/api/kelurahan/shares/{id}"): ("operator", "share"),
    ("GET", "/api/kelurahan/deliveries"): ("admin", "global"),
}
PUBLIC = {("GET", "/login"), ("POST", "/login"), ("GET", "/healthz")}
# no login: the cameras an admin made public, and signed share links (tests/plugins/kelurahan/test_public.py)
PUBLIC |= {("GET", "/public"), ("GET", "/public/cameras/{name}"), ("GET", "/public/cameras/{name}/snapshot.jpg"),
           ("GET", "/share/{token}"), ("GET", "/share/{token}/snapshot.jpg"), ("GET", "/share/{token}/clip.mp4")}
SESSION = {("POST", "/logout")}  # any logged-in user
# no user at all, not even an admin: other cluster nodes, signed with [cluster] secret (tests/test_nodes_footage.py)
NODE = {("GET", "/internal/segments/{id}")}
QUERIES = {"/api/cameras/{name}/timeline": "?start_us=0&end_us=1000000",
           "/api/cameras/{name}/download.mp4": "?start=1000000&end=2000000",
           "/api/cameras/{name}/play.mp4": "?start=1000000&end=2000000"}
ALLOWED = {200, 201, 202, 303, 400, 409, 422, 503}
"""Statuses that mean "let in": validation errors and conflicts are the handler's, not the gate's."""


def app_routes(runtime) -> set[tuple[str, str]]:
    app = create_app(runtime)
    return {(r.method, r.resource.canonical) for r in app.router.routes()
            if r.method != "HEAD" and r.resource is not None and not r.resource.canonical.startswith("/static")}


async def test_every_route_as_every_role_and_scope(write_config, start_server) -> None:
    async with start_server(write_config(CAMERAS)) as server:
        runtime = server.runtime
        routes = app_routes(runtime)
        unknown = routes - set(ROUTES) - PUBLIC - SESSION - NODE
        assert not unknown, f"decide who may use these routes (add them to ROUTES): {sorted(unknown)}"
        catalog = runtime.catalog
        ids: dict[str, dict[str, str]] = {"camera": {"own": "menteng1", "other": "kota1"}, "event": {}, "export": {},
                                          "plate": {}, "watch": {}, "share": {},
                                          "user": {"own": "viewer-menteng", "other": "viewer-all"}}
        for cam, side in (("menteng1", "own"), ("kota1", "other")):
            await catalog.upsert_camera(cam)
            ev = await catalog.open_event(NewEvent(camera=cam, kind="object", label="person", score=0.9,
                                                   start_us=1_000_000, end_us=2_000_000),
                                          Snapshot(b"\xff\xd8" + cam.encode(), 640, 360, 1_000_000))
            ids["event"][side] = str(ev.id)
            if hasattr(catalog, "add_plate_sighting"):
                from nvr.storage.plates_catalog import NewSighting

                sighting = await catalog.add_plate_sighting(NewSighting(
                    camera=cam, plate="B 1234 XYZ", plate_key="B1234XYZ", confidence=0.9, reads=3, agreement=1.0,
                    first_us=1_000_000, last_us=2_000_000, best_us=1_500_000, footage_start_us=0,
                    footage_end_us=3_000_000), b"\xff\xd8crop")
                ids["plate"][side] = str(sighting.id)
            if hasattr(catalog, "add_watch_entry") and side == "own":
                entry = await catalog.add_watch_entry("B 1 XYZ", "matrix", "Polda", "high", "admin", 1_000_000)
                ids["watch"]["own"] = str(entry.id)
            if hasattr(catalog, "create_share"):
                from nvr.storage.kelurahan_catalog import NewShare

                share = await catalog.create_share(NewShare(cam, "live", "admin", 4_102_444_800_000_000))
                ids["share"][side] = str(share.id)
            if hasattr(catalog, "create_export_job"):
                from nvr.storage.exports_catalog import NewExportJob

                job = await catalog.create_export_job(NewExportJob(
                    cameras=(cam,), start_us=1_000_000, end_us=2_000_000, case="C-1", reason="test",
                    created_by="admin", output_path=f"/nonexistent/{cam}.zip"))
                ids["export"][side] = str(job.id)
            if hasattr(catalog, "add_complaint"):
                from nvr.storage.complaints_catalog import NewComplaint

                complaint, _ = await catalog.add_complaint(NewComplaint(
                    external_id=f"M-{side}", category="banjir", body="matrix", lat=-6.2, lon=106.8, reported_us=1,
                    kelurahan="Menteng" if side == "own" else "Gambir", photo=("image/jpeg", b"\xff\xd8\xffm")))
                ids.setdefault("complaint", {})[side] = str(complaint.id)
        users = {}
        for role, scope in itertools.product(ROLE_RANK, (None, "Menteng", "kecamatan:Menteng")):
            if (scope is None and role in SCOPED_ROLES) or (scope and scope.startswith("kecamatan:")
                                                             and role not in SCOPED_ROLES):
                continue  # kelurahan roles always have a scope; a kecamatan scope is tried on them only
            name = f"{role}-{scope or 'all'}".lower()
            await create_user(catalog, name, "matrix-password", role, scope)
            users[name] = (role, scope)

        cases = []  # (method, path, url, least, param, side)
        for (method, path), (least, param) in sorted(ROUTES.items()):
            if (method, path) not in routes:
                continue  # a feature this build does not have
            for side in ("own", "other") if param not in (None, "global", "watch") else ("own",):
                url = path
                if param not in (None, "global"):
                    key = {"camera": "{name}", "user": "{username}"}.get(param, "{id}")
                    url = path.replace(key, ids[param].get(side, "999999"))
                cases.append((method, path, url + QUERIES.get(path, ""), least, param, side))

        failures = []
        removed: set[str] = set()  # a watchlist entry the first allowed user deleted is gone for the next ones
        async with client() as s:  # anonymous
            for method, path, url, _, _, _ in cases:
                async with s.request(method, server.url + url.lstrip("/"), allow_redirects=False) as resp:
                    want = {401} if path.startswith("/api/") else {303, 401}
                    if method != "GET" and not path.startswith("/api/"):
                        want |= {403}  # no session, so no CSRF token either
                    if resp.status not in want:
                        failures.append(f"anonymous {method} {url}: {resp.status}")
        for name, (role, scope) in users.items():
            async with client() as s:  # one login per user
                await login(s, server.url, name, "matrix-password")
                async with s.get(server.url + "events") as page:
                    token = csrf_of(await page.text())
                for method, path, url, least, param, side in cases:
                    kwargs = {"allow_redirects": False, "headers": {"X-CSRF-Token": token}}
                    if method == "POST":
                        kwargs["json" if path.startswith("/api/") else "data"] = (
                            {} if path.startswith("/api/") else {"csrf_token": token})
                    async with s.request(method, server.url + url.lstrip("/"), **kwargs) as resp:
                        body = await resp.read()
                    hidden = param not in (None, "global") and side == "other" and scope is not None
                    if param == "global" and scope is not None:
                        want = {403}
                    elif hidden:
                        want = {404} if ROLE_RANK[role] >= ROLE_RANK[least] else {403, 404}
                    elif ROLE_RANK[role] < ROLE_RANK[least]:
                        want = {403}
                    else:
                        want = ALLOWED | ({404} if url in removed else set())
                    if method == "DELETE" and resp.status == 200:
                        removed.add(url)
                    if resp.status not in want:
                        failures.append(f"{name} {method} {url}: {resp.status}, want {sorted(want)}")
                    # The other kelurahan's name, or its camera's name where the URL did not ask for it, is a leak.
                    leaked = b"gambir" in body.lower() or (b"kota1" in body and "kota1" not in url)
                    if scope is not None and leaked:
                        failures.append(f"{name} {method} {url}: the body mentions the other kelurahan")
        assert not failures, "\n".join(failures)
