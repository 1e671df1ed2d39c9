"""Regions (kota -> kecamatan -> kelurahan) and which kelurahan each camera belongs to: by config, else by location."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from nvr.config import CameraConfig

from .config import KelurahanConfig
from .geo import Boundary, locate

KECAMATAN_PREFIX = "kecamatan:"
"""A user scope naming a kecamatan (``kecamatan:Menteng``) rather than one kelurahan (``Menteng``)."""


@dataclass(frozen=True, slots=True)
class Region:
    """Where a camera is: its kelurahan, and the kecamatan and kota above it where known."""

    kelurahan: str | None
    kecamatan: str | None = None
    kota: str | None = None
    source: str = "none"
    """``config`` (the camera's own kelurahan), ``boundary`` (its location in a GeoJSON area) or ``none``."""


class Regions:
    """The region tree from config plus boundaries; resolves cameras to regions (pure, no I/O)."""

    def __init__(self, config: KelurahanConfig, boundaries: Iterable[Boundary] = ()) -> None:
        self.boundaries = list(boundaries)
        self.kecamatan_of: dict[str, str] = {}
        self.kota_of: dict[str, str] = {}
        for kota in config.kota:
            for kec in kota.kecamatan:
                self.kota_of[kec.name] = kota.name
                for kel in kec.kelurahan:
                    self.kecamatan_of[kel] = kec.name

    def tree(self) -> dict[str, dict[str, list[str]]]:
        """``{kota: {kecamatan: [kelurahan...]}}`` of the configured regions."""
        out: dict[str, dict[str, list[str]]] = {}
        for kel, kec in self.kecamatan_of.items():
            out.setdefault(self.kota_of.get(kec, ""), {}).setdefault(kec, []).append(kel)
        return out

    def region(self, camera: CameraConfig) -> Region:
        """The camera's own ``kelurahan`` wins; else the boundary its location lies in; else none."""
        kel, source = camera.kelurahan, "config"
        boundary = None
        if kel is None and camera.location is not None and self.boundaries:
            boundary = locate(self.boundaries, camera.location.lon, camera.location.lat)
            kel, source = (boundary.name, "boundary") if boundary is not None else (None, "none")
        if kel is None:
            return Region(None, camera.kecamatan, self.kota_of.get(camera.kecamatan or ""), "none")
        kec = camera.kecamatan or self.kecamatan_of.get(kel) or (boundary.prop("kecamatan") if boundary else None)
        return Region(kel, kec, self.kota_of.get(kec or ""), source)

    def resolve(self, cameras: Iterable[CameraConfig]) -> dict[str, Region]:
        """Regions of many cameras by name."""
        return {c.name: self.region(c) for c in cameras}


def scope_matches(scope: str | None, region: Region) -> bool:
    """Whether a user scope (None = everything, a kelurahan, or ``kecamatan:<name>``) covers ``region``."""
    if scope is None:
        return True
    if scope.startswith(KECAMATAN_PREFIX):
        return region.kecamatan is not None and region.kecamatan == scope[len(KECAMATAN_PREFIX):]
    return region.kelurahan is not None and region.kelurahan == scope


def scope_label(scope: str | None) -> str:
    """How a scope reads in the UI."""
    if scope is None:
        return "all cameras"
    if scope.startswith(KECAMATAN_PREFIX):
        return f"Kecamatan {scope[len(KECAMATAN_PREFIX):]}"
    return f"Kelurahan {scope}"
