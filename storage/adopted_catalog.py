"""The catalog's adopted cameras: ONVIF devices an admin adopted in the web UI, recorded without a config edit."""

from __future__ import annotations

import abc
from dataclasses import dataclass

__all__ = ["AdoptedCamera", "AdoptedCatalog"]


@dataclass(frozen=True, slots=True)
class AdoptedCamera:
    """One adopted device (never its password: adopted cameras use the ``[discovery]`` credentials)."""

    name: str
    onvif_host: str
    onvif_port: int
    main_uri: str
    sub_uri: str | None = None
    title: str | None = None
    endpoint: str | None = None
    kelurahan: str | None = None
    kecamatan: str | None = None
    manufacturer: str | None = None
    model: str | None = None
    serial: str | None = None
    adopted_by: str = ""
    adopted_at: int = 0
    id: int | None = None


class AdoptedCatalog(abc.ABC):
    """Adopted-camera storage; times in UTC µs."""

    @abc.abstractmethod
    async def add_adopted_camera(self, camera: AdoptedCamera) -> AdoptedCamera:
        """Store ``camera`` (``adopted_at`` now when 0); a name or ONVIF address taken raises ``CatalogError``."""

    @abc.abstractmethod
    async def list_adopted_cameras(self) -> list[AdoptedCamera]:
        """Every adopted camera, oldest first (the order they join the camera list in)."""

    @abc.abstractmethod
    async def remove_adopted_camera(self, name: str) -> AdoptedCamera:
        """Forget an adopted camera (its footage stays, as for a camera removed from the config);
        an unknown name raises ``CatalogError``."""
