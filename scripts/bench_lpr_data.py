"""Generated plate videos with ground truth for scripts/bench_lpr.py: cars crossing a street, one at a time.

Each *condition* (plate height, day or dusk, H.264 or JPEG) is one video at 640x360 (a sub stream): cars
with random valid plates (black or white style) cross the frame one after another; each car's plate has
its own slight rotation (up to +-4 degrees) and blur (Gaussian, sigma 0.3-1.0 px); a burned-in clock and a
shop sign ("HALTE BIS 24 JAM") are always in view and must never become sightings. Dusk darkens the frame,
flattens its contrast and adds sensor noise. The video is rendered at ``RENDER_FPS``, compressed (libx264
CRF 28, or JPEG quality 50 per frame) and decoded back; the analysis sees every ``STEP``-th frame.
"""

from __future__ import annotations

import io
import random
from collections.abc import Iterator
from dataclasses import dataclass

import av
import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from nvr.sim.plates import STYLES, car_size, draw_car, plate_at, random_plate
from nvr.sim.scene import _font

WIDTH, HEIGHT = 640, 360
RENDER_FPS = 8
STEP = 4
"""Analysed frames: every 4th rendered one (2 fps)."""
CROSS_S = 3.0
"""Seconds a car takes to cross the frame (6 analysed frames)."""
GAP_S = 1.0
"""Empty road between two cars."""
BODIES = ((205, 208, 212), (30, 30, 35), (170, 30, 30), (40, 80, 160), (230, 230, 225), (120, 120, 125))


@dataclass(frozen=True)
class Condition:
    height: int
    light: str  # "day" or "dusk"
    codec: str  # "h264" or "jpeg"

    @property
    def name(self) -> str:
        return f"{self.height}px-{self.light}-{self.codec}"


@dataclass(frozen=True)
class Vehicle:
    plate: str
    style: str
    body: tuple[int, int, int]
    angle: float
    blur: float
    start_us: int
    end_us: int


@dataclass(frozen=True)
class Frame:
    time_us: int
    rgb: np.ndarray


def _background(dusk: bool) -> Image.Image:
    img = Image.new("RGB", (WIDTH, HEIGHT), (78, 80, 84))
    d = ImageDraw.Draw(img)
    d.rectangle([0, 0, WIDTH, 70], fill=(150, 140, 125))  # a wall with a shop sign
    d.rectangle([380, 12, 620, 58], fill=(20, 90, 40))
    d.text((392, 20), "HALTE BIS 24 JAM", font=_font("bold", 22), fill=(250, 250, 240))
    d.rectangle([0, 70, WIDTH, 84], fill=(170, 170, 165))
    for x in range(0, WIDTH, 80):
        d.rectangle([x, 300, x + 40, 305], fill=(220, 220, 220))
    return img


def _clock(d: ImageDraw.ImageDraw, time_us: int) -> None:
    seconds = time_us // 1_000_000
    text = f"2026-01-15 {7 + seconds // 3600 % 12:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
    d.rectangle([6, 6, 262, 30], fill=(0, 0, 0))
    d.text((10, 8), text, font=_font("mono", 18), fill=(255, 255, 255))


def _plate_patch(vehicle: Vehicle, height: int) -> Image.Image:
    plate = plate_at(vehicle.plate, height, vehicle.style)
    if vehicle.blur:
        plate = plate.filter(ImageFilter.GaussianBlur(vehicle.blur))
    return plate


def _render(background: Image.Image, vehicle: Vehicle | None, plate: Image.Image | None, x: int, dusk: bool,
            time_us: int, rng: np.random.Generator) -> np.ndarray:
    img = background.copy()
    if vehicle is not None and plate is not None:
        w, h = car_size(plate.height)
        top = min(HEIGHT - h - 6, max(90, 235 - h // 2))
        flat = Image.new("RGB", plate.size)
        box = draw_car(img, x, top, flat, vehicle.body)
        rotated = plate.convert("RGBA").rotate(vehicle.angle, Image.Resampling.BICUBIC, expand=True)
        img.paste(rotated, (box[0] - (rotated.width - plate.width) // 2, box[1] - (rotated.height - plate.height) // 2),
                  rotated)
    _clock(ImageDraw.Draw(img), time_us)
    rgb = np.asarray(img, dtype=np.float32)
    if dusk:
        rgb = rgb * 0.42 + 12 + rng.normal(0, 5.0, rgb.shape)
    return np.clip(rgb, 0, 255).astype(np.uint8)


def vehicles(condition: Condition, count: int, seed: int) -> list[Vehicle]:
    rng = random.Random(f"{seed}-{condition.name}")
    out = []
    t = 1_000_000
    for _ in range(count):
        start = t
        end = start + int(CROSS_S * 1e6)
        out.append(Vehicle(random_plate(rng), rng.choice(STYLES), rng.choice(BODIES), rng.uniform(-4, 4),
                           rng.uniform(0.3, 1.0), start, end))
        t = end + int(GAP_S * 1e6)
    return out


def _raw_frames(condition: Condition, cars: list[Vehicle], seed: int) -> Iterator[tuple[int, np.ndarray]]:
    dusk = condition.light == "dusk"
    background = _background(dusk)
    noise = np.random.default_rng(seed)
    end = cars[-1].end_us + int(GAP_S * 1e6) if cars else 0
    frame_us = 1_000_000 // RENDER_FPS
    index = 0
    current = 0
    patch: tuple[Vehicle, Image.Image] | None = None
    for time_us in range(0, end, frame_us):
        while current < len(cars) and time_us >= cars[current].end_us:
            current += 1
        car = cars[current] if current < len(cars) and cars[current].start_us <= time_us < cars[current].end_us \
            else None
        if car is not None and (patch is None or patch[0] is not car):
            patch = (car, _plate_patch(car, condition.height))
        x = 0
        if car is not None:
            w, _ = car_size(condition.height)
            u = (time_us - car.start_us) / (car.end_us - car.start_us)
            x = round(8 + u * (WIDTH - w - 16))  # fully in view the whole crossing
        yield time_us, _render(background, car, patch[1] if car is not None and patch else None, x, dusk, time_us,
                               noise)
        index += 1


def frames(condition: Condition, cars: list[Vehicle], seed: int = 1) -> list[Frame]:
    """The analysed frames of the condition's video, after compression."""
    raw = list(_raw_frames(condition, cars, seed))
    if condition.codec == "jpeg":
        out = []
        for i, (t, rgb) in enumerate(raw):
            if i % STEP:
                continue
            buf = io.BytesIO()
            Image.fromarray(rgb).save(buf, format="JPEG", quality=50)
            out.append(Frame(t, np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))))
        return out
    return _h264(raw)


def _h264(raw: list[tuple[int, np.ndarray]]) -> list[Frame]:
    buf = io.BytesIO()
    container = av.open(buf, mode="w", format="h264")
    stream = container.add_stream("libx264", rate=RENDER_FPS,
                                  options={"crf": "28", "preset": "veryfast", "tune": "zerolatency"})
    stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
    stream.codec_context.gop_size = RENDER_FPS * 2
    for i, (_, rgb) in enumerate(raw):
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
        frame.pts = i
        container.mux(stream.encode(frame))
    container.mux(stream.encode(None))
    container.close()
    decoded = []
    with av.open(io.BytesIO(buf.getvalue()), format="h264") as src:
        for i, frame in enumerate(src.decode(video=0)):
            if i % STEP == 0:
                decoded.append(Frame(raw[i][0], frame.to_ndarray(format="rgb24")))
    return decoded
