"""Public cameras and share links against a real server recording a simulated camera that shows a real face
(scikit-image's astronaut): what public viewers get has the face blurred (measured on the delivered pixels),
the rest is not; tampered, expired and revoked links are refused; the footage on disk is never changed."""

from __future__ import annotations

import asyncio
import hashlib
import io
import time
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from nvr.plugins.kelurahan.blur import FaceDetector, grow
from nvr.thumbnails import grab_keyframe
from nvr.users import create_user
from tests.analysis_helpers import scene_server
from tests.web.test_auth import client, csrf_of, login

pytestmark = pytest.mark.slow


def sharpness(gray: np.ndarray) -> float:
    """Variance of a 4-neighbour Laplacian: high for detail (eyes, hair), near zero once blurred."""
    g = gray.astype(np.float64)
    lap = -4 * g[1:-1, 1:-1] + g[:-2, 1:-1] + g[2:, 1:-1] + g[1:-1, :-2] + g[1:-1, 2:]
    return float(lap.var())


def region(rgb: np.ndarray, box) -> np.ndarray:
    x0, y0, x1, y1 = box
    return np.asarray(Image.fromarray(rgb).convert("L"))[y0:y1, x0:x1]


def config(sim) -> str:
    return f'''
[[cameras]]
name = "park"
kelurahan = "Menteng"
stream = {{ main = "{sim.url("park", "main")}" }}
record = {{ segment_seconds = 10 }}
[[cameras]]
name = "office"
kelurahan = "Menteng"
enabled = false
stream = {{ main = "rtsp://127.0.0.1:9/office" }}
[plugins.kelurahan]
public_cameras = ["park"]
public_snapshot_s = 0.5
'''


