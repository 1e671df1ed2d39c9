"""Draws the synthetic street scene (people, cars, a licence plate, a clock) frame by frame."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

SCENE_WIDTH = 1280
SCENE_HEIGHT = 720
PLATE_TEXT = "B 1234 XYZ"
PLATE_SIZE = (250, 84)  # Indonesian plates are ~395x135 mm
_REAR_W, _REAR_TOP, _REAR_BOTTOM = 460, 416, 652  # the plate car, seen from behind

_BOLD_FONTS = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Bold.ttf",
    "/usr/share/fonts/TTF/DejaVuSans-Bold.ttf",
    "/Library/Fonts/Arial Bold.ttf",
    "C:/Windows/Fonts/arialbd.ttf",
)
_MONO_FONTS = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSansMono-Bold.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationMono-Bold.ttf",
    "/usr/share/fonts/TTF/DejaVuSansMono-Bold.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf",
    "C:/Windows/Fonts/consolab.ttf",
)


@cache
def _font(kind: str, size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """Return a TrueType font of ``kind`` ("bold" or "mono"), or Pillow's built-in one."""
    for path in _BOLD_FONTS if kind == "bold" else _MONO_FONTS:
        if Path(path).is_file():
            return ImageFont.truetype(path, size)
    return ImageFont.load_default(size=size)


def font_signature() -> str:
    """Identify the fonts in use, so a font change invalidates cached clips."""
    return f"{getattr(_font('bold', 10), 'path', 'builtin')}|{getattr(_font('mono', 10), 'path', 'builtin')}"


@dataclass(frozen=True)
class SceneObject:
    """Ground truth for one drawn object: kind and box (x0, y0, x1, y1) in scene pixels."""

    kind: str  # "person", "car" or "plate"
    box: tuple[int, int, int, int]
    text: str | None = None


def _lerp(a: float, b: float, u: float) -> float:
    return a + (b - a) * u


def _ease_out(u: float) -> float:
    """Decelerating easing on [0, 1] (velocity falls to zero at the end)."""
    u = min(max(u, 0.0), 1.0)
    return 1 - (1 - u) ** 2


def _ease_in(u: float) -> float:
    """Accelerating easing on [0, 1] (starts from rest)."""
    u = min(max(u, 0.0), 1.0)
    return u * u


@dataclass(frozen=True)
class _Walker:
    height: int
    feet_y: int
    direction: int  # +1 walks right, -1 walks left
    phase: float  # position offset in loop fractions
    crossings: int  # screen crossings per loop
    steps: int  # gait cycles per loop
    shirt: tuple[int, int, int]
    pants: tuple[int, int, int]
    skin: tuple[int, int, int]
    hair: tuple[int, int, int]


@dataclass(frozen=True)
class _SideCar:
    length: int
    wheels_y: int
    direction: int
    phase: float
    crossings: int
    body: tuple[int, int, int]


_WALKERS = (
    _Walker(160, 338, +1, 0.00, 1, 9, (200, 40, 40), (40, 40, 70), (224, 172, 130), (40, 25, 15)),
    _Walker(150, 334, -1, 0.35, 1, 10, (40, 110, 190), (60, 50, 40), (160, 110, 75), (20, 20, 20)),
    _Walker(168, 342, +1, 0.62, 1, 8, (235, 200, 60), (30, 30, 30), (200, 150, 110), (90, 60, 30)),
    _Walker(250, 714, -1, 0.50, 1, 8, (60, 150, 80), (50, 60, 90), (210, 160, 120), (30, 20, 10)),
)
_SIDE_CARS = (
    _SideCar(260, 456, -1, 0.00, 2, (30, 80, 160)),
    _SideCar(240, 456, -1, 0.50, 2, (170, 30, 30)),
)


