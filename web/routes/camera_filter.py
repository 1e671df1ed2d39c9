"""The camera filters shared by the dashboard and ``/api/cameras``: text, tag, kecamatan, kelurahan, state."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web

from nvr.config import CameraConfig
from nvr.web import query_params as qp

FIELDS = ("q", "tag", "kecamatan", "kelurahan", "state")


@dataclass(frozen=True)
class CameraFilter:
    """What the user asked for; empty strings mean "any"."""

    q: str = ""
    tag: str = ""
    kecamatan: str = ""
    kelurahan: str = ""
    state: str = ""

    @classmethod
    def of(cls, request: web.Request) -> CameraFilter:
        return cls(**{name: qp.text(request, name) or "" for name in FIELDS})

    def chosen(self) -> dict[str, str]:
        """Every field (empty when not chosen), for the filter form."""
        return {name: getattr(self, name) for name in FIELDS}

    def apply(self, cameras: list[CameraConfig], state_of: Callable[[str], str]) -> list[CameraConfig]:
        """The cameras that match every chosen field (``q``: part of the name or title, any case)."""
        if not any(self.chosen().values()):
            return cameras
        q = self.q.lower()
        return [
            c for c in cameras
            if (not q or q in c.name or q in (c.title or "").lower())
            and (not self.tag or self.tag in c.tags)
            and (not self.kecamatan or c.kecamatan == self.kecamatan)
            and (not self.kelurahan or c.kelurahan == self.kelurahan)
            and (not self.state or state_of(c.name) == self.state)
        ]
