"""Which kelurahan a complaint belongs to, and which kelurahans a kecamatan scope covers.

A complaint's kelurahan is, in order: the ``kelurahan`` the city app sent; the kelurahan boundary (GeoJSON of the
built-in ``kelurahan`` plugin, when it has one) containing the geotag; the kelurahan of the nearest linked camera
(its own config, else the area the ``kelurahan`` plugin worked out for it).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from nvr.config import CameraConfig

if TYPE_CHECKING:
    from nvr.runtime import Runtime

__all__ = ["camera_area", "kecamatan_kelurahans", "point_kelurahan"]

log = logging.getLogger(__name__)

KELURAHAN_STATE = "kelurahan"
"""``runtime.extras`` key of the kelurahan plugin's state (its boundaries and region tree), when it runs."""


def camera_area(runtime: Runtime, camera: CameraConfig) -> tuple[str | None, str | None]:
    """The camera's (kelurahan, kecamatan): its config's, filled in from ``nvr.web.permissions.AREAS_KEY``."""
    from nvr.web.permissions import AREAS_KEY

    area = (runtime.extras.get(AREAS_KEY) or {}).get(camera.name, (None, None))
    return camera.kelurahan or area[0], camera.kecamatan or area[1]


def _state(runtime: Runtime) -> Any:
    return runtime.extras.get(KELURAHAN_STATE)


def point_kelurahan(runtime: Runtime, lat: float, lon: float) -> str | None:
    """The kelurahan whose boundary contains the point, if the kelurahan plugin loaded boundaries."""
    boundaries = getattr(_state(runtime), "boundaries", None)
    if not boundaries:
        return None
    try:
        from nvr.plugins.kelurahan.geo import locate
    except ImportError:  # pragma: no cover - the plugin is built in
        return None
    found = locate(boundaries, lon, lat)
    return found.name if found is not None else None


def kecamatan_kelurahans(runtime: Runtime, kecamatan: str) -> set[str]:
    """The kelurahans of ``kecamatan``: those of its cameras, and those the kelurahan plugin's region tree names."""
    names = {kel for kel, kec in (camera_area(runtime, c) for c in runtime.config.cameras)
             if kel is not None and kec == kecamatan}
    regions = getattr(_state(runtime), "regions", None)
    tree: dict[str, str] = getattr(regions, "kecamatan_of", None) or {}
    names |= {kel for kel, kec in tree.items() if kec == kecamatan}
    return names
