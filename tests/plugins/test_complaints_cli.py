"""``nvr complaints import`` and ``relink`` against a real catalog: all-or-nothing, idempotent, linked."""

from __future__ import annotations

import asyncio
from pathlib import Path

from nvr.cli import main
from nvr.storage.catalog import open_catalog
from nvr.storage.complaints_catalog import ComplaintFilter

CONFIG = """
[server]
port = 0
[storage]
root = "storage"
[[cameras]]
name = "menteng-1"
kelurahan = "Menteng"
enabled = false
stream = { main = "rtsp://127.0.0.1:9/a" }
location = { lat = -6.1960, lon = 106.8320 }
"""
HEADER = "external_id,category,text,lat,lon,reported_at,kelurahan,reporter_name,reporter_contact,reporter_id,photo\n"
ROWS = ("C-1,banjir,Banjir di depan sekolah,-6.1962,106.8321,2026-01-01T07:00:00+07:00,,Wati Rahasia,0812999,,\n"
        "C-2,sampah,\"Sampah, belum diangkut\",-6.30,106.90,2026-01-01T08:00:00+07:00,Cikini,,,,\n")


def catalog_state(config: Path, work) -> object:
    async def run():
        async with await open_catalog(f"sqlite://{config.parent / 'catalog.db'}") as catalog:
            return await work(catalog)

    return asyncio.run(run())


def test_import_is_all_or_nothing_idempotent_and_links(tmp_path: Path, capsys) -> None:
    config = tmp_path / "nvr.toml"
    config.write_text(CONFIG, encoding="utf-8")
    (tmp_path / "storage").mkdir()
    catalog_state(config, lambda c: c.upsert_camera("menteng-1", kelurahan="Menteng"))
    bad = tmp_path / "bad.csv"
    bad.write_text(HEADER + ROWS + "C-3,gempa,x,-6.2,106.8,2026-01-01T00:00:00Z,,,,,\n", encoding="utf-8")
    assert main(["complaints", "import", str(bad), "-c", str(config)]) == 2
    err = capsys.readouterr().err
    assert "line 4: category: unknown category 'gempa'" in err and "nothing stored" in err
    assert catalog_state(config, lambda c: c.count_complaints(ComplaintFilter())) == 0
    good = tmp_path / "good.csv"
    good.write_text(HEADER + ROWS, encoding="utf-8")
    assert main(["complaints", "import", str(good), "-c", str(config), "--dry-run"]) == 0
    assert catalog_state(config, lambda c: c.count_complaints(ComplaintFilter())) == 0
    assert main(["complaints", "import", str(good), "-c", str(config)]) == 0
    out, err = capsys.readouterr()
    assert "2 stored (1 linked to footage), 0 already there" in out and "Wati" not in out + err
    assert main(["complaints", "import", str(good), "-c", str(config)]) == 0
    assert "0 stored (0 linked to footage), 2 already there" in capsys.readouterr().out

    async def look(catalog):
        found = {c.external_id: c for c in await catalog.list_complaints(ComplaintFilter())}
        links = await catalog.complaint_cameras(found["C-1"].id)
        return found, links, await catalog.complaint_reporter(found["C-1"].id)

    found, links, reporter = catalog_state(config, look)
    assert (found["C-1"].status, found["C-1"].kelurahan, found["C-1"].source) == ("linked", "Menteng", "csv")
    assert (found["C-2"].status, found["C-2"].kelurahan) == ("new", "Cikini")
    assert [x.camera for x in links] == ["menteng-1"] and reporter.name == "Wati Rahasia"
    assert main(["complaints", "relink", "-c", str(config)]) == 0
    assert "0 open complaint(s) gained links" in capsys.readouterr().out
