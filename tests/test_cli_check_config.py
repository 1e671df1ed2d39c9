"""``nvr check-config FILE`` as a real subprocess: exit 0 when valid, 2 listing every problem."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SECRET = "Rahasia-Monas-1945"

GOOD = """\
[server]
port = 8081

[[cameras]]
name = "gambir-monas"
kelurahan = "Gambir"
onvif = { host = "127.0.0.1", port = 8000, username = "admin", password = { env = "NVR_T_CLI_PW" } }

[[cameras]]
name = "gondangdia"
stream = { main = "rtsp://127.0.0.1:8554/gondangdia" }

[plugins.camera_log]
level = "debug"
"""

BAD = f"""\
[server]
port = 80800
sesion_hours = 8

[[cameras]]
name = "Monas Barat"
onvif = {{ host = "127.0.0.1", password = {{ env = "NVR_T_CLI_UNSET" }} }}

[[cameras]]
name = "gondangdia"
[cameras.stream]
sub = "rtsp://admin:{SECRET}@127.0.0.1:8554/sub"

[plugins.camera_log]
level = "loud"
"""

BAD_LINES = [
    "  server.port (line 2): Input should be less than or equal to 65535",
    "  server.sesion_hours (line 3): unknown key",
    "  cameras[0].name (line 6): String should match pattern '^[a-z0-9][a-z0-9_-]{0,63}$'",
    "  cameras[0].onvif.password (line 7): environment variable NVR_T_CLI_UNSET is not set",
    "  cameras[1].stream.main (line 11): camera needs a main stream URL (stream.main) "
    "or an [cameras.onvif] table to find it",
    "  cameras[1].stream.sub (line 12): put credentials in username/password, not in the URL",
    "  plugins.camera_log.level (line 15): Input should be 'debug', 'info' or 'warning'",
]


def check_config(path: Path, cwd: Path, **env: str | None) -> subprocess.CompletedProcess[str]:
    environ = dict(os.environ)
    for name, value in env.items():
        if value is None:
            environ.pop(name, None)
        else:
            environ[name] = value
    return subprocess.run(
        [sys.executable, "-m", "nvr", "check-config", str(path)],
        cwd=cwd, env=environ, capture_output=True, text=True, timeout=60,
    )


def test_good_file_exits_0(tmp_path: Path) -> None:
    path = tmp_path / "nvr.toml"
    path.write_text(GOOD, encoding="utf-8")
    result = check_config(path, tmp_path, NVR_T_CLI_PW=SECRET)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"{path}: OK (2 camera(s), plugins: camera_log, ")
    assert "detect_openvino" in result.stdout  # the installed plugins, built-ins first
    assert result.stderr == ""
    assert SECRET not in result.stdout


def test_bad_file_exits_2_printing_every_problem(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(BAD, encoding="utf-8")
    result = check_config(path, tmp_path, NVR_T_CLI_UNSET=None)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines == [f"{path}: {len(BAD_LINES)} problem(s)", *BAD_LINES]
    assert SECRET not in result.stderr


def test_relative_path_is_reported_as_given(tmp_path: Path) -> None:
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "nvr.toml").write_text("[log]\nlevel = 'verbose'\n", encoding="utf-8")
    result = check_config(Path("conf/nvr.toml"), tmp_path)
    assert result.returncode == 2
    assert result.stderr.splitlines()[0] == "conf/nvr.toml: 1 problem(s)"


def test_missing_file_exits_2(tmp_path: Path) -> None:
    result = check_config(tmp_path / "missing.toml", tmp_path)
    assert result.returncode == 2
    assert "cannot read config: No such file or directory" in result.stderr


def test_example_config_checks_with_its_env_vars_and_not_without(tmp_path: Path) -> None:
    example = REPO / "config.example.toml"
    ok = check_config(example, tmp_path, NVR_ONVIF_PASSWORD="x", NVR_RTSP_PASSWORD="y")
    assert ok.returncode == 0, ok.stderr
    assert "OK (3 camera(s)" in ok.stdout
    bad = check_config(example, tmp_path, NVR_ONVIF_PASSWORD=None, NVR_RTSP_PASSWORD=None)
    assert bad.returncode == 2
    assert "environment variable NVR_ONVIF_PASSWORD is not set" in bad.stderr
    assert "environment variable NVR_RTSP_PASSWORD is not set" in bad.stderr
