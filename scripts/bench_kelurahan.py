"""Kelurahan plugin benchmark: scoped camera listings (with the plugin's areas vs a permission hook per camera),
the public snapshot pipeline (face detection, blur, JPEG) and the blurred re-encoding of a shared clip."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path
from types import SimpleNamespace

import av
import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nvr.config import CameraConfig  # noqa: E402
from nvr.hookspecs import hookimpl  # noqa: E402
from nvr.models import User  # noqa: E402
from nvr.plugin_host import PluginHost  # noqa: E402
from nvr.plugins.kelurahan.blur import FaceDetector, blur_boxes  # noqa: E402
from nvr.plugins.kelurahan.config import KelurahanConfig  # noqa: E402
from nvr.plugins.kelurahan.public_media import Privacy, encode_jpeg, render_clip  # noqa: E402
from nvr.plugins.kelurahan.regions import scope_matches  # noqa: E402
from nvr.plugins.kelurahan.state import KelurahanState  # noqa: E402
from nvr.sim.photo_scene import PhotoScene  # noqa: E402
from nvr.web.permissions import AREAS_KEY, decide_many  # noqa: E402

KELURAHAN, KECAMATAN = 267, 44
"""Jakarta: 267 kelurahan in 44 kecamatan."""


def listing(cameras: int, repeat: int) -> None:
    """ms per listing of every camera for a kecamatan-scoped user whose cameras name only their kelurahan."""
    tree = KelurahanConfig(kota=[{"name": "Jakarta", "kecamatan": [
        {"name": f"C{k}", "kelurahan": [f"K{i}" for i in range(KELURAHAN) if i % KECAMATAN == k]}
        for k in range(KECAMATAN)]}])
    cams = [CameraConfig(name=f"c{i}", kelurahan=f"K{i % KELURAHAN}") for i in range(cameras)]
    runtime = SimpleNamespace(plugins=PluginHost(load_entry_points=False), extras={},
                              config=SimpleNamespace(cameras=cams), plugin_config=lambda name: tree)
    user = User(1, "piket", "", "duty_officer", "kecamatan:C5", 0)

    def run() -> tuple[float, int]:
        started = time.perf_counter()
        for _ in range(repeat):
            seen = decide_many(runtime, user, "camera.view", cams)  # type: ignore[arg-type]
        return (time.perf_counter() - started) / repeat * 1000, len(seen)

    before, none = run()
    state = KelurahanState(runtime, [], b"k")  # type: ignore[arg-type]
    started = time.perf_counter()
    state.sync_areas()
    sync_ms = (time.perf_counter() - started) * 1000
    after, seen = run()
    areas = runtime.extras.pop(AREAS_KEY)
    runtime.plugins._register(HookScope(state), "hook_scope", "bench")  # the alternative: a hook per camera
    hooked, also = run()
    runtime.extras[AREAS_KEY] = areas
    print(f"listing  {cameras} cameras  no areas {before:6.2f} ms ({none} visible)  "
          f"areas {after:6.2f} ms ({seen} visible; publishing them {sync_ms:.1f} ms)  "
          f"hook per camera {hooked:6.2f} ms ({also} visible)")


class HookScope:
    """What the areas replace: a permission hook (no ``for_actions``) that places every camera itself."""

    def __init__(self, state: KelurahanState) -> None:
        self.state = state

    @hookimpl
    def permission(self, user, action, camera, runtime):  # noqa: ANN001, ANN201
        if camera is None or user.kelurahan is None:
            return None
        return True if scope_matches(user.kelurahan, self.state.region_of(camera)) else None


def snapshot(repeat: int) -> None:
    """ms per public frame: CenterFace, the blur, the JPEG, at the sizes a camera's streams have."""
    detector = FaceDetector()
    full = np.asarray(PhotoScene(10, 4, 1).render(0).convert("RGB"))
    for width, height in ((640, 360), (1280, 720)):
        frame = full if width == 1280 else np.asarray(Image.fromarray(full).resize((width, height)))
        detector.detect(frame)  # warm-up
        t = [0.0, 0.0, 0.0]
        for _ in range(repeat):
            a = time.perf_counter()
            boxes = [b for b, _ in detector.detect(frame)]
            b = time.perf_counter()
            out = blur_boxes(frame, boxes)
            c = time.perf_counter()
            encode_jpeg(out, 960)
            t = [t[0] + b - a, t[1] + c - b, t[2] + time.perf_counter() - c]
        print(f"snapshot {width}x{height}  faces {len(boxes)}  detect {t[0] / repeat * 1000:6.1f} ms  "
              f"blur {t[1] / repeat * 1000:5.1f} ms  jpeg {t[2] / repeat * 1000:5.1f} ms")


def clip(seconds: float, fps: int, folder: Path) -> None:
    """Seconds of work per second of shared clip (decode, faces 5 times a second, blur, H.264)."""
    scene = PhotoScene(fps, seconds, 1)
    source = folder / "source.mp4"
    with av.open(str(source), "w") as sink:
        stream = sink.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = 1280, 720, "yuv420p"
        for i in range(scene.frame_count):
            frame = av.VideoFrame.from_image(scene.render(i).convert("RGB"))
            frame.pts, frame.time_base = i, Fraction(1, fps)
            for packet in stream.encode(frame):
                sink.mux(packet)
        for packet in stream.encode(None):
            sink.mux(packet)
    privacy = Privacy(KelurahanConfig())
    asyncio.run(privacy.ready())
    started = time.perf_counter()
    frames = render_clip([(source, 0)], 0, int(seconds * 1e6), folder / "public.mp4", privacy)
    took = time.perf_counter() - started
    print(f"clip     1280x720 at {fps} fps, {seconds:g} s ({frames} frames)  {took:.2f} s to blur and encode  "
          f"({took / seconds:.2f} s per second of video)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cameras", type=int, default=1501, help="cameras in the listing test")
    parser.add_argument("--repeat", type=int, default=20, help="repetitions of each measurement")
    parser.add_argument("--clip-seconds", type=float, default=10.0, help="length of the shared clip")
    parser.add_argument("--fps", type=int, default=10, help="frame rate of the shared clip")
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    listing(args.cameras, args.repeat)
    snapshot(args.repeat)
    with tempfile.TemporaryDirectory() as folder:
        clip(args.clip_seconds, args.fps, Path(folder))


if __name__ == "__main__":
    main()