@pytest.mark.timeout(240)  # records a segment, then renders a blurred clip: slow on a loaded machine
async def test_public_views_blur_faces_and_share_links_are_checked(write_config, start_server) -> None:
    detector = FaceDetector()
    async with scene_server("people-1", ("park",)) as sim:
        original = await asyncio.to_thread(grab_keyframe, sim.url("park", "main"), None, None)
        async with start_server(write_config(config(sim))) as server:
            catalog = server.runtime.catalog
            await create_user(catalog, "piket", "piket-password", "duty_officer", "Menteng")
            async with client() as anon:
                async with anon.get(server.url + "public") as resp:
                    html = await resp.text()
                    assert resp.status == 200 and "/public/cameras/park" in html and "office" not in html
                for url in ("public/cameras/office", "public/cameras/office/snapshot.jpg", "public/cameras/nope"):
                    async with anon.get(server.url + url) as resp:
                        assert resp.status == 404, url  # not public: as if it did not exist
                async with anon.get(server.url + "public/cameras/park/snapshot.jpg") as resp:
                    assert resp.status == 200 and resp.headers["Content-Type"] == "image/jpeg"
                    public = np.asarray(Image.open(io.BytesIO(await resp.read())).convert("RGB"))

            # The face: found on the original frame by the test itself; blurred in what the public got.
            assert public.shape == original.shape
            (face, _), = detector.detect(original)
            box = grow(face, original.shape[1], original.shape[0], 0.1)
            body = (box[0], box[3] + 20, box[2], min(original.shape[0], box[3] + 20 + (box[3] - box[1])))
            face_before, face_after = sharpness(region(original, box)), sharpness(region(public, box))
            body_before, body_after = sharpness(region(original, body)), sharpness(region(public, body))
            assert face_after < 0.1 * face_before, (face_before, face_after)
            assert body_after > 0.5 * body_before, (body_before, body_after)  # the rest keeps its detail
            assert detector.detect(public) == []  # no face left to find

            async with client() as s:
                await login(s, server.url, "piket", "piket-password")
                async with s.get(server.url + "kelurahan/shares") as page:
                    headers = {"X-CSRF-Token": csrf_of(await page.text())}
                api = server.url + "api/kelurahan/shares"
                async with s.post(api, json={"camera": "park", "kind": "live", "hours": 1}, headers=headers) as r:
                    assert r.status == 201
                    live = await r.json()
                async with s.post(api, json={"camera": "park", "kind": "live", "hours": 0.0003},
                                  headers=headers) as r:
                    short = await r.json()  # about one second
                async with s.post(api, json={"camera": "nope", "kind": "live"}, headers=headers) as r:
                    assert r.status == 404
                async with s.post(api, json={"camera": "park", "kind": "live", "hours": 1e6}, headers=headers) as r:
                    assert r.status == 400 and (await r.json())["field"] == "hours"

                # A clip: wait for the first closed segment, share 3 s of it.
                deadline = time.monotonic() + 40
                while not (segments := await catalog.segments("park", 0, 2**62)):
                    assert time.monotonic() < deadline, "no segment recorded"
                    await asyncio.sleep(0.5)
                seg = segments[0]
                stored = Path(server.runtime.config.storage.root) / seg.path
                digest = hashlib.sha256(stored.read_bytes()).hexdigest()
                body_json = {"camera": "park", "kind": "clip", "start_us": seg.start_time + 1_000_000,
                             "end_us": seg.start_time + 4_000_000, "label": "taman"}
                async with s.post(api, json=body_json, headers=headers) as r:
                    assert r.status == 201
                    clip = await r.json()

            async with client() as anon:
                async with anon.get(server.url + live["url"].lstrip("/")) as resp:
                    html = await resp.text()
                    assert resp.status == 200 and "snapshot.jpg" in html and "office" not in html
                async with anon.get(server.url + live["url"].lstrip("/") + "/snapshot.jpg") as resp:
                    assert resp.status == 200
                    shared = np.asarray(Image.open(io.BytesIO(await resp.read())).convert("RGB"))
                    assert sharpness(region(shared, box)) < 0.1 * face_before
                async with anon.get(server.url + live["url"].lstrip("/") + "/clip.mp4") as resp:
                    assert resp.status == 404  # a live link opens no clip
                token = live["url"].rsplit("/", 1)[1]
                share_id, expires, sig = token.split(".")
                tampered = [f"{share_id}.{int(expires) + 3600}.{sig}", f"{clip['id']}.{expires}.{sig}",
                            f"{share_id}.{expires}.{sig[:-2]}AA", "1.2.x", token + "x"]
                for bad in tampered:
                    async with anon.get(server.url + f"share/{bad}/snapshot.jpg") as resp:
                        assert resp.status == 404, bad

                ready_by = time.monotonic() + 90  # rendered in the background: 503 + Retry-After until then
                while True:
                    async with anon.get(server.url + clip["url"].lstrip("/") + "/clip.mp4") as resp:
                        if resp.status == 503 and time.monotonic() < ready_by:
                            assert int(resp.headers["Retry-After"]) >= 1
                            await asyncio.sleep(1)
                            continue
                        assert resp.status == 200 and resp.headers["Content-Type"] == "video/mp4"
                        mp4 = await resp.read()
                        break
                with av.open(io.BytesIO(mp4)) as container:
                    frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
                assert 20 <= len(frames) <= 40  # 3 s at 10 fps
                scale = frames[0].shape[1] / original.shape[1]
                big = tuple(int(v * scale) for v in box)
                assert all(not detector.detect(f) for f in frames[::10])
                assert max(sharpness(region(f, big)) for f in frames) < 0.1 * face_before * scale ** 2 + 1

                await asyncio.sleep(max(0.0, short["expires_at"] / 1e6 - time.time()) + 0.2)
                async with anon.get(server.url + short["url"].lstrip("/")) as resp:
                    assert resp.status == 410  # expired

            async with client() as s:
                await login(s, server.url, "piket", "piket-password")
                async with s.get(server.url + "kelurahan/shares") as page:
                    html = await page.text()
                    assert live["url"] in html and "taman" in html
                    headers = {"X-CSRF-Token": csrf_of(html)}
                async with s.delete(server.url + f"api/kelurahan/shares/{live['id']}", headers=headers) as r:
                    assert r.status == 200 and (await r.json())["state"] == "revoked"
            async with client() as anon:
                async with anon.get(server.url + live["url"].lstrip("/")) as resp:
                    assert resp.status == 410  # revoked
            cached = list((Path(server.runtime.config.storage.root).resolve().parent / "kelurahan-public").iterdir())
            assert [p.name.split("-")[1] for p in cached] == [str(clip["id"])]  # the public derivative
            async with client() as s:
                await login(s, server.url, "piket", "piket-password")
                async with s.get(server.url + "kelurahan/shares") as page:
                    headers = {"X-CSRF-Token": csrf_of(await page.text())}
                async with s.delete(server.url + f"api/kelurahan/shares/{clip['id']}", headers=headers) as r:
                    assert r.status == 200
            assert not any(p.exists() for p in cached)  # revoking a clip link deletes its blurred copy

            refusals = await catalog.audit_entries(action="share.refused")
            assert 1 <= len(refusals) <= 4  # five tampered tokens in a row from one address: throttled
            uses = await catalog.audit_entries(action="share.use")
            assert {e.actor for e in uses} >= {f"share:{live['id']}", f"share:{clip['id']}"}
            assert (await catalog.get_share(live["id"])).uses >= 2
            assert hashlib.sha256(stored.read_bytes()).hexdigest() == digest == seg.sha256  # footage untouched