class SceneRenderer:
    """Renders frame ``index`` of a seamlessly looping street scene at 1280x720.

    Every motion is periodic over ``fps * duration`` frames, so the last frame
    flows into the first one.
    """

    def __init__(self, fps: int = 25, duration: float = 10.0) -> None:
        self.fps = fps
        self.duration = duration
        self.frame_count = round(fps * duration)
        self.width = SCENE_WIDTH
        self.height = SCENE_HEIGHT
        self._background = self._draw_background()
        self._plate = self._draw_plate()

    # ----------------------------------------------------------------- public
    def render(self, index: int) -> Image.Image:
        """Return frame ``index`` (taken modulo the loop length) as an RGB image."""
        index %= self.frame_count
        u = index / self.frame_count
        img = self._background.copy()
        draw = ImageDraw.Draw(img)
        for car in _SIDE_CARS:
            self._draw_side_car(draw, car, self._side_car_x(car, u))
        for walker in _WALKERS[:3]:
            self._draw_walker(draw, walker, u)
        x = self._plate_car_x(u)
        if x is not None:
            self._draw_rear_car(img, draw, x)
        self._draw_walker(draw, _WALKERS[3], u)
        self._draw_clock(draw, index)
        return img

    def objects(self, index: int) -> list[SceneObject]:
        """Ground-truth boxes of the people, cars and plate visible in frame ``index``."""
        index %= self.frame_count
        u = index / self.frame_count
        out: list[SceneObject] = []
        for walker in _WALKERS:
            x = self._walker_x(walker, u)
            w = int(walker.height * 0.42)
            out.append(
                SceneObject("person", (int(x - w / 2), walker.feet_y - walker.height, int(x + w / 2), walker.feet_y))
            )
        for car in _SIDE_CARS:
            x = self._side_car_x(car, u)
            out.append(SceneObject("car", (int(x), car.wheels_y - 100, int(x + car.length), car.wheels_y)))
        x = self._plate_car_x(u)
        if x is not None:
            out.append(SceneObject("car", (int(x), _REAR_TOP, int(x + _REAR_W), _REAR_BOTTOM)))
            px, py = self._plate_origin(x)
            out.append(SceneObject("plate", (px, py, px + PLATE_SIZE[0], py + PLATE_SIZE[1]), PLATE_TEXT))
        return [o for o in out if o.box[2] > 0 and o.box[0] < self.width]

    # ----------------------------------------------------------------- motion
    def _walker_x(self, w: _Walker, u: float) -> float:
        span = self.width + 2 * w.height * 0.5
        pos = ((u * w.crossings + w.phase) % 1.0) * span - w.height * 0.5
        return pos if w.direction > 0 else self.width - pos

    def _side_car_x(self, c: _SideCar, u: float) -> float:
        span = self.width + c.length + 40
        pos = ((u * c.crossings + c.phase) % 1.0) * span - c.length - 20
        return pos if c.direction > 0 else self.width - c.length - pos

    def _plate_car_x(self, u: float) -> float | None:
        """Drive in (0-35%), wait at the centre (35-65%), drive out (65-100%)."""
        start, centre, end = -_REAR_W - 10.0, (self.width - _REAR_W) / 2, self.width + 10.0
        if u < 0.35:
            x = _lerp(start, centre, _ease_out(u / 0.35))
        elif u < 0.65:
            x = centre
        else:
            x = _lerp(centre, end, _ease_in((u - 0.65) / 0.35))
        return x if -_REAR_W < x < self.width else None

    # ------------------------------------------------------------- background
    def _draw_background(self) -> Image.Image:
        w, h = self.width, self.height
        img = Image.new("RGB", (w, h))
        d = ImageDraw.Draw(img)
        for y in range(0, 300):  # sky gradient
            k = y / 300
            d.line([(0, y), (w, y)], fill=(int(_lerp(120, 200, k)), int(_lerp(170, 215, k)), int(_lerp(225, 235, k))))
        rng = random.Random(1234)
        x = -20
        palette = [(180, 150, 120), (150, 160, 170), (200, 190, 160), (130, 110, 100), (170, 180, 150), (210, 170, 140)]
        while x < w:
            bw, top = rng.randint(150, 260), rng.randint(30, 170)
            colour = palette[rng.randrange(len(palette))]
            d.rectangle([x, top, x + bw, 300], fill=colour, outline=(90, 90, 90))
            d.rectangle([x - 4, top - 8, x + bw + 4, top], fill=tuple(max(c - 50, 0) for c in colour))
            for wy in range(top + 18, 240, 42):
                for wx in range(x + 16, x + bw - 30, 44):
                    lit = rng.random() < 0.25
                    d.rectangle([wx, wy, wx + 24, wy + 26], fill=(235, 220, 150) if lit else (70, 90, 110))
                    d.line([wx + 12, wy, wx + 12, wy + 26], fill=(200, 200, 200))
            door_x = x + bw // 2 - 18
            d.rectangle([door_x, 250, door_x + 36, 300], fill=(80, 55, 40))
            x += bw + rng.randint(0, 12)
        d.rectangle([0, 300, w, 346], fill=(175, 175, 170))  # far sidewalk
        for tx in range(0, w, 64):
            d.line([tx, 300, tx - 12, 346], fill=(150, 150, 145))
        d.rectangle([0, 346, w, 354], fill=(120, 120, 115))  # curb
        d.rectangle([0, 354, w, 656], fill=(70, 72, 75))  # road
        for lx in range(0, w, 120):
            d.rectangle([lx, 484, lx + 64, 492], fill=(235, 235, 235))  # lane dashes
        d.rectangle([0, 646, w, 650], fill=(220, 220, 220))  # edge line
        d.rectangle([0, 656, w, 664], fill=(120, 120, 115))
        d.rectangle([0, 664, w, h], fill=(185, 180, 175))  # near sidewalk
        for px in (90, 700, 1180):  # lamp posts on the far sidewalk
            d.rectangle([px, 120, px + 8, 344], fill=(60, 60, 65))
            d.rectangle([px - 30, 114, px + 8, 122], fill=(60, 60, 65))
            d.ellipse([px - 38, 118, px - 18, 130], fill=(250, 240, 200))
        for tx in (380, 980):  # trees
            d.rectangle([tx, 240, tx + 14, 344], fill=(100, 70, 40))
            d.ellipse([tx - 50, 150, tx + 64, 262], fill=(60, 130, 60))
        return img

    # ----------------------------------------------------------------- people
    def _draw_walker(self, d: ImageDraw.ImageDraw, w: _Walker, u: float) -> None:
        H = w.height
        cx = self._walker_x(w, u)
        if cx < -H or cx > self.width + H:
            return
        gait = 2 * math.pi * ((u * w.steps) % 1.0)
        swing = math.sin(gait)
        bob = abs(math.cos(gait)) * H * 0.015
        top = w.feet_y - H - bob
        hip = (cx, top + 0.52 * H)
        shoulder = (cx, top + 0.19 * H)
        leg_len, arm_len = 0.47 * H, 0.36 * H
        darker = lambda c: tuple(int(v * 0.7) for v in c)  # noqa: E731

        def limb(
            origin: tuple[float, float], angle: float, length: float, width: float, colour: tuple[int, int, int]
        ) -> tuple[float, float]:
            ex = origin[0] + math.sin(angle) * length * w.direction
            ey = origin[1] + math.cos(angle) * length
            d.line([origin, (ex, ey)], fill=colour, width=max(int(width), 1))
            r = width / 2
            d.ellipse([origin[0] - r, origin[1] - r, origin[0] + r, origin[1] + r], fill=colour)
            d.ellipse([ex - r, ey - r, ex + r, ey + r], fill=colour)
            return ex, ey

        def foot(end: tuple[float, float], colour: tuple[int, int, int]) -> None:
            fx, fy = end
            d.ellipse(
                [
                    fx - 0.03 * H + 0.03 * H * w.direction,
                    fy - 0.02 * H,
                    fx + 0.03 * H + 0.035 * H * w.direction,
                    fy + 0.015 * H,
                ],
                fill=colour,
            )

        leg_w, arm_w = 0.085 * H, 0.055 * H
        # far limbs first (darker), then torso and head, then near limbs
        foot(limb(hip, -0.42 * swing, leg_len, leg_w, darker(w.pants)), (25, 25, 25))
        hand = limb(shoulder, 0.45 * swing, arm_len, arm_w, darker(w.shirt))
        d.ellipse(
            [hand[0] - arm_w * 0.6, hand[1] - arm_w * 0.6, hand[0] + arm_w * 0.6, hand[1] + arm_w * 0.6],
            fill=darker(w.skin),
        )
        half = 0.1 * H
        d.rounded_rectangle([cx - half, top + 0.15 * H, cx + half, top + 0.56 * H], radius=int(0.05 * H), fill=w.shirt)
        d.rectangle([cx - 0.025 * H, top + 0.11 * H, cx + 0.025 * H, top + 0.16 * H], fill=w.skin)  # neck
        r = 0.065 * H
        hc = (cx + 0.01 * H * w.direction, top + r)
        d.ellipse([hc[0] - r, hc[1] - r, hc[0] + r, hc[1] + r * 1.1], fill=w.skin)
        d.chord([hc[0] - r, hc[1] - r * 1.05, hc[0] + r, hc[1] + r * 0.9], 180, 360, fill=w.hair)
        d.ellipse(
            [
                hc[0] - r * (1.0 if w.direction > 0 else 0.1),
                hc[1] - r,
                hc[0] + r * (0.1 if w.direction > 0 else 1.0),
                hc[1] + r * 0.4,
            ],
            fill=w.hair,
        )
        foot(limb(hip, 0.42 * swing, leg_len, leg_w, w.pants), (15, 15, 15))
        hand = limb(shoulder, -0.45 * swing, arm_len, arm_w, w.shirt)
        d.ellipse(
            [hand[0] - arm_w * 0.6, hand[1] - arm_w * 0.6, hand[0] + arm_w * 0.6, hand[1] + arm_w * 0.6], fill=w.skin
        )

    # ------------------------------------------------------------------- cars
    def _draw_side_car(self, d: ImageDraw.ImageDraw, c: _SideCar, x: float) -> None:
        if x > self.width or x + c.length < 0:
            return
        L, base = c.length, c.wheels_y
        front = (lambda f: x + L - f * L) if c.direction > 0 else (lambda f: x + f * L)
        d.ellipse([x + 10, base - 8, x + L - 10, base + 6], fill=(45, 45, 48))  # shadow
        body_top, body_bot = base - 62, base - 18
        d.rounded_rectangle([x, body_top, x + L, body_bot], radius=16, fill=c.body)
        cabin = [
            (front(0.22), body_top + 2),
            (front(0.33), base - 98),
            (front(0.70), base - 98),
            (front(0.84), body_top + 2),
        ]
        d.polygon(cabin, fill=c.body)
        glass = (150, 185, 210)
        d.polygon(
            [(front(0.25), body_top), (front(0.35), base - 92), (front(0.51), base - 92), (front(0.51), body_top)],
            fill=glass,
        )
        d.polygon(
            [(front(0.54), body_top), (front(0.54), base - 92), (front(0.68), base - 92), (front(0.80), body_top)],
            fill=glass,
        )
        d.line([(front(0.52), body_top), (front(0.52), body_bot)], fill=(30, 30, 30), width=2)  # door gap
        hx = front(0.02)
        d.rectangle(
            [min(hx, front(0.0)) - 3, body_top + 10, max(hx, front(0.0)) + 3, body_top + 20], fill=(250, 245, 200)
        )
        tx = front(0.98)
        d.rectangle(
            [min(tx, front(1.0)) - 3, body_top + 10, max(tx, front(1.0)) + 3, body_top + 20], fill=(200, 20, 20)
        )
        for f in (0.18, 0.80):
            wx = front(f)
            d.ellipse([wx - 24, base - 46, wx + 24, base + 2], fill=(20, 20, 20))
            d.ellipse([wx - 11, base - 33, wx + 11, base - 11], fill=(170, 170, 175))

    def _plate_origin(self, x: float) -> tuple[int, int]:
        return int(x + (_REAR_W - PLATE_SIZE[0]) / 2), _REAR_BOTTOM - 42 - PLATE_SIZE[1]

    def _draw_rear_car(self, img: Image.Image, d: ImageDraw.ImageDraw, x: float) -> None:
        W, top, bot = _REAR_W, _REAR_TOP, _REAR_BOTTOM
        body = (205, 208, 212)
        d.ellipse([x - 10, bot - 20, x + W + 10, bot + 8], fill=(40, 40, 42))  # shadow
        for wx in (x + 22, x + W - 82):  # tyres
            d.rounded_rectangle([wx, bot - 60, wx + 60, bot], radius=10, fill=(18, 18, 18))
        d.polygon([(x + 70, top + 10), (x + W - 70, top + 10), (x + W - 30, top + 100), (x + 30, top + 100)], fill=body)
        d.polygon(
            [(x + 84, top + 22), (x + W - 84, top + 22), (x + W - 48, top + 96), (x + 48, top + 96)], fill=(55, 70, 85)
        )
        d.rounded_rectangle([x, top + 96, x + W, bot - 28], radius=24, fill=body)
        d.rectangle([x + 6, top + 124, x + W - 6, top + 130], fill=(170, 172, 176))  # trunk lid line
        for lx in (x + 14, x + W - 104):
            d.rounded_rectangle([lx, top + 136, lx + 90, top + 166], radius=6, fill=(200, 20, 25))
            d.rectangle([lx + 6, top + 142, lx + 30, top + 160], fill=(240, 150, 40))
        d.rounded_rectangle([x + 4, bot - 46, x + W - 4, bot - 20], radius=10, fill=(50, 50, 52))  # bumper
        px, py = self._plate_origin(x)
        img.paste(self._plate, (px, py))

    def _draw_plate(self) -> Image.Image:
        pw, ph = PLATE_SIZE
        plate = Image.new("RGB", (pw, ph), (10, 10, 10))
        d = ImageDraw.Draw(plate)
        d.rounded_rectangle([4, 4, pw - 5, ph - 5], radius=6, outline=(240, 240, 240), width=3)
        size = 60
        font = _font("bold", size)
        while size > 10:
            font = _font("bold", size)
            x0, y0, x1, y1 = d.textbbox((0, 0), PLATE_TEXT, font=font)
            if x1 - x0 <= pw - 26 and y1 - y0 <= ph - 22:
                break
            size -= 2
        x0, y0, x1, y1 = d.textbbox((0, 0), PLATE_TEXT, font=font)
        d.text(((pw - (x1 - x0)) / 2 - x0, (ph - (y1 - y0)) / 2 - y0), PLATE_TEXT, font=font, fill=(245, 245, 245))
        return plate

    # ------------------------------------------------------------------ clock
    def _draw_clock(self, d: ImageDraw.ImageDraw, index: int) -> None:
        seconds, frame = divmod(index, self.fps)
        hundredths = frame * 100 // self.fps
        text = f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}.{hundredths:02d}  #{index:04d}"
        font = _font("mono", 30)
        x0, y0, x1, y1 = d.textbbox((24, 20), text, font=font)
        d.rectangle([x0 - 10, y0 - 8, x1 + 10, y1 + 8], fill=(0, 0, 0))
        d.text((24, 20), text, font=font, fill=(255, 255, 255))
