"""Helpers for analysis tests: simulated cameras showing real photos, and a small real colour detector."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import numpy as np

from nvr.detection import Detection, clip_box
from nvr.hookspecs import hookimpl
from nvr.sim.clip import ClipSpec
from nvr.sim.rtsp import RtspServer


def scene_spec(scene: str) -> ClipSpec:
    """A short clip (4 s at 10 fps, a keyframe a second) of ``scene``: cheap to render, cached."""
    return ClipSpec(fps=10, duration=4.0, gop_seconds=1.0, scene=scene)


@contextlib.asynccontextmanager
async def scene_server(scene: str, cameras: tuple[str, ...] = ("cam",)) -> AsyncIterator[RtspServer]:
    server = RtspServer(host="127.0.0.1", port=0, clip_spec=scene_spec(scene))
    await server.start()
    for name in cameras:
        server.add_camera(name)
    try:
        yield server
    finally:
        await server.stop()


def camera_toml(server: RtspServer, name: str = "cam", *, fps: float = 1.0, detect: str = "") -> str:
    return f'''
[[cameras]]
name = "{name}"
record = {{ enabled = false }}
stream = {{ main = "{server.url(name, "main")}", sub = "{server.url(name, "sub")}" }}
[cameras.detect]
enabled = true
fps = {fps}
{detect}
'''


class OrangeDetector:
    """Finds the astronaut's orange suit: pixels far redder than blue, one box per vertical band of the frame.

    A real (if simple) detector over real decoded frames; it needs no model, so hook tests stay fast.
    """

    name = "orange"
    labels = ("orange",)
    concurrency = 1

    def __init__(self, bands: int = 3) -> None:
        self.bands = bands
        self.calls = 0

    def detect(self, image: np.ndarray) -> list[Detection]:
        self.calls += 1
        rgb = image.astype(np.int16)
        mask = (rgb[..., 0] > 150) & (rgb[..., 0] - rgb[..., 2] > 80) & (rgb[..., 1] < 140)
        h, w = mask.shape
        out = []
        for band in range(self.bands):
            part = mask[:, band * w // self.bands:(band + 1) * w // self.bands]
            if part.mean() < 0.01:
                continue
            rows, cols = np.flatnonzero(part.any(axis=1)), np.flatnonzero(part.any(axis=0))
            x0 = (band * w // self.bands + cols[0]) / w
            x1 = (band * w // self.bands + cols[-1] + 1) / w
            out.append(Detection("orange", round(min(0.99, 0.5 + part.mean()), 3),
                                 clip_box(x0, rows[0] / h, x1, (rows[-1] + 1) / h)))
        return out

    def close(self) -> None:
        pass


class OrangePlugin:
    """Offers ``OrangeDetector`` as detector "orange"."""

    def __init__(self) -> None:
        self.detector = OrangeDetector()

    @hookimpl
    def register_detectors(self, runtime):
        return {"orange": lambda: self.detector}
