"""GET /api/cameras/{name}/live.mp4: the camera's stream as fragmented MP4 (no re-encoding) for a <video> tag."""

from __future__ import annotations

import contextlib

from aiohttp import web

from nvr.live import LiveService, LiveUnavailable
from nvr.web import query_params as qp
from nvr.web.keys import RUNTIME_KEY
from nvr.web.routes.scope import scoped_camera

LIVE_KEY = web.AppKey("live", LiveService)


def _url(request: web.Request, camera) -> str | None:  # noqa: ANN001 - a CameraConfig
    status = request.app[RUNTIME_KEY].cameras.status(camera.name) if request.app[RUNTIME_KEY].cameras else None
    sub = (camera.stream.sub if camera.stream else None) or (status.sub_uri if status else None)
    main = (camera.stream.main if camera.stream else None) or (status.main_uri if status else None)
    return (sub or main) if qp.choice(request, "stream", ("sub", "main"), "sub") == "sub" else (main or sub)


async def live_mp4(request: web.Request) -> web.StreamResponse:
    """?stream=sub (default) or main. 503 with the reason when the camera cannot be opened."""
    camera = scoped_camera(request)
    qp.choice(request, "stream", ("sub", "main"), "sub")  # 400 "stream: use sub or main" before opening anything
    url = _url(request, camera)
    if url is None:
        raise web.HTTPServiceUnavailable(text="the camera's stream address is not known yet")
    user, password = camera.rtsp_credentials()
    chunks = request.app[LIVE_KEY].watch(camera.name, url, user, password,
                                         camera.stream.transport if camera.stream else "tcp")
    try:
        init = await anext(chunks)
    except LiveUnavailable as exc:
        await chunks.aclose()
        raise web.HTTPServiceUnavailable(text=f"no live stream: {exc}", headers={"Retry-After": "10"}) from None
    response = web.StreamResponse(headers={"Content-Type": "video/mp4", "Cache-Control": "no-store"})
    response.enable_chunked_encoding()
    await response.prepare(request)
    try:
        await response.write(init)
        async for chunk in chunks:
            await response.write(chunk)
    except (ConnectionResetError, ConnectionError):
        pass  # the viewer left
    finally:
        await chunks.aclose()
    with contextlib.suppress(ConnectionError):
        await response.write_eof()
    return response


def setup(app: web.Application) -> None:
    app[LIVE_KEY] = LiveService()

    async def close(app: web.Application) -> None:
        app[LIVE_KEY].close()

    app.on_shutdown.append(close)
    app.router.add_get("/api/cameras/{name}/live.mp4", live_mp4)
