"""Simulator scenes built from real photographs of people (for detection tests) or from nothing at all."""

from __future__ import annotations

import math
from functools import cache

from PIL import Image, ImageDraw

from nvr.sim.scene import SCENE_HEIGHT, SCENE_WIDTH

PHOTO_HEIGHT = 480
"""Height in pixels of each pasted photo in the 1280x720 scene."""
PHOTO_CROP = (80, 0, 400, 512)
"""The part of the 512x512 portrait kept: the person, without most of the flag and the model shuttle."""
SWAY_PX = 24
"""Photos drift this far left and right over a loop, so the motion gate sees movement."""


class PhotoUnavailable(RuntimeError):
    """The package that ships the photo is not installed."""


@cache
def astronaut() -> Image.Image:
    """scikit-image's bundled portrait of astronaut Eileen Collins (public domain, NASA)."""
    try:
        from skimage import data
    except ImportError as exc:
        raise PhotoUnavailable("the 'people' scenes need scikit-image (pip install scikit-image)") from exc
    return Image.fromarray(data.astronaut()).convert("RGB")


class PhotoScene:
    """``people`` copies of a real photo of a person on a plain wall, swaying slowly; 0 people = the empty wall.

    Same interface as ``SceneRenderer``: ``render(index)`` for ``fps * duration`` looping frames.
    """

    def __init__(self, fps: int, duration: float, people: int) -> None:
        if not 0 <= people <= 3:
            raise ValueError("a photo scene holds 0 to 3 people")
        self.fps, self.duration, self.people = fps, duration, people
        self.frame_count = round(fps * duration)
        self.width, self.height = SCENE_WIDTH, SCENE_HEIGHT
        self._background = self._wall()
        self._photo = None
        if people:
            person = astronaut().crop(PHOTO_CROP)
            width = round(person.width * PHOTO_HEIGHT / person.height)
            self._photo = person.resize((width, PHOTO_HEIGHT), Image.Resampling.LANCZOS)

    def _wall(self) -> Image.Image:
        img = Image.new("RGB", (self.width, self.height), (172, 168, 160))
        draw = ImageDraw.Draw(img)
        draw.rectangle([0, self.height - 120, self.width, self.height], fill=(120, 112, 100))
        return img

    def slots(self) -> list[int]:
        """Left edge of each photo at rest."""
        width = self._photo.width if self._photo is not None else 0
        gap = (self.width - self.people * width) / (self.people + 1)
        return [round(gap + i * (width + gap)) for i in range(self.people)]

    def render(self, index: int) -> Image.Image:
        img = self._background.copy()
        if self._photo is not None:
            dx = round(SWAY_PX * math.sin(2 * math.pi * (index % self.frame_count) / self.frame_count))
            top = self.height - 60 - PHOTO_HEIGHT
            for left in self.slots():
                img.paste(self._photo, (left + dx, top))
        return img


class RedBallScene(PhotoScene):
    """A saturated red ball rolling to and fro along the wall: a target for simple colour detectors."""

    RADIUS = 60

    def __init__(self, fps: int, duration: float) -> None:
        super().__init__(fps, duration, 0)

    def render(self, index: int) -> Image.Image:
        img = self._background.copy()
        u = (index % self.frame_count) / self.frame_count
        cx = round(self.width / 2 + (self.width / 2 - 2 * self.RADIUS) * math.sin(2 * math.pi * u))
        cy = self.height - 60 - self.RADIUS
        ImageDraw.Draw(img).ellipse(
            [cx - self.RADIUS, cy - self.RADIUS, cx + self.RADIUS, cy + self.RADIUS], fill=(230, 20, 20)
        )
        return img


def make_scene(name: str, fps: int, duration: float):  # -> SceneRenderer | PhotoScene
    """The renderer for a ``ClipSpec.scene`` name: ``street``, ``empty``, ``red-ball``, ``people-1`` .. ``-3``,
    or ``plates`` / ``plates-<px>`` (cars with known plates, ``nvr.sim.plate_scene``)."""
    from nvr.sim.scene import SceneRenderer

    if name == "street":
        return SceneRenderer(fps=fps, duration=duration)
    if name == "empty":
        return PhotoScene(fps, duration, 0)
    if name == "red-ball":
        return RedBallScene(fps, duration)
    if name.startswith("people-") and name[7:].isdigit():
        return PhotoScene(fps, duration, int(name[7:]))
    if name == "plates" or name.startswith("plates-"):
        from nvr.sim.plate_scene import plate_scene

        return plate_scene(name, fps, duration)
    raise ValueError(f"unknown scene {name!r}: use street, empty, red-ball, people-1 .. people-3 or plates[-<px>]")
