"""The JSON API described as OpenAPI 3.1, served at ``/api/openapi.json``; a meta test keeps it complete."""

from __future__ import annotations

from typing import Any

from aiohttp import web

import nvr

ERROR = {"$ref": "#/components/schemas/Error"}


def _q(name: str, description: str, schema: str = "integer", required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": required, "description": description,
            "schema": {"type": schema}}


def _p(name: str, description: str, schema: str = "string") -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "description": description, "schema": {"type": schema}}


def _op(summary: str, *, params: list[dict[str, Any]] = (), ok: str = "application/json",  # type: ignore[assignment]
        body: dict[str, Any] | None = None, status: str = "200", errors: tuple[str, ...] = ("400", "401", "404"),
        role: str = "viewer") -> dict[str, Any]:
    op: dict[str, Any] = {
        "summary": summary,
        "description": f"Needs the `{role}` role (or a plugin's permission); cameras outside the user's scope "
                       "answer 404.",
        "parameters": list(params),
        "responses": {status: {"description": "OK", "content": {ok: {}}}} | {
            code: {"description": "error", "content": {"application/json": {"schema": ERROR}}} for code in errors},
    }
    if body is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    return op


CAMERA = _p("name", "camera name")
EVENT = _p("id", "event id", "integer")
EXPORT = _p("id", "export job id", "integer")
EVENT_FILTERS = [
    _q("camera", "one camera", "string"), _q("label", "detection label", "string"),
    _q("kind", "event kind (object, crowd, ...)", "string"), _q("zone", "zone name", "string"),
    _q("start_us", "events ending at or after (UTC µs)"), _q("end_us", "events starting before (UTC µs)"),
    _q("ongoing", "true or false", "boolean"), _q("acknowledged", "true or false", "boolean"),
    _q("before_id", "keyset paging: events older than this id"), _q("limit", "at most this many (1-500)"),
]

CAMERA_FILTERS = [
    _q("q", "part of the name or title", "string"), _q("tag", "one tag", "string"),
    _q("kecamatan", "one kecamatan", "string"), _q("kelurahan", "one kelurahan", "string"),
    _q("state", "recording, connecting, offline, disabled, ...", "string"),
]
OFFSET_PAGING = [_q("limit", "at most this many (1-500, default 100)"), _q("offset", "skip this many (default 0)")]
"""Lists of known size page by offset; the answer has ``total``, ``limit``, ``offset`` and ``next``."""
CURSOR_PAGING = [_q("before_id", "keyset paging: entries older than this id (the answer's next_before_id)"),
                 _q("limit", "at most this many")]
"""Lists that grow without bound page by keyset; the answer has ``limit``, ``next_before_id`` and ``next``."""

PLATE = _p("id", "plate sighting id", "integer")
PLATE_PATHS: dict[str, dict[str, Any]] = {  # the built-in lpr plugin's routes (nvr.plugins.lpr.api)
    "/api/plates": {"get": _op(
        "Plate sightings: exact, prefix or fuzzy search (audited), or the newest without q", role="operator",
        params=[_q("q", "the plate, any spacing or case", "string"), _q("mode", "exact, prefix or fuzzy", "string"),
                _q("max_distance", "fuzzy: largest edit distance (O/0, I/1, B/8, S/5, Z/2 cost 0.25)", "number"),
                _q("camera", "one camera", "string"), _q("start_us", "seen at or after (UTC µs)"),
                _q("end_us", "seen before (UTC µs)"), _q("min_confidence", "0-1", "number"),
                _q("before_id", "keyset paging (exact, prefix)"), _q("limit", "at most this many (1-500)")],
        errors=("400", "401", "403", "404"))},
    "/api/plates/{id}": {"get": _op("One plate sighting with its recording link", params=[PLATE], role="operator")},
    "/api/plates/{id}/crop.jpg": {"get": _op("The sighting's best plate crop", ok="image/jpeg", params=[PLATE],
                                             role="operator")},
    "/api/plates/watchlist": {
        "get": _op("Watchlisted plates (config file and API)", role="investigator", errors=("401", "403")),
        "post": _op("Watch a plate (audited)", status="201", role="investigator", errors=("400", "401", "403", "409"),
                    body={"type": "object", "required": ["plate", "reason", "owner"], "properties": {
                        "plate": {"type": "string"}, "reason": {"type": "string"}, "owner": {"type": "string"},
                        "severity": {"enum": ["info", "low", "medium", "high", "critical"]}}}),
    },
    "/api/plates/watchlist/{id}": {"delete": _op("Stop watching a plate (audited)", role="investigator",
                                                 params=[_p("id", "watchlist entry id", "integer")])},
    "/api/plates/status": {"get": _op("The plate reader's counters", role="admin", errors=("401", "403"))},
}

