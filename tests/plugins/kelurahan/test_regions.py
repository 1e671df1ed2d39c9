"""Region tree from config, camera -> kelurahan by config or by location, and user scopes, table-driven."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from nvr.config import CameraConfig
from nvr.plugins.kelurahan.config import KelurahanConfig
from nvr.plugins.kelurahan.geo import Boundary
from nvr.plugins.kelurahan.regions import Region, Regions, scope_label, scope_matches

CONFIG = KelurahanConfig(kota=[
    {"name": "Jakarta Pusat", "kecamatan": [{"name": "Menteng", "kelurahan": ["Menteng", "Cikini"]},
                                           {"name": "Gambir", "kelurahan": ["Gambir"]}]},
    {"name": "Jakarta Utara", "kecamatan": [{"name": "Penjaringan", "kelurahan": ["Pluit"]}]},
])
SQUARE = ((106.0, -7.0), (107.0, -7.0), (107.0, -6.0), (106.0, -6.0), (106.0, -7.0))
BOUNDARIES = [Boundary("Pluit", ((SQUARE,),)), Boundary("Kampung X", ((((0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0),
                                                                      (0.0, 0.0)),),), (("kecamatan", "Kec X"),))]


def cam(**kw) -> CameraConfig:
    return CameraConfig(name="c1", **kw)


@pytest.mark.parametrize(("camera", "want"), [
    (cam(kelurahan="Cikini"), Region("Cikini", "Menteng", "Jakarta Pusat", "config")),
    (cam(kelurahan="Cikini", kecamatan="Other"), Region("Cikini", "Other", None, "config")),
    (cam(kelurahan="Unlisted"), Region("Unlisted", None, None, "config")),
    (cam(kelurahan="Gambir", location={"lat": -6.5, "lon": 106.5}), Region("Gambir", "Gambir", "Jakarta Pusat",
                                                                            "config")),  # config wins
    (cam(location={"lat": -6.5, "lon": 106.5}), Region("Pluit", "Penjaringan", "Jakarta Utara", "boundary")),
    (cam(location={"lat": 0.5, "lon": 0.5}), Region("Kampung X", "Kec X", None, "boundary")),  # from the feature
    (cam(location={"lat": 50, "lon": 50}), Region(None, None, None, "none")),
    (cam(), Region(None, None, None, "none")),
])
def test_camera_region(camera, want) -> None:
    assert Regions(CONFIG, BOUNDARIES).region(camera) == want


def test_tree() -> None:
    assert Regions(CONFIG).tree() == {"Jakarta Pusat": {"Menteng": ["Menteng", "Cikini"], "Gambir": ["Gambir"]},
                                      "Jakarta Utara": {"Penjaringan": ["Pluit"]}}


@pytest.mark.parametrize(("scope", "region", "ok"), [
    (None, Region(None), True),
    ("Menteng", Region("Menteng", "Menteng"), True),
    ("Menteng", Region("Cikini", "Menteng"), False),
    ("kecamatan:Menteng", Region("Cikini", "Menteng"), True),
    ("kecamatan:Menteng", Region("Menteng", None), False),
    ("kecamatan:Menteng", Region("Gambir", "Gambir"), False),
    ("Menteng", Region(None), False),
])
def test_scope_matches(scope, region, ok) -> None:
    assert scope_matches(scope, region) is ok


def test_scope_label() -> None:
    assert [scope_label(s) for s in (None, "Cikini", "kecamatan:Menteng")] == [
        "all cameras", "Kelurahan Cikini", "Kecamatan Menteng"]


def test_kelurahan_in_two_kecamatan_is_refused() -> None:
    with pytest.raises(ValidationError, match="'Cikini' is listed under both 'Menteng' and 'Gambir'"):
        KelurahanConfig(kota=[{"name": "K", "kecamatan": [{"name": "Menteng", "kelurahan": ["Cikini"]},
                                                          {"name": "Gambir", "kelurahan": ["Cikini"]}]}])
