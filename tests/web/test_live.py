"""Live view: fragmented MP4 from one shared upstream connection, decodable, with keyframe-aligned fragments."""

from __future__ import annotations

import asyncio
import io

import av

from nvr.live import BoxSplitter
from nvr.sim.rtsp import RtspServer
from tests.conftest import ADMIN_PASSWORD
from tests.helpers import closed_port, wait_for
from tests.web.test_auth import client, login


def box(kind: bytes, payload: bytes = b"") -> bytes:
    return (8 + len(payload)).to_bytes(4, "big") + kind + payload


def test_box_splitter_groups_init_and_fragments():
    s = BoxSplitter()
    stream = box(b"ftyp", b"isom") + box(b"moov", b"x" * 20) + box(b"moof", b"1") + box(b"mdat", b"a" * 5)
    assert s.feed(stream[:10]) == [] and s.init is None
    (frag,) = s.feed(stream[10:] + box(b"moof", b"2")[:4])
    assert s.init == box(b"ftyp", b"isom") + box(b"moov", b"x" * 20)
    assert frag == box(b"moof", b"1") + box(b"mdat", b"a" * 5)


async def read_for(s, url: str, seconds: float) -> bytes:
    data = bytearray()
    async with s.get(url) as resp:
        assert resp.status == 200 and resp.content_type == "video/mp4"
        loop = asyncio.get_running_loop()
        end = loop.time() + seconds
        while loop.time() < end:
            try:
                chunk = await asyncio.wait_for(resp.content.readany(), max(0.05, end - loop.time()))
            except TimeoutError:
                break
            if not chunk:
                break
            data += chunk
    return bytes(data)


async def test_live_mp4_shared_and_decodable(write_config, start_server) -> None:
    sim = RtspServer(host="127.0.0.1", port=0)
    await sim.start()
    sim.add_camera("cam", username="admin", password="live-pw")
    try:
        config = write_config(f'''
[[cameras]]
name = "cam"
record = {{ enabled = false }}
[cameras.stream]
main = "{sim.url('cam', 'main')}"
sub = "{sim.url('cam', 'sub')}"
username = "admin"
password = "live-pw"
[[cameras]]
name = "dead"
record = {{ enabled = false }}
stream = {{ main = "rtsp://127.0.0.1:{closed_port()}/x" }}
''')
        async with start_server(config) as server:
            async with client() as a, client() as b:
                await login(a, server.url, "admin", ADMIN_PASSWORD)
                await login(b, server.url, "admin", ADMIN_PASSWORD)
                url = server.url + "api/cameras/cam/live.mp4"
                first, second = await asyncio.gather(read_for(a, url, 4.0), read_for(b, url, 4.0))
                assert sim.active_sessions("cam") <= 1  # two viewers, one connection to the camera
                async with a.get(server.url + "api/cameras/dead/live.mp4") as resp:
                    body = await resp.json()
                assert resp.status == 503 and "offline" in body["error"] and "live-pw" not in body["error"]
            await wait_for(lambda: sim.active_sessions("cam") == 0, timeout=10)  # the last viewer left: closed
        for data in (first, second):
            with av.open(io.BytesIO(data), format="mp4") as container:
                stream = container.streams.video[0]
                assert (stream.codec_context.width, stream.codec_context.height) == (640, 360)
                frames = list(container.decode(stream))
            assert len(frames) >= 25  # ~3 s of a 25 fps stream after the first keyframe
            assert frames[0].key_frame
    finally:
        await sim.stop()