KELURAHAN_PATHS: dict[str, dict[str, Any]] = {  # the built-in kelurahan plugin's routes (nvr.plugins.kelurahan)
    "/api/kelurahan/regions": {"get": _op(
        "The user's cameras with their region (kelurahan, kecamatan, kota; from config or a GeoJSON boundary), "
        "and the whole region tree and the boundary file's state (count, error of the last reload) for users "
        "of all cameras", errors=("401",))},
    "/api/kelurahan/events/{id}/escalate": {"post": _op(
        "Hand an event to its agency (OPD), with a note; a higher severity raises the event's; notifies the "
        "kelurahan's webhooks (audited)",
        status="201", role="operator", params=[EVENT], errors=("400", "401", "403", "404"),
        body={"type": "object", "properties": {"agency": {"type": "string"}, "note": {"type": "string"},
                                               "severity": {"type": "string", "enum": [
                                                   "info", "low", "medium", "high", "critical"]}}})},
    "/api/kelurahan/shares": {
        "get": _op("Share links of the cameras the user may share (every link for admins)", role="operator",
                   errors=("401", "403")),
        "post": _op("Create a signed, expiring share link to a camera's live view or one clip (audited); the "
                    "answer's url opens it without login, faces blurred", status="201", role="operator",
                    errors=("400", "401", "403", "404"),
                    body={"type": "object", "required": ["camera"], "properties": {
                        "camera": {"type": "string"}, "kind": {"enum": ["live", "clip"]},
                        "hours": {"type": "number"}, "start_us": {"type": "integer"}, "end_us": {"type": "integer"},
                        "label": {"type": "string"}}}),
    },
    "/api/kelurahan/shares/{id}": {"delete": _op("Revoke a share link (audited, idempotent)", role="operator",
                                                 params=[_p("id", "share link id", "integer")],
                                                 errors=("401", "403", "404"))},
    "/api/kelurahan/deliveries": {"get": _op(
        "The webhook delivery log, newest first (admins of all cameras)", role="admin",
        params=[_q("webhook", "one webhook's name", "string")], errors=("401", "403"))},
}

COMPLAINT = _p("id", "complaint id", "integer")
COMPLAINT_BODY = {"type": "object", "required": ["external_id", "category", "text", "lat", "lon", "reported_at"],
                  "properties": {
                      "external_id": {"type": "string", "maxLength": 128}, "category": {"type": "string"},
                      "text": {"type": "string"}, "lat": {"type": "number", "minimum": -90, "maximum": 90},
                      "lon": {"type": "number", "minimum": -180, "maximum": 180},
                      "reported_at": {"type": ["string", "integer"]}, "kelurahan": {"type": "string"},
                      "photo": {"type": "string", "description": "base64 JPEG or PNG"},
                      "reporter": {"type": "object", "description": "confidential: stored apart, shown to no "
                                   "kelurahan user", "properties": {"name": {"type": "string"},
                                                                    "contact": {"type": "string"},
                                                                    "id": {"type": "string"}}}}}
