"""Drawn Indonesian licence plates and the cars that carry them, for the plate scenes and the LPR benchmark."""

from __future__ import annotations

import random
from functools import lru_cache

from PIL import Image, ImageDraw

from nvr.plate_text import REGIONS, parse_plate
from nvr.sim.scene import _font

PLATE_RATIO = 395 / 135
"""Width / height of an Indonesian plate (395 x 135 mm)."""
STYLES = ("black", "white")
"""Black plates with white characters (before 2022) and the white plates with black characters that replace them."""
_DRAW_HEIGHT = 270
"""Plates are drawn at this height and scaled down, as a camera's optics would."""
_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def random_plate(rng: random.Random) -> str:
    """A random valid plate in display form; half of them are Jakarta's ``B``."""
    region = "B" if rng.random() < 0.5 else rng.choice(sorted(REGIONS))
    digits = rng.choices((1, 2, 3, 4), weights=(1, 2, 3, 6))[0]
    number = str(rng.randint(10 ** (digits - 1), 10**digits - 1))
    suffix = "".join(rng.choice(_LETTERS) for _ in range(rng.choices((0, 1, 2, 3), weights=(1, 2, 4, 5))[0]))
    return " ".join(p for p in (region, number, suffix) if p)


def _text_image(
    text: str, size: tuple[int, int], fill: tuple[int, int, int], background: tuple[int, int, int]
) -> Image.Image:
    """``text`` in the bold font squeezed into ``size``: plates use a condensed typeface."""
    font = _font("bold", 200)
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    x0, y0, x1, y1 = probe.textbbox((0, 0), text, font=font)
    img = Image.new("RGB", (x1 - x0 + 8, y1 - y0 + 8), background)
    ImageDraw.Draw(img).text((4 - x0, 4 - y0), text, font=font, fill=fill)
    return img.resize(size, Image.Resampling.LANCZOS)


@lru_cache(maxsize=256)
def plate_image(text: str, style: str = "black", expiry: str = "08.29") -> Image.Image:
    """The plate at 270 px high: ``text`` on top, the ``MM.YY`` validity below, a border around."""
    if parse_plate(text) is None:
        raise ValueError(f"not a valid plate: {text!r}")
    if style not in STYLES:
        raise ValueError(f"plate style must be one of {STYLES}")
    h = _DRAW_HEIGHT
    w = round(h * PLATE_RATIO)
    ink, paper = ((240, 240, 240), (18, 18, 20)) if style == "black" else ((15, 15, 15), (238, 238, 232))
    img = Image.new("RGB", (w, h), paper)
    draw = ImageDraw.Draw(img)
    draw.rounded_rectangle([8, 8, w - 9, h - 9], radius=18, outline=ink, width=10)
    main_w = min(w - 70, round(h * 0.55 * 0.62 * len(text)))
    main = _text_image(text, (main_w, round(h * 0.55)), ink, paper)
    img.paste(main, ((w - main.width) // 2, round(h * 0.12)))
    small = _text_image(expiry, (round(h * 0.55), round(h * 0.16)), ink, paper)
    img.paste(small, ((w - small.width) // 2, round(h * 0.74)))
    return img


def plate_at(text: str, height: int, style: str = "black") -> Image.Image:
    """The plate scaled to ``height`` pixels (area averaging, like a sensor)."""
    img = plate_image(text, style)
    return img.resize((max(2, round(height * PLATE_RATIO)), height), Image.Resampling.BOX)


def car_size(plate_height: int) -> tuple[int, int]:
    """Width and height of a car seen from behind whose plate is ``plate_height`` pixels high."""
    return round(plate_height * 11.0), round(plate_height * 6.0)


def draw_car(
    img: Image.Image, left: int, top: int, plate: Image.Image, body: tuple[int, int, int]
) -> tuple[int, int, int, int]:
    """A car from behind at ``(left, top)`` sized for ``plate``; returns the plate's box in ``img``."""
    w, h = car_size(plate.height)
    d = ImageDraw.Draw(img)
    u = h / 100  # car units: the car is 100 high
    d.ellipse([left - 2 * u, top + 92 * u, left + w + 2 * u, top + 104 * u], fill=(40, 40, 42))  # shadow
    for wx in (left + 5 * u, left + w - 19 * u):
        d.rounded_rectangle(
            [wx, top + 72 * u, wx + 14 * u, top + 100 * u], radius=max(1, int(3 * u)), fill=(18, 18, 18)
        )
    d.polygon(
        [
            (left + 15 * u, top),
            (left + w - 15 * u, top),
            (left + w - 7 * u, top + 40 * u),
            (left + 7 * u, top + 40 * u),
        ],
        fill=body,
    )
    d.polygon(
        [
            (left + 19 * u, top + 5 * u),
            (left + w - 19 * u, top + 5 * u),
            (left + w - 11 * u, top + 37 * u),
            (left + 11 * u, top + 37 * u),
        ],
        fill=(55, 70, 85),
    )
    d.rounded_rectangle([left, top + 38 * u, left + w, top + 90 * u], radius=max(1, int(8 * u)), fill=body)
    for lx in (left + 3 * u, left + w - 25 * u):
        d.rounded_rectangle(
            [lx, top + 46 * u, lx + 22 * u, top + 56 * u], radius=max(1, int(2 * u)), fill=(200, 20, 25)
        )
    d.rounded_rectangle(
        [left + u, top + 80 * u, left + w - u, top + 92 * u], radius=max(1, int(3 * u)), fill=(50, 50, 52)
    )  # bumper
    px = round(left + (w - plate.width) / 2)
    py = round(top + 62 * u - plate.height / 2)
    img.paste(plate, (px, py))
    return px, py, px + plate.width, py + plate.height
