"""Routes open without login: public cameras (an admin listed them) and share links (a valid signed token).

Everything they deliver is blurred server-side; every use of a share link is counted and audited.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from nvr.thumbnails import ThumbnailUnavailable
from nvr.web.auth import public_route
from nvr.web.keys import RUNTIME_KEY
from nvr.web.templating import render

from . import shares
from .public_media import BlurUnavailable, ClipPending, Privacy, PublicClips, PublicFrames
from .state import KelurahanState, state_of

SNAPSHOT_AUDIT_S = 60.0
"""A live share's snapshot refreshes are audited at most once a minute per link and viewer address."""
REFUSAL_AUDIT_S = 10.0
"""Refused share tokens are audited at most once per 10 s per client address (a guessing client cannot flood
the audit log; guessing is hopeless anyway: the signature is 256 bits)."""
MAX_REMEMBERED = 10_000
"""Addresses remembered for those two throttles before the stale ones are dropped."""
NO_STORE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


def _first_in(last: dict[Any, float], key: Any, window_s: float) -> bool:
    """Whether ``key`` was not seen in the last ``window_s`` (and note it now); the memory stays bounded."""
    now = time.monotonic()
    if now - last.get(key, -1e18) < window_s:
        return False
    if len(last) >= MAX_REMEMBERED:
        for old in [k for k, at in last.items() if now - at >= window_s]:
            del last[old]
        if len(last) >= MAX_REMEMBERED:
            last.clear()
    last[key] = now
    return True


def _state(request: web.Request) -> KelurahanState:
    state = state_of(request.app[RUNTIME_KEY])
    if state is None:
        raise web.HTTPNotFound(text="nothing public here")
    return state


def media_of(state: KelurahanState) -> tuple[PublicFrames, PublicClips]:
    """The public snapshot and clip services (made on first use; the models load on first request)."""
    return _media(state)


def _media(state: KelurahanState) -> tuple[PublicFrames, PublicClips]:
    if "frames" not in state.services:
        privacy = Privacy(state.config)
        state.services["frames"] = PublicFrames(state.runtime, privacy)
        state.services["clips"] = PublicClips(state.runtime, privacy)
    return state.services["frames"], state.services["clips"]


def _public_camera(request: web.Request):  # noqa: ANN202 - a CameraConfig
    state = _state(request)
    name = request.match_info["name"]
    camera = request.app[RUNTIME_KEY].config.camera(name)
    if camera is None or not state.is_public(name):
        raise web.HTTPNotFound(text=f"no public camera named {name!r}")
    return state, camera


async def _jpeg(producer: Callable[[], Awaitable[bytes]]) -> web.Response:
    try:
        jpeg = await producer()
    except BlurUnavailable:
        raise web.HTTPServiceUnavailable(text="public views are unavailable: the privacy blur cannot run") from None
    except ThumbnailUnavailable:
        raise web.HTTPServiceUnavailable(text="the camera is not sending pictures right now") from None
    return web.Response(body=jpeg, content_type="image/jpeg", headers=NO_STORE)


@public_route
async def public_list(request: web.Request) -> web.StreamResponse:
    """GET /public: the cameras an admin made public."""
    state = _state(request)
    cameras = [c for c in request.app[RUNTIME_KEY].config.cameras if state.is_public(c.name)]
    return render(request, "kelurahan/public_list.html", cameras=cameras, regions={
        c.name: state.region_of(c) for c in cameras}, refresh=state.config.public_snapshot_s)


@public_route
async def public_camera(request: web.Request) -> web.StreamResponse:
    """GET /public/cameras/{name}: a public camera's live view (blurred snapshots, refreshed)."""
    state, camera = _public_camera(request)
    return render(request, "kelurahan/public_view.html", title=camera.display_name,
                  snapshot=f"/public/cameras/{camera.name}/snapshot.jpg", clip=None,
                  refresh=max(1, round(state.config.public_snapshot_s)), expires_at=None)