COMPLAINT_PATHS: dict[str, dict[str, Any]] = {  # the built-in complaints plugin (nvr.plugins.complaints.api)
    "/api/complaints": {
        "get": _op("Complaints of the user's kelurahan, newest first, 50 a page", params=[
            _q("status", "new, linked, in_progress, responded or closed", "string"),
            _q("category", "banjir, kebakaran, ...", "string"), _q("kelurahan", "one kelurahan", "string"),
            _q("sla", "green, amber or red (unanswered complaints)", "string"), _q("page", "page number from 1")],
            errors=("400", "401", "403")),
        "post": _op("Receive a complaint (API token of a user of every kelurahan; idempotent on external_id: "
                    "201 stored, 200 already there); links nearby cameras and holds their footage",
                    status="201", role="operator", body=COMPLAINT_BODY, errors=("400", "401", "403", "413")),
    },
    "/api/complaints/{id}": {"get": _op("One complaint: SLA, linked cameras (with playable clips) and events",
                                        params=[COMPLAINT])},
    "/api/complaints/{id}/photo": {"get": _op("The citizen's photo", ok="image/jpeg", params=[COMPLAINT])},
    "/api/complaints/{id}/status": {"post": _op(
        "Move along new -> linked -> in_progress -> responded -> closed (audited; 409 for another move)",
        params=[COMPLAINT], role="operator", errors=("400", "401", "403", "404", "409"),
        body={"type": "object", "required": ["status"], "properties": {
            "status": {"enum": ["new", "linked", "in_progress", "responded", "closed"]},
            "note": {"type": "string", "maxLength": 2000}}})},
    "/api/complaints/{id}/relink": {"post": _op("Link cameras and events added since (audited)", params=[COMPLAINT],
                                                role="operator", errors=("401", "403", "404", "409"))},
    "/api/complaints/{id}/export": {"post": _op(
        "Export the linked footage as an evidence bundle (the export job; no reporter in it)", status="202",
        params=[COMPLAINT], role="investigator", errors=("400", "401", "403", "404", "422"),
        body={"type": "object", "properties": {"reason": {"type": "string"}}})},
}

