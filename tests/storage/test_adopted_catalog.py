"""The catalog's adopted cameras: stored without credentials, unique by name and ONVIF address, listed, forgotten."""

from __future__ import annotations

import dataclasses

import pytest

from nvr.errors import CatalogError
from nvr.storage.adopted_catalog import AdoptedCamera
from nvr.storage.catalog import Catalog

CAM = AdoptedCamera(name="taman-1", onvif_host="127.0.0.1", onvif_port=8081,
                    main_uri="rtsp://127.0.0.1:8554/cam01/main", sub_uri="rtsp://127.0.0.1:8554/cam01/sub",
                    endpoint="urn:uuid:1", kelurahan="Menteng", kecamatan="Menteng", manufacturer="nvr-sim",
                    model="SimCam 1", serial="SIM-0001", adopted_by="admin")


async def test_adopt_list_and_forget(catalog: Catalog) -> None:
    stored = await catalog.add_adopted_camera(CAM)
    assert stored.id is not None and stored.adopted_at > 0
    second = await catalog.add_adopted_camera(dataclasses.replace(CAM, name="taman-2", onvif_port=8082,
                                                                  sub_uri=None, kelurahan=None))
    assert await catalog.list_adopted_cameras() == [stored, second]
    with pytest.raises(CatalogError, match="name"):
        await catalog.add_adopted_camera(dataclasses.replace(CAM, onvif_port=9999))
    with pytest.raises(CatalogError, match="onvif address"):
        await catalog.add_adopted_camera(dataclasses.replace(CAM, name="taman-3"))
    with pytest.raises(CatalogError):
        await catalog.add_adopted_camera(dataclasses.replace(CAM, name="x", onvif_port=1, adopted_by=""))
    assert await catalog.remove_adopted_camera("taman-1") == stored
    assert [c.name for c in await catalog.list_adopted_cameras()] == ["taman-2"]
    with pytest.raises(CatalogError, match="no adopted camera"):
        await catalog.remove_adopted_camera("taman-1")