@public_route
async def public_snapshot(request: web.Request) -> web.StreamResponse:
    """GET /public/cameras/{name}/snapshot.jpg"""
    state, camera = _public_camera(request)
    frames, _ = _media(state)
    return await _jpeg(lambda: frames.snapshot(camera, state.config))


async def _share(request: web.Request, what: str) -> tuple[KelurahanState, shares.Share]:
    state = _state(request)
    try:
        share = await shares.check(state, request.match_info["token"])
    except shares.ShareRefused as exc:
        if _first_in(state.services.setdefault("share_refused", {}), request.remote or "", REFUSAL_AUDIT_S):
            await state.runtime.catalog.audit("share:?", "share.refused", None,
                                              {"remote": request.remote, "reason": str(exc), "what": what})
        raise (web.HTTPGone if exc.status == 410 else web.HTTPNotFound)(text=str(exc)) from None
    seen = state.services.setdefault("share_seen", {})
    if what != "snapshot" or _first_in(seen, (share.id, request.remote or ""), SNAPSHOT_AUDIT_S):
        await state.runtime.catalog.record_share_use(share.id, int(time.time() * 1e6))
        await state.runtime.catalog.audit(f"share:{share.id}", "share.use", f"camera:{share.camera}",
                                          {"remote": request.remote, "what": what, "kind": share.kind})
    return state, share


@public_route
async def share_page(request: web.Request) -> web.StreamResponse:
    """GET /share/{token}: the shared live view or clip."""
    state, share = await _share(request, "page")
    camera = request.app[RUNTIME_KEY].config.camera(share.camera)
    base = f"/share/{request.match_info['token']}"
    response = render(request, "kelurahan/public_view.html", title=camera.display_name if camera else share.camera,
                      snapshot=f"{base}/snapshot.jpg" if share.kind == "live" else None,
                      clip=f"{base}/clip.mp4" if share.kind == "clip" else None,
                      refresh=max(1, round(state.config.public_snapshot_s)), expires_at=share.expires_at)
    response.headers.update(NO_STORE)  # the token is in the URL: no shared cache keeps the page, no referrer
    return response


@public_route
async def share_snapshot(request: web.Request) -> web.StreamResponse:
    """GET /share/{token}/snapshot.jpg (live shares)"""
    state, share = await _share(request, "snapshot")
    camera = request.app[RUNTIME_KEY].config.camera(share.camera)
    if share.kind != "live" or camera is None:
        raise web.HTTPNotFound(text="this link shares a clip, not a live view")
    frames, _ = _media(state)
    return await _jpeg(lambda: frames.snapshot(camera, state.config))


@public_route
async def share_clip(request: web.Request) -> web.StreamResponse:
    """GET /share/{token}/clip.mp4 (clip shares): the clip re-encoded with the privacy blur."""
    state, share = await _share(request, "clip")
    if share.kind != "clip" or share.start_us is None or share.end_us is None:
        raise web.HTTPNotFound(text="this link shares a live view, not a clip")
    _, clips = _media(state)
    try:
        path = await clips.clip(share.id, share.camera, share.start_us, share.end_us)
    except BlurUnavailable:
        raise web.HTTPServiceUnavailable(text="public views are unavailable: the privacy blur cannot run") from None
    except ClipPending:
        raise web.HTTPServiceUnavailable(text="the clip is being prepared; try again in a minute",
                                         headers={"Retry-After": "30"}) from None
    if path is None:
        raise web.HTTPNotFound(text="no recording covers this clip")
    return web.FileResponse(path, headers={**NO_STORE, "Content-Type": "video/mp4"})


def public_routes() -> list[web.RouteDef]:
    return [
        web.get("/public", public_list),
        web.get("/public/cameras/{name}", public_camera),
        web.get("/public/cameras/{name}/snapshot.jpg", public_snapshot),
        web.get("/share/{token}", share_page),
        web.get("/share/{token}/snapshot.jpg", share_snapshot),
        web.get("/share/{token}/clip.mp4", share_clip),
    ]