def _returns(op: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """``op`` with the schema of its JSON answer."""
    ok = next(code for code in op["responses"] if code.startswith("2"))
    op["responses"][ok]["content"]["application/json"]["schema"] = schema
    return op


_LEASE = {"type": "object", "required": ["name", "generation", "expired"], "properties": {
    "name": {"type": "string", "description": "camera"},
    "generation": {"type": "integer", "description": "lease generation (the fencing token)"},
    "expires_at": {"type": ["string", "null"], "format": "date-time", "description": "UTC; null: released"},
    "expired": {"type": "boolean"}, "pinned_node": {"type": ["string", "null"]}}}
NODES = {"type": "object", "required": ["clustered", "nodes"], "properties": {
    "clustered": {"type": "boolean", "description": "false on a single server (no node in the catalog)"},
    "this_node": {"type": ["string", "null"], "description": "the node serving this answer (`--node`)"},
    "now": {"type": "string", "format": "date-time", "description": "the catalog server's clock"},
    "lease_ttl_s": {"type": "number"},
    "nodes": {"type": "array", "items": {"type": "object", "required": ["name", "state", "capacity", "holds"],
                                         "properties": {
        "name": {"type": "string"},
        "url": {"type": ["string", "null"], "description": "advertised URL without credentials or query; null "
                "for admins bound to a kelurahan"},
        "capacity": {"type": "integer"}, "state": {"enum": ["up", "down"]},
        "stopped": {"type": "boolean", "description": "stopped cleanly (its leases handed back)"},
        "started_at": {"type": "string", "format": "date-time"},
        "heartbeat_at": {"type": "string", "format": "date-time"}, "heartbeat_age_s": {"type": "number"},
        "stopped_at": {"type": ["string", "null"], "format": "date-time"}, "this_node": {"type": "boolean"},
        "holds": {"type": "integer", "description": "leases it holds (of cameras in the caller's scope)"},
        "expired_holds": {"type": "integer"}, "cameras": {"type": "array", "items": _LEASE}}}},
    "unheld": {"type": "array", "items": _LEASE, "description": "configured cameras no node holds"}}}

PATHS: dict[str, dict[str, Any]] = {
    "/api/cameras": {"get": _op(
        "A page of the cameras the user may see, with state, stats and analysis status; `total` counts every "
        "match and `next` is the next page's URL (null on the last)", params=CAMERA_FILTERS + OFFSET_PAGING,
        errors=("400", "401"))},
    "/api/cameras/{name}/retry": {"post": _op(
        "Check the camera now instead of waiting for its reconnect backoff (202, its state now)", status="202",
        params=[CAMERA], role="operator", errors=("401", "403", "404"))},
    "/api/cameras/{name}/thumbnail.jpg": {"get": _op(
        "A recent JPEG of the camera (503 with Retry-After when none can be had)", ok="image/jpeg",
        params=[CAMERA, _q("max_age", "seconds a cached picture may be old (1-3600)", "number")],
        errors=("400", "401", "404", "503"))},
    "/api/cameras/{name}/timeline": {"get": _op(
        "Recorded spans, gaps, runs and events of a window (at most 7 days)",
        params=[CAMERA, _q("start_us", "window start, UTC µs", required=True),
                _q("end_us", "window end, UTC µs", required=True)])},
    "/api/cameras/{name}/download.mp4": {"get": _op(
        "One MP4 of a time range, built while it is sent (stream copy; audited)", ok="video/mp4",
        params=[CAMERA, _q("start", "UTC µs or ISO 8601", "string", True), _q("end", "UTC µs or ISO 8601",
                                                                              "string", True)],
        errors=("400", "401", "403", "404", "409", "422"), role="investigator")},
    "/api/cameras/{name}/play.mp4": {"get": _op(
        "The same MP4 for the browser's player (inline); where the format changes, the part holding `start`",
        ok="video/mp4", params=[CAMERA, _q("start", "UTC µs or ISO 8601", "string", True),
                                _q("end", "UTC µs or ISO 8601", "string", True)],
        errors=("400", "401", "403", "404", "422"))},
    "/api/cameras/{name}/live.mp4": {"get": _op(
        "The live stream as fragmented MP4 (stream copy, chunked, endless); one upstream connection is shared by "
        "all viewers of a camera", ok="video/mp4", params=[CAMERA, _q("stream", "sub (default) or main", "string")],
        errors=("400", "401", "404", "503"))},
    "/api/events": {"get": _op("Events, newest first, filtered; keyset-paged (`next_before_id`, `next`)",
                               params=EVENT_FILTERS)},
    "/api/events/{id}": {"get": _op("One event", params=[EVENT])},
    "/api/events/{id}/snapshot.jpg": {"get": _op("The event's best snapshot", ok="image/jpeg", params=[EVENT])},
    "/api/events/{id}/ack": {"post": _op(
        "Acknowledge an event (who, when, note)", params=[EVENT], role="operator",
        body={"type": "object", "properties": {"note": {"type": "string", "maxLength": 2000}}},
        errors=("400", "401", "403", "404"))},
    "/api/exports": {
        "get": _op("Export jobs with progress, newest first", role="investigator", params=CURSOR_PAGING,
                   errors=("400", "401", "403")),
        "post": _op("Start an evidence export", status="202", role="investigator",
                    errors=("400", "401", "403", "404", "422"),
                    body={"type": "object", "required": ["cameras", "start", "end", "case", "reason"], "properties": {
                        "cameras": {"type": "array", "items": {"type": "string"}},
                        "start": {"type": ["string", "integer"]}, "end": {"type": ["string", "integer"]},
                        "case": {"type": "string"}, "reason": {"type": "string"}, "hold": {"type": "boolean"}}}),
    },
    "/api/exports/{id}": {"get": _op("One export job", params=[EXPORT], role="investigator")},
    "/api/exports/{id}/bundle.zip": {"get": _op("The signed evidence bundle", ok="application/zip",
                                                params=[EXPORT], role="investigator")},
    "/api/keys/export": {"get": _op("The installation's export signing public key (anyone may verify bundles)")},
    "/api/audit": {"get": _op("The audit log, newest first", role="admin", errors=("400", "401", "403"),
                              params=[_q("action", "one action", "string"), _q("target", "one target", "string"),
                                      *CURSOR_PAGING])},
    "/api/devices": {"get": _op(
        "Discovered ONVIF devices (no credentials), whether each records already, the last sweep; admins of all "
        "cameras", role="admin", errors=("401", "403"))},
    "/api/devices/adopt": {"post": _op(
        "Adopt a discovered device: stored in the catalog and recorded at once, no restart (audited); it uses the "
        "[discovery] credentials", status="201", role="admin", errors=("400", "401", "403", "404", "409", "422"),
        body={"type": "object", "required": ["device", "name"], "properties": {
            "device": {"type": "string", "description": "the device's id from /api/devices"},
            "name": {"type": "string", "pattern": "^[a-z0-9][a-z0-9_-]{0,63}$"}, "title": {"type": "string"},
            "kelurahan": {"type": "string"}, "kecamatan": {"type": "string"}}})},
    "/api/devices/forget": {"post": _op(
        "Forget an adopted camera: it stops recording now, its footage stays (audited)", role="admin",
        errors=("400", "401", "403", "404"),
        body={"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}})},
    "/api/plugins": {"get": _op("Every plugin and its health (calls, errors, the last error); admins of all cameras",
                                role="admin", errors=("401", "403"))},
    "/api/users": {
        "get": _op("The users this admin manages (all, or those of the admin's kelurahan); never a password or hash",
                   role="admin", errors=("401", "403")),
        "post": _op("Create a user (audited)", status="201", role="admin", errors=("400", "401", "403"),
                    body={"type": "object", "required": ["username", "password", "role"], "properties": {
                        "username": {"type": "string"}, "password": {"type": "string", "minLength": 8},
                        "role": {"type": "string"}, "kelurahan": {"type": ["string", "null"]}}})},
    "/api/users/{username}": {"post": _op(
        "Change a user's role and scope, or disable/enable them (audited; not one's own account)", role="admin",
        params=[_p("username", "user name")], errors=("400", "401", "403", "404"),
        body={"type": "object", "properties": {"role": {"type": "string"}, "kelurahan": {"type": ["string", "null"]},
                                               "disabled": {"type": "boolean"}}})},
    "/api/storage": {"get": _op("Footage per camera (segments, bytes, oldest and newest); the disk for admins of all "
                                "cameras", role="admin", errors=("401", "403"))},
    "/api/nodes": {"get": _returns(_op(
        "Cluster nodes: each node's state (`up` while its heartbeat is younger than the lease TTL and it has not "
        "stopped, the lease protocol's rule; else `down`), heartbeat (catalog server time), capacity, URL "
        "(scheme, host, port and path only; admins of all cameras) and the cameras whose leases it holds, scoped; "
        "a single server answers no nodes and `clustered: false`", role="admin", errors=("401", "403")), NODES)},
    "/api/openapi.json": {"get": _op("This document", errors=("401",))},
    **PLATE_PATHS,
    **COMPLAINT_PATHS,
    **KELURAHAN_PATHS,
}


def spec() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {"title": "nvr", "version": getattr(nvr, "__version__", "0"),
                 "description": "Every response to a bad request is JSON `{error, field, status}`. Log in with "
                                "POST /login (a session cookie); state-changing requests need the session's CSRF "
                                "token in the X-CSRF-Token header. Times are UTC microseconds."},
        "paths": PATHS,
        "components": {"schemas": {"Error": {"type": "object", "required": ["error", "status"], "properties": {
            "error": {"type": "string"}, "field": {"type": ["string", "null"]}, "status": {"type": "integer"}}}}},
    }


async def openapi_json(request: web.Request) -> web.StreamResponse:
    """GET /api/openapi.json"""
    return web.json_response(spec())


def setup(app: web.Application) -> None:
    app.router.add_get("/api/openapi.json", openapi_json)
