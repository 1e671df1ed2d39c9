"""SQLite implementation of the catalog's adopted cameras (a mixin of ``SqliteCatalog``)."""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Callable
from typing import Any

from nvr.errors import CatalogError
from nvr.storage.adopted_catalog import AdoptedCamera

__all__ = ["SqliteAdoptedMixin"]

_COLUMNS = ("name", "onvif_host", "onvif_port", "main_uri", "sub_uri", "title", "endpoint", "kelurahan",
            "kecamatan", "manufacturer", "model", "serial", "adopted_by", "adopted_at", "id")
_SELECT = f"SELECT {', '.join(_COLUMNS)} FROM adopted_cameras"


class SqliteAdoptedMixin:
    """Needs ``_call``, ``_write``, ``_c`` and ``_now`` from ``SqliteCatalog``."""

    _c: sqlite3.Connection
    _call: Callable[..., Any]
    _write: Callable[[], Any]
    _now: Callable[[], int]

    async def add_adopted_camera(self, camera: AdoptedCamera) -> AdoptedCamera:
        if not camera.name or not camera.main_uri or not camera.adopted_by:
            raise CatalogError("an adopted camera needs a name, a main stream URI and who adopted it")
        return await self._call(self._add_adopted, camera)

    def _add_adopted(self, camera: AdoptedCamera) -> AdoptedCamera:
        camera = dataclasses.replace(camera, adopted_at=camera.adopted_at or self._now(), id=None)
        with self._write() as c:
            for column, value in (("name", camera.name), ("onvif address", (camera.onvif_host, camera.onvif_port))):
                sql = ("SELECT 1 FROM adopted_cameras WHERE name = ?" if column == "name" else
                       "SELECT 1 FROM adopted_cameras WHERE onvif_host = ? AND onvif_port = ?")
                if c.execute(sql, value if isinstance(value, tuple) else (value,)).fetchone() is not None:
                    raise CatalogError(f"an adopted camera with this {column} exists already")
            values = [getattr(camera, k) for k in _COLUMNS[:-1]]
            new_id = c.execute(f"INSERT INTO adopted_cameras ({', '.join(_COLUMNS[:-1])}) VALUES"
                               f" ({', '.join('?' * len(values))}) RETURNING id", values).fetchall()[0][0]
        return dataclasses.replace(camera, id=new_id)

    async def list_adopted_cameras(self) -> list[AdoptedCamera]:
        return await self._call(lambda: [AdoptedCamera(*row) for row in self._c.execute(f"{_SELECT} ORDER BY id")])

    async def remove_adopted_camera(self, name: str) -> AdoptedCamera:
        return await self._call(self._remove_adopted, name)

    def _remove_adopted(self, name: str) -> AdoptedCamera:
        with self._write() as c:
            row = c.execute(f"{_SELECT} WHERE name = ?", (name,)).fetchone()
            if row is None:
                raise CatalogError(f"no adopted camera named {name!r}")
            c.execute("DELETE FROM adopted_cameras WHERE name = ?", (name,))
        return AdoptedCamera(*row)
