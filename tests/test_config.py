"""``nvr.config``: defaults, every kind of bad config, key paths, line numbers, secrets, paths."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from pydantic import BaseModel, ValidationError

from nvr.config import Config, LoadedConfig, load_config, parse_config
from nvr.errors import ConfigError, ConfigProblem
from nvr.plugin_host import PluginHost

SECRET = "Rahasia-Monas-1945"
CAM = '[[cameras]]\nname = "cam"\nstream = { main = "rtsp://127.0.0.1:8554/cam" }\n'


@pytest.fixture(scope="module")
def models() -> dict[str, type[BaseModel]]:
    return PluginHost(load_entry_points=False).config_models()


def write(folder: Path, text: str, name: str = "nvr.toml") -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def load(folder: Path, text: str, models: dict[str, type[BaseModel]]) -> LoadedConfig:
    return load_config(write(folder, text), models)


def problems(folder: Path, text: str, models: dict[str, type[BaseModel]]) -> list[ConfigProblem]:
    with pytest.raises(ConfigError) as info:
        load(folder, text, models)
    return info.value.problems


def by_key(found: list[ConfigProblem]) -> dict[str, ConfigProblem]:
    return {p.key: p for p in found}


def only_problem(folder: Path, text: str, models: dict[str, type[BaseModel]]) -> ConfigProblem:
    found = problems(folder, text, models)
    assert len(found) == 1, [str(p) for p in found]
    return found[0]


# --- defaults ------------------------------------------------------------------------------


def test_empty_file_gives_every_default(tmp_path: Path, models: dict) -> None:
    loaded = load(tmp_path, "", models)
    cfg = loaded.config
    assert loaded.path == tmp_path / "nvr.toml"
    assert (cfg.server.host, cfg.server.port, cfg.server.session_hours) == ("127.0.0.1", 8080, 12)
    assert cfg.log.level == "info"
    assert cfg.storage.root == (tmp_path / "var" / "storage").resolve()
    assert cfg.catalog.url == ""
    assert cfg.catalog_url == str((tmp_path / "var" / "catalog.db").resolve())
    d = cfg.discovery
    assert (d.enabled, d.interval_minutes, d.interface, d.port, d.multicast) == (False, 10, None, 3702, True)
    assert (d.unicast, d.timeout_s, d.username, d.password) == ([], 3.0, None, None)
    assert cfg.cameras == [] and cfg.plugins == {}
    camera_log = loaded.plugin_configs["camera_log"]
    assert (camera_log.level, camera_log.discovered) == ("info", True)


def test_camera_defaults(tmp_path: Path, models: dict) -> None:
    cam = load(tmp_path, CAM, models).config.cameras[0]
    assert (cam.name, cam.title, cam.display_name, cam.enabled) == ("cam", None, "cam", True)
    assert (cam.onvif, cam.location, cam.kelurahan, cam.kecamatan, cam.tags) == (None, None, None, None, [])
    assert cam.stream is not None
    assert (cam.stream.sub, cam.stream.transport, cam.stream.username, cam.stream.password) == (
        None, "tcp", None, None)
    assert (cam.record.enabled, cam.record.segment_seconds, cam.record.retain_days) == (True, 60, 30)
    assert (cam.detect.enabled, cam.detect.fps, cam.detect.stream) == (False, 0.5, "auto")
    assert cam.detect.objects == ["person", "car", "motorcycle", "bicycle", "bus", "truck"]
    assert cam.rtsp_credentials() == (None, None)


def test_full_camera_and_credential_fallback(tmp_path: Path, models: dict, monkeypatch) -> None:
    monkeypatch.setenv("NVR_T_ONVIF", "onvif-pw")
    cfg = load(tmp_path, """
        [[cameras]]
        name = "gambir-monas"
        title = "Monas"
        kelurahan = "Gambir"
        kecamatan = "Gambir"
        tags = ["monas"]
        location = { lat = -6.1754, lon = 106.8272 }
        onvif = { host = "127.0.0.1", port = 8000, username = "admin", password = { env = "NVR_T_ONVIF" } }

        [[cameras]]
        name = "gondangdia"
        onvif = { host = "127.0.0.1", username = "admin", password = "onvif-literal" }
        stream = { main = "rtsps://127.0.0.1/m", transport = "udp", username = "viewer", password = "rtsp-pw" }
        """, models).config
    monas, gondangdia = cfg.cameras
    assert monas.display_name == "Monas"
    assert (monas.location.lat, monas.location.lon) == (-6.1754, 106.8272)
    assert monas.rtsp_credentials() == ("admin", "onvif-pw")
    assert gondangdia.rtsp_credentials() == ("viewer", "rtsp-pw")
    assert gondangdia.stream.transport == "udp"
    assert cfg.camera("gondangdia") is gondangdia and cfg.camera("nope") is None


def test_config_is_immutable(tmp_path: Path, models: dict) -> None:
    cfg = load(tmp_path, CAM, models).config
    with pytest.raises(ValidationError):
        cfg.server.port = 1  # type: ignore[misc]


# --- each bad config names its key ----------------------------------------------------------


@pytest.mark.parametrize(
    "text, key",
    [
        ("colour = 'red'\n", "colour"),
        ("[bogus]\nx = 1\n", "bogus"),
        ("[server]\nhots = '127.0.0.1'\n", "server.hots"),
        (CAM + "fps = 5\n", "cameras[0].fps"),
        (CAM + "[cameras.record]\nkeep_days = 3\n", "cameras[0].record.keep_days"),
        (CAM + "onvif = { host = '127.0.0.1', pass = 'x' }\n", "cameras[0].onvif.pass"),
        (CAM + "location = { lat = 1, lon = 2, alt = 3 }\n", "cameras[0].location.alt"),
    ],
)
def test_unknown_keys(tmp_path: Path, models: dict, text: str, key: str) -> None:
    problem = only_problem(tmp_path, text, models)
    assert (problem.key, problem.message) == (key, "unknown key")


@pytest.mark.parametrize(
    "text, key, message",
    [
        ("[server]\nhost = 5\n", "server.host", "Input should be a valid string"),
        ("[server]\nport = 80.5\n", "server.port", "Input should be a valid integer"),
        ("[server]\nport = 'eighty'\n", "server.port", "Input should be a valid integer"),
        ("[discovery]\nenabled = 'maybe'\n", "discovery.enabled", "Input should be a valid boolean"),
        ("[discovery]\nunicast = '127.0.0.1'\n", "discovery.unicast", "Input should be a valid list"),
        ("server = 1\n", "server", "Input should be a valid dictionary"),
        ("[log]\nlevel = 'loud'\n", "log.level", "Input should be 'debug', 'info', 'warning' or 'error'"),
        (CAM + "tags = 'x'\n", "cameras[0].tags", "Input should be a valid list"),
        (CAM + "location = { lat = 'north', lon = 1 }\n", "cameras[0].location.lat",
         "Input should be a valid number"),
        (CAM.replace('main = "', 'transport = "http", main = "'), "cameras[0].stream.transport",
         "Input should be 'tcp' or 'udp'"),
        ("cameras = 'x'\n", "cameras", "Input should be a valid list"),
        ("cameras = [1]\n", "cameras[0]", "Input should be a valid dictionary"),
    ],
)
def test_wrong_types(tmp_path: Path, models: dict, text: str, key: str, message: str) -> None:
    found = by_key(problems(tmp_path, text, models))
    assert key in found, list(found)
    assert found[key].message.startswith(message)


def test_camera_without_any_url_names_stream_main(tmp_path: Path, models: dict) -> None:
    problem = only_problem(tmp_path, CAM + """
        [[cameras]]
        name = "no-url"
        [cameras.stream]
        sub = "rtsp://127.0.0.1/sub"
        """, models)
    assert problem.key == "cameras[1].stream.main"
    assert "stream.main" in problem.message and "onvif" in problem.message


def test_onvif_table_replaces_stream_main(tmp_path: Path, models: dict) -> None:
    cfg = load(tmp_path, '[[cameras]]\nname = "a"\nonvif = { host = "127.0.0.1" }\n', models).config
    assert cfg.cameras[0].stream is None and cfg.cameras[0].onvif.port == 80


@pytest.mark.parametrize(
    "text, key",
    [
        ('[[cameras]]\nstream = { main = "rtsp://127.0.0.1/x" }\n', "cameras[0].name"),
        (CAM + '[[cameras]]\nname = "b"\n[cameras.onvif]\nport = 80\n', "cameras[1].onvif.host"),
        (CAM + "location = { lat = 1 }\n", "cameras[0].location.lon"),
    ],
)
def test_missing_required_keys(tmp_path: Path, models: dict, text: str, key: str) -> None:
    found = by_key(problems(tmp_path, text, models))
    assert found[key].message == "required key is missing"


@pytest.mark.parametrize(
    "value, message",
    [
        ('{ env = "NVR_TEST_DEFINITELY_UNSET" }', "environment variable NVR_TEST_DEFINITELY_UNSET is not set"),
        ('{ env = "A", file = "/b" }',
         'a secret reference has exactly one key, "env" or "file" (got [\'env\', \'file\'])'),
        ('{ file = "/nonexistent/nvr/pw" }', "cannot read secret file /nonexistent/nvr/pw: No such file or directory"),
        ("1234", 'expected a string, { env = "NAME" } or { file = "/path" }'),
    ],
)
@pytest.mark.parametrize(
    "where, key",
    [
        ('[discovery]\npassword = {value}\n', "discovery.password"),
        ('[[cameras]]\nname = "a"\nonvif = {{ host = "127.0.0.1", password = {value} }}\n',
         "cameras[0].onvif.password"),
        ('[[cameras]]\nname = "a"\n[cameras.stream]\nmain = "rtsp://127.0.0.1/a"\npassword = {value}\n',
         "cameras[0].stream.password"),
    ],
)
def test_bad_secret_references_name_the_secret_key(
    tmp_path: Path, models: dict, monkeypatch, value: str, message: str, where: str, key: str
) -> None:
    monkeypatch.delenv("NVR_TEST_DEFINITELY_UNSET", raising=False)
    problem = only_problem(tmp_path, where.format(value=value), models)
    assert (problem.key, problem.message) == (key, message)


def test_unreadable_secret_file_in_stream_table(tmp_path: Path, models: dict) -> None:
    problem = only_problem(tmp_path, f"""
        [[cameras]]
        name = "a"
        [cameras.stream]
        main = "rtsp://127.0.0.1/a"
        password = {{ file = "{tmp_path}" }}
        """, models)
    assert problem.key == "cameras[0].stream.password"
    assert problem.message == f"cannot read secret file {tmp_path}: Is a directory"
    assert problem.line == 6


def test_relative_secret_file_resolves_against_the_config_folder(
    tmp_path: Path, models: dict, monkeypatch
) -> None:
    conf = tmp_path / "etc"
    (conf / "secrets").mkdir(parents=True)
    (conf / "secrets" / "onvif").write_text(SECRET + "\n", encoding="utf-8")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    loaded = load(conf, '[discovery]\npassword = { file = "secrets/onvif" }\n', models)
    assert loaded.config.discovery.password.get_secret_value() == SECRET


def test_user_names_take_references_too(tmp_path: Path, models: dict, monkeypatch) -> None:
    monkeypatch.setenv("NVR_T_USER", "operator")
    (tmp_path / "rtsp-user").write_text("viewer\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path.parent)
    cfg = load(tmp_path, """
        [discovery]
        username = { env = "NVR_T_USER" }
        [[cameras]]
        name = "a"
        onvif = { host = "127.0.0.1", username = { env = "NVR_T_USER" } }
        stream = { main = "rtsp://127.0.0.1/a", username = { file = "rtsp-user" } }
        """, models).config
    assert cfg.discovery.username == "operator"
    assert cfg.cameras[0].rtsp_credentials() == ("viewer", None)


def test_bad_user_name_reference_names_the_key(tmp_path: Path, models: dict, monkeypatch) -> None:
    monkeypatch.delenv("NVR_TEST_DEFINITELY_UNSET", raising=False)
    problem = only_problem(tmp_path, CAM.replace(
        '" }', '", username = { env = "NVR_TEST_DEFINITELY_UNSET" } }'), models)
    assert problem.key == "cameras[0].stream.username"
    assert problem.message == "environment variable NVR_TEST_DEFINITELY_UNSET is not set"


def test_duplicate_camera_names(tmp_path: Path, models: dict) -> None:
    found = problems(tmp_path, CAM + CAM + CAM.replace('"cam"', '"other"') + CAM, models)
    assert [p.key for p in found] == ["cameras[1].name", "cameras[3].name"]
    assert found[0].message == "duplicate camera name 'cam' (also cameras[0])"
    assert found[1].message == "duplicate camera name 'cam' (also cameras[0])"


@pytest.mark.parametrize("name", ["Monas", "monas barat", "-lead", "_lead", "a" * 65, "", "kota.tua", "jalan/1"])
def test_bad_camera_names(tmp_path: Path, models: dict, name: str) -> None:
    problem = only_problem(tmp_path, CAM.replace('"cam"', f'"{name}"'), models)
    assert problem.key == "cameras[0].name"
    assert "String should match pattern" in problem.message


@pytest.mark.parametrize("name", ["a", "0", "cam_01-north", "a" * 64])
def test_good_camera_names(tmp_path: Path, models: dict, name: str) -> None:
    assert load(tmp_path, CAM.replace('"cam"', f'"{name}"'), models).config.cameras[0].name == name


def test_discovery_multicast_needs_an_interface(tmp_path: Path, models: dict) -> None:
    problem = only_problem(tmp_path, "[discovery]\nenabled = true\n", models)
    assert problem.key == "discovery.interface"
    assert "IPv4 address of the interface" in problem.message
    assert problem.line == 1


@pytest.mark.parametrize(
    "text",
    [
        "[discovery]\nenabled = false\n",
        "[discovery]\nenabled = true\ninterface = '127.0.0.1'\n",
        "[discovery]\nenabled = true\nmulticast = false\nunicast = ['127.0.0.1', '198.51.100.0/28', 'cam.example']\n",
    ],
)
def test_discovery_accepted(tmp_path: Path, models: dict, text: str) -> None:
    load(tmp_path, text, models)


@pytest.mark.parametrize(
    "text, key, message",
    [
        ("[discovery]\ninterface = 'eth0'\n", "discovery.interface", "Expected 4 octets in 'eth0'"),
        ("[discovery]\ninterface = '::1'\n", "discovery.interface", ""),
        ("[discovery]\nunicast = ['127.0.0.1', 'bad host']\n", "discovery.unicast",
         "'bad host' is neither a host nor a CIDR subnet"),
        ("[discovery]\nunicast = ['']\n", "discovery.unicast", "'' is neither a host nor a CIDR subnet"),
    ],
)
def test_discovery_bad_targets(tmp_path: Path, models: dict, text: str, key: str, message: str) -> None:
    problem = only_problem(tmp_path, text, models)
    assert problem.key == key and problem.message.startswith(message)


@pytest.mark.parametrize(
    "text, key",
    [
        ("[server]\nport = 65536\n", "server.port"),
        ("[server]\nport = -1\n", "server.port"),
        ("[server]\nsession_hours = 0\n", "server.session_hours"),
        ("[server]\nsession_hours = 721\n", "server.session_hours"),
        ("[discovery]\ninterval_minutes = 0.05\n", "discovery.interval_minutes"),
        ("[discovery]\ninterval_minutes = 1441\n", "discovery.interval_minutes"),
        ("[discovery]\nport = 0\n", "discovery.port"),
        ("[discovery]\ntimeout_s = 0\n", "discovery.timeout_s"),
        ("[discovery]\ntimeout_s = 61\n", "discovery.timeout_s"),
        (CAM + "onvif = { host = 'h', port = 0 }\n", "cameras[0].onvif.port"),
        (CAM + "onvif = { host = 'h', port = 65536 }\n", "cameras[0].onvif.port"),
        (CAM + "location = { lat = 90.5, lon = 0 }\n", "cameras[0].location.lat"),
        (CAM + "location = { lat = 0, lon = -180.1 }\n", "cameras[0].location.lon"),
        (CAM + "record = { segment_seconds = 9 }\n", "cameras[0].record.segment_seconds"),
        (CAM + "record = { segment_seconds = 601 }\n", "cameras[0].record.segment_seconds"),
        (CAM + "record = { retain_days = -1 }\n", "cameras[0].record.retain_days"),
        (CAM + "record = { retain_days = 3651 }\n", "cameras[0].record.retain_days"),
        (CAM + "detect = { fps = 0 }\n", "cameras[0].detect.fps"),
        (CAM + "detect = { fps = 30.5 }\n", "cameras[0].detect.fps"),
    ],
)
def test_out_of_bounds_numbers(tmp_path: Path, models: dict, text: str, key: str) -> None:
    problem = only_problem(tmp_path, text, models)
    assert problem.key == key
    assert problem.message.startswith("Input should be greater than") or problem.message.startswith(
        "Input should be less than")


def test_bounds_are_inclusive_where_documented(tmp_path: Path, models: dict) -> None:
    cfg = load(tmp_path, """
        [server]
        port = 0
        session_hours = 720
        [discovery]
        interval_minutes = 0.1
        port = 65535
        timeout_s = 60
        [[cameras]]
        name = "a"
        onvif = { host = "127.0.0.1", port = 1 }
        location = { lat = -90, lon = 180 }
        record = { segment_seconds = 10, retain_days = 0.5 }
        detect = { fps = 30 }
        [[cameras]]
        name = "b"
        onvif = { host = "127.0.0.1", port = 65535 }
        location = { lat = 90, lon = -180 }
        record = { segment_seconds = 600, retain_days = 3650 }
        """, models).config
    assert cfg.server.port == 0 and cfg.cameras[1].record.retain_days == 3650


@pytest.mark.parametrize("field", ["main", "sub"])
@pytest.mark.parametrize(
    "url",
    [f"rtsp://admin:{SECRET}@127.0.0.1:554/live", f"rtsps://admin:{SECRET}@127.0.0.1/live", "rtsp://admin@127.0.0.1/"],
)
def test_rtsp_url_with_credentials_is_rejected_without_echoing_it(
    tmp_path: Path, models: dict, field: str, url: str
) -> None:
    text = f'[[cameras]]\nname = "a"\nonvif = {{ host = "127.0.0.1" }}\n[cameras.stream]\n{field} = "{url}"\n'
    with pytest.raises(ConfigError) as info:
        load(tmp_path, text, models)
    (problem,) = info.value.problems
    assert (problem.key, problem.line) == (f"cameras[0].stream.{field}", 5)
    assert problem.message == "put credentials in username/password, not in the URL"
    assert SECRET not in str(info.value) and SECRET not in info.value.report()


@pytest.mark.parametrize("url", ["http://127.0.0.1/x", "127.0.0.1:554/x", "RTSP://127.0.0.1/x", ""])
def test_non_rtsp_url_is_rejected(tmp_path: Path, models: dict, url: str) -> None:
    found = by_key(problems(tmp_path, f'[[cameras]]\nname = "a"\nstream = {{ main = "{url}" }}\n', models))
    assert found["cameras[0].stream.main"].message == "must be an rtsp:// or rtsps:// URL"


# --- all problems at once, line numbers -----------------------------------------------------


BAD = """\
bogus = 1
[server]
port = 70000
host = 5

