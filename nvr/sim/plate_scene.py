"""A street where cars with known Indonesian plates pass one at a time, under a burned-in clock and a shop sign."""

from __future__ import annotations

from PIL import Image, ImageDraw

from nvr.sim.plates import car_size, draw_car, plate_at
from nvr.sim.scene import SCENE_HEIGHT, SCENE_WIDTH, SceneObject, _font

PLATE_SCENE_PLATES: tuple[str, ...] = ("B 1234 XYZ", "D 8051 SO", "AB 27 KT")
"""The plates of the ``plates`` scenes, in the order their cars pass."""
DEFAULT_PLATE_HEIGHT = 48
"""Plate height in the 1280x720 scene (24 px in the 640x360 sub stream)."""
SIGN_TEXT = "HALTE BIS 24 JAM"
_BODIES = ((205, 208, 212), (40, 80, 160), (170, 30, 30), (30, 30, 35))


class PlateScene:
    """``plates`` (or ``plates-<height>``): each plate's car crosses the frame in its share of the loop.

    Same interface as ``SceneRenderer``: ``render(index)`` for ``fps * duration`` looping frames, and
    ``objects(index)`` for the ground truth (cars and plates, with the plate text).
    """

    def __init__(
        self,
        fps: int,
        duration: float,
        plate_height: int = DEFAULT_PLATE_HEIGHT,
        plates: tuple[str, ...] = PLATE_SCENE_PLATES,
    ) -> None:
        if not 12 <= plate_height <= 200:
            raise ValueError("plate height must be 12-200 px")
        self.fps, self.duration, self.plates = fps, duration, plates
        self.frame_count = round(fps * duration)
        self.width, self.height = SCENE_WIDTH, SCENE_HEIGHT
        self._plates = [plate_at(p, plate_height, "black" if i % 2 == 0 else "white") for i, p in enumerate(plates)]
        self._car_w, self._car_h = car_size(plate_height)
        self._background = self._draw_background()

    def _draw_background(self) -> Image.Image:
        img = Image.new("RGB", (self.width, self.height), (78, 80, 84))
        d = ImageDraw.Draw(img)
        d.rectangle([0, 0, self.width, 150], fill=(150, 140, 125))
        d.rectangle([760, 30, 1240, 118], fill=(20, 90, 40))
        d.text((786, 48), SIGN_TEXT, font=_font("bold", 44), fill=(250, 250, 240))
        d.rectangle([0, 150, self.width, 176], fill=(170, 170, 165))
        for x in range(0, self.width, 160):
            d.rectangle([x, 640, x + 80, 650], fill=(220, 220, 220))
        return img

    def _car(self, index: int) -> tuple[int, int, int] | None:
        """``(plate index, left, top)`` of the car in view at frame ``index``, or None between cars."""
        index %= self.frame_count
        slot = self.frame_count / len(self.plates)
        which = int(index // slot)
        u = (index - which * slot) / slot
        if not 0.05 <= u < 0.95:
            return None
        left = round(-self._car_w + (u - 0.05) / 0.9 * (self.width + self._car_w))
        top = min(self.height - self._car_h - 20, 420 - self._car_h // 2)
        return which, left, top

    def render(self, index: int) -> Image.Image:
        img = self._background.copy()
        car = self._car(index)
        if car is not None:
            which, left, top = car
            draw_car(img, left, top, self._plates[which], _BODIES[which % len(_BODIES)])
        self._draw_clock(ImageDraw.Draw(img), index)
        return img

    def objects(self, index: int) -> list[SceneObject]:
        car = self._car(index)
        if car is None:
            return []
        which, left, top = car
        probe = Image.new("RGB", (self.width, self.height))
        px0, py0, px1, py1 = draw_car(probe, left, top, self._plates[which], (0, 0, 0))
        return [
            SceneObject("car", (left, top, left + self._car_w, top + self._car_h)),
            SceneObject("plate", (px0, py0, px1, py1), self.plates[which]),
        ]

    def _draw_clock(self, d: ImageDraw.ImageDraw, index: int) -> None:
        seconds, frame = divmod(index, self.fps)
        text = f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}.{frame * 100 // self.fps:02d}"
        d.rectangle([14, 12, 330, 56], fill=(0, 0, 0))
        d.text((24, 16), f"{text}  #{index:04d}", font=_font("mono", 26), fill=(255, 255, 255))


def plate_scene(name: str, fps: int, duration: float) -> PlateScene:
    """The scene for ``plates`` or ``plates-<height>`` (plate height in px of the 1280x720 main stream)."""
    if name == "plates":
        return PlateScene(fps, duration)
    height = name.removeprefix("plates-")
    if not height.isdigit():
        raise ValueError(f"unknown scene {name!r}: use plates or plates-<plate height in px>")
    return PlateScene(fps, duration, int(height))