[discovery]
enabled = true
password = { env = "A", file = "/x" }

[[cameras]]
name = "Bad Name"
color = "red"
onvif = { host = "127.0.0.1", password = { env = "NVR_TEST_DEFINITELY_UNSET" } }

[[cameras]]
name = "cam2"
[cameras.stream]
sub = "rtsp://127.0.0.1/sub"
transport = "carrier-pigeon"

[[cameras]]
name = "cam2"
stream.main = "rtsp://127.0.0.1/x"
[cameras.record]
segment_seconds = 5
[cameras.location]
lat = 100

[plugins.camera_log]
level = "loud"

[plugins.nope]
x = 1
"""

BAD_EXPECTED = [
    ("bogus", 1, "unknown key"),
    ("server.port", 3, "Input should be less than or equal to 65535"),
    ("server.host", 4, "Input should be a valid string"),
    ("discovery.interface", 6, "set the IPv4 address"),
    ("discovery.password", 8, "a secret reference has exactly one key"),
    ("cameras[0].name", 11, "String should match pattern"),
    ("cameras[0].color", 12, "unknown key"),
    ("cameras[0].onvif.password", 13, "environment variable NVR_TEST_DEFINITELY_UNSET is not set"),
    ("cameras[1].stream.main", 17, "camera needs a main stream URL"),
    ("cameras[1].stream.transport", 19, "Input should be 'tcp' or 'udp'"),
    ("cameras[2].name", 22, "duplicate camera name 'cam2' (also cameras[1])"),
    ("cameras[2].record.segment_seconds", 25, "Input should be greater than or equal to 10"),
    ("cameras[2].location.lat", 27, "Input should be less than or equal to 90"),
    ("cameras[2].location.lon", 26, "required key is missing"),
    ("plugins.camera_log.level", 30, "Input should be 'debug', 'info' or 'warning'"),
    ("plugins.nope", 32, "no installed plugin takes a [plugins.nope] table (known: camera_log, "),
]


def test_every_problem_is_reported_at_once_with_its_line(tmp_path: Path, models: dict, monkeypatch) -> None:
    monkeypatch.delenv("NVR_TEST_DEFINITELY_UNSET", raising=False)
    found = problems(tmp_path, BAD, models)
    assert sorted((p.key, p.line) for p in found) == sorted((k, line) for k, line, _ in BAD_EXPECTED)
    got = by_key(found)
    for key, _, message in BAD_EXPECTED:
        assert got[key].message.startswith(message), (key, got[key].message)
    assert [p.line for p in found] == sorted(p.line for p in found)  # sorted by line


def test_report_format(tmp_path: Path, models: dict, monkeypatch) -> None:
    monkeypatch.delenv("NVR_TEST_DEFINITELY_UNSET", raising=False)
    path = write(tmp_path, BAD)
    with pytest.raises(ConfigError) as info:
        load_config(path, models)
    lines = info.value.report().splitlines()
    assert lines[0] == f"{path}: {len(BAD_EXPECTED)} problem(s)"
    assert "  server.port (line 3): Input should be less than or equal to 65535" in lines
    assert "  bogus (line 1): unknown key" in lines
    assert info.value.source == str(path)


@pytest.mark.parametrize(
    "text, key, line",
    [
        # missing key: the line of its table
        ("\n\n[[cameras]]\nname = 'a'\n", "cameras[0].stream.main", 3),
        # second array element, key inside an inline table on one line
        (CAM + "\n[[cameras]]\nname = 'b'\nonvif = { host = 'h', port = 99999 }\n", "cameras[1].onvif.port", 7),
        # dotted key
        (CAM + "[[cameras]]\nname = 'b'\n\nrecord.retain_days = -5\n", "cameras[1].record.retain_days", 7),
        # nested inline table (secret reference) inside an inline table
        ("[[cameras]]\nname = 'a'\nonvif = { host = 'h', password = { env = 'A', file = 'b' } }\n",
         "cameras[0].onvif.password", 3),
        # a whole top-level table written inline
        ("\ndiscovery = { enabled = true, timeout_s = 0, interface = '127.0.0.1' }\n", "discovery.timeout_s", 2),
        # unknown table in a later array element
        (CAM + CAM.replace('"cam"', '"b"') + "[cameras.zoom]\nlevel = 2\n", "cameras[1].zoom", 7),
        # the plugin table header when the plugin is unknown
        ("[log]\nlevel = 'debug'\n\n[plugins.nope]\n", "plugins.nope", 4),
        # a header with a comment after it
        ("[server]   # web\nsession_hours = -1  # oops\n", "server.session_hours", 2),
    ],
)
def test_line_numbers(tmp_path: Path, models: dict, text: str, key: str, line: int) -> None:
    found = by_key(problems(tmp_path, text, models))
    assert found[key].line == line, found[key]


def test_invalid_toml_is_one_problem(tmp_path: Path, models: dict) -> None:
    problem = only_problem(tmp_path, "[server]\nport = \n", models)
    assert problem.key == "(file)"
    assert problem.message.startswith("invalid TOML:") and "line 2" in problem.message


def test_unreadable_config_file(tmp_path: Path, models: dict) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "missing.toml", models)
    (problem,) = info.value.problems
    assert problem.message == "cannot read config: No such file or directory"


# --- secrets never print ----------------------------------------------------------------


def test_secrets_never_appear_in_repr(tmp_path: Path, models: dict, monkeypatch) -> None:
    monkeypatch.setenv("NVR_T_SECRET", SECRET)
    (tmp_path / "pw").write_text(SECRET + "-file\n", encoding="utf-8")
    loaded = load(tmp_path, f"""
        [discovery]
        password = "{SECRET}-literal"
        [[cameras]]
        name = "a"
        onvif = {{ host = "127.0.0.1", password = {{ env = "NVR_T_SECRET" }} }}
        stream = {{ main = "rtsp://127.0.0.1/a", password = {{ file = "pw" }} }}
        """, models)
    cfg = loaded.config
    assert cfg.cameras[0].stream.password.get_secret_value() == SECRET + "-file"
    for text in (repr(cfg), str(cfg), repr(loaded), cfg.model_dump_json(), repr(cfg.cameras[0])):
        assert SECRET not in text


def test_secrets_never_appear_in_error_text(tmp_path: Path, models: dict, monkeypatch) -> None:
    monkeypatch.setenv("NVR_T_SECRET", SECRET)
    (tmp_path / "pw").write_bytes(SECRET.encode() + b"\xff")
    with pytest.raises(ConfigError) as info:
        load(tmp_path, f"""
            [discovery]
            password = "{SECRET}"
            pasword = "{SECRET}"
            port = "{SECRET}"
            [[cameras]]
            name = "a"
            onvif = {{ host = "127.0.0.1", password = {{ env = "NVR_T_SECRET" }}, extra = 1 }}
            stream = {{ main = "rtsp://u:{SECRET}@127.0.0.1/a", password = {{ file = "pw" }} }}
            """, models)
    err = info.value
    assert len(err.problems) == 5
    for text in (str(err), err.report(), repr(err.problems), *(p.message for p in err.problems)):
        assert SECRET not in text


# --- paths ---------------------------------------------------------------------------------


def test_relative_paths_resolve_against_the_config_folder(tmp_path: Path, models: dict, monkeypatch) -> None:
    conf = tmp_path / "etc" / "nvr"
    conf.mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    cfg = load(conf, '[storage]\nroot = "footage"\n[catalog]\nurl = "db/catalog.db"\n', models).config
    assert cfg.storage.root == conf.resolve() / "footage"
    assert cfg.catalog.url == str(conf.resolve() / "db" / "catalog.db")
    assert cfg.catalog_url == cfg.catalog.url


def test_parent_relative_storage_root_is_normalised(tmp_path: Path, models: dict) -> None:
    conf = tmp_path / "etc"
    conf.mkdir()
    cfg = load(conf, '[storage]\nroot = "../srv/storage"\n', models).config
    assert cfg.storage.root == tmp_path.resolve() / "srv" / "storage"
    assert cfg.catalog_url == str(tmp_path.resolve() / "srv" / "catalog.db")


def test_absolute_paths_and_urls_are_kept(tmp_path: Path, models: dict) -> None:
    root = tmp_path / "abs" / "storage"
    cfg = load(tmp_path, f'[storage]\nroot = "{root}"\n[catalog]\nurl = "sqlite:///{tmp_path}/c.db"\n',
               models).config
    assert cfg.storage.root == root
    assert cfg.catalog.url == f"sqlite:///{tmp_path}/c.db"


def test_parse_config_without_base_dir_keeps_relative_paths(models: dict) -> None:
    loaded = parse_config('[storage]\nroot = "footage"\n', models)
    assert loaded.config.storage.root == Path("footage")
    assert loaded.path is None


# --- plugin tables ---------------------------------------------------------------------------


def test_plugin_table_is_validated_with_the_plugin_model(tmp_path: Path, models: dict) -> None:
    loaded = load(tmp_path, '[plugins.camera_log]\nlevel = "debug"\ndiscovered = false\n', models)
    cfg = loaded.plugin_configs["camera_log"]
    assert (cfg.level, cfg.discovered) == ("debug", False)
    assert loaded.config.plugins == {"camera_log": {"level": "debug", "discovered": False}}


def test_unknown_plugin_table(tmp_path: Path, models: dict) -> None:
    problem = only_problem(tmp_path, "\n[plugins.camera_logg]\nlevel = 'info'\n", models)
    assert (problem.key, problem.line) == ("plugins.camera_logg", 2)
    assert problem.message.startswith("no installed plugin takes a [plugins.camera_logg] table (known: camera_log, ")
    assert all(f"{name}" in problem.message for name in models)  # every installed plugin's table is listed


def test_plugin_tables_without_plugins(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, "[plugins.camera_log]\n", {})
    assert problem.message.endswith("(known: none)")


@pytest.mark.parametrize(
    "text, key, message",
    [
        ('[plugins.camera_log]\nlevel = "error"\n', "plugins.camera_log.level",
         "Input should be 'debug', 'info' or 'warning'"),
        ("[plugins.camera_log]\ndiscovered = 'sometimes'\n", "plugins.camera_log.discovered",
         "Input should be a valid boolean"),
        ("[plugins.camera_log]\ncolour = 1\n", "plugins.camera_log.colour", "unknown key"),
        ("[plugins]\ncamera_log = 5\n", "plugins.camera_log", "Input should be a valid dictionary"),
    ],
)
def test_bad_plugin_values_name_the_plugin_key(
    tmp_path: Path, models: dict, text: str, key: str, message: str
) -> None:
    problem = only_problem(tmp_path, text, models)
    assert (problem.key, problem.line) == (key, 2)
    assert problem.message.startswith(message)


def test_plugin_problems_are_reported_with_core_problems(tmp_path: Path, models: dict) -> None:
    found = problems(tmp_path, "[server]\nport = 0.5\n[plugins.camera_log]\nlevel = 1\n", models)
    assert [p.key for p in found] == ["server.port", "plugins.camera_log.level"]


def test_required_plugin_field_without_table_is_reported(tmp_path: Path) -> None:
    class Needy(BaseModel):
        token: str

    problem = only_problem(tmp_path, "", {"needy": Needy})
    assert (problem.key, problem.message) == ("plugins.needy.token", "required key is missing")


def test_plugin_models_receive_the_config_folder_for_secret_files(tmp_path: Path) -> None:
    from nvr.secrets import Secret

    class WithSecret(BaseModel):
        token: Secret

    (tmp_path / "token").write_text(SECRET, encoding="utf-8")
    loaded = load(tmp_path, '[plugins.hook]\ntoken = { file = "token" }\n', {"hook": WithSecret})
    assert loaded.plugin_configs["hook"].token.get_secret_value() == SECRET


def test_config_model_rejects_unknown_keys_directly() -> None:
    with pytest.raises(ValidationError):
        Config.model_validate({"nope": 1})


# --- analysis -------------------------------------------------------------------------------------

ANALYSED = """
[[cameras]]
name = "a"
stream.main = "rtsp://127.0.0.1/a"
[cameras.detect]
enabled = true
required_zones = {required}
[[cameras.detect.zones]]
name = "gate"
points = {points}
[[cameras.detect.zones]]
name = "{second}"
points = [[0, 0], [1, 0], [1, 1]]
[[analysis.rules]]
name = "crowd"
type = "crowd"
cameras = {rule_cameras}
zone = "{rule_zone}"
"""


def analysis_problems(**kw: str) -> list[tuple[str, str, int | None]]:
    values = {"required": '["gate"]', "points": "[[0, 0], [1, 0], [1, 1]]", "second": "road",
              "rule_cameras": '["a"]', "rule_zone": "gate", **kw}
    try:
        parse_config(ANALYSED.format(**values))
    except ConfigError as exc:
        return [(p.key, p.message, p.line) for p in exc.problems]
    return []


def test_analysis_config_valid():
    assert analysis_problems() == []
    cfg = parse_config(ANALYSED.format(required="[]", points="[[0, 0], [1, 0], [1, 1]]", second="road",
                                       rule_cameras="[]", rule_zone="gate")).config
    assert cfg.cameras[0].detect.zones[0].points == [(0, 0), (1, 0), (1, 1)]
    assert cfg.analysis.rules[0].severity == "high" and cfg.analysis.detector == "openvino"


@pytest.mark.parametrize(("change", "key", "message"), [
    ({"required": '["nope"]'}, "cameras[0].detect.required_zones[0]", "no zone named 'nope'"),
    ({"second": "gate"}, "cameras[0].detect.zones[1].name", "duplicate zone name 'gate'"),
    ({"points": "[[0, 0], [1, 1]]"}, "cameras[0].detect.zones[0].points", "at least 3 points"),
    ({"points": "[[0, 0], [1.5, 0], [1, 1]]"}, "cameras[0].detect.zones[0].points", "outside the frame"),
    ({"rule_cameras": '["b"]'}, "analysis.rules[0].cameras[0]", "no camera named 'b'"),
    ({"rule_zone": "park"}, "analysis.rules[0].zone", "no camera the rule applies to has a zone named 'park'"),
])
def test_analysis_config_errors_name_the_key(change, key, message):
    found = analysis_problems(**change)
    assert any(k == key and message in m and line for k, m, line in found), found
