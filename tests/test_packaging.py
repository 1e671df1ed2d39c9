"""The built wheel installs into a fresh venv and carries every package and data file."""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow


def run(*args: str, cwd: Path | None = None) -> str:
    """Run a command; on failure show its output in the assertion."""
    proc = subprocess.run(list(args), capture_output=True, text=True, cwd=cwd)
    assert proc.returncode == 0, f"{args[:3]} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def test_wheel_installs_and_runs(tmp_path: Path) -> None:
    dist, src = tmp_path / "dist", tmp_path / "src"
    # Build from a copy: setuptools writes build/ and *.egg-info/ beside the sources.
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(".venv", ".git", "var", ".cache", "build", "dist",
                                                             "*.egg-info", "__pycache__", ".pytest_cache"))
    run(sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(dist), str(src), cwd=tmp_path)
    wheel = next(dist.glob("nvr-*.whl"))
    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", str(venv))
    py = venv / "bin" / "python"
    run(str(py), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel))
    # Dependencies come from the test environment's site-packages (a plain path, so the
    # editable install's import hook there is not activated): only the wheel provides nvr.
    site = run(str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").strip()
    Path(site, "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    probe = (
        "import nvr, nvr.storage.sqlite, nvr.web.app, nvr.plugins.camera_log, nvr.sim;"
        "from importlib.resources import files;"
        f"assert str(files('nvr')).startswith({str(venv)!r}), files('nvr');"
        "assert files('nvr.storage').joinpath('schema/0001_initial.sql').is_file();"
        "assert files('nvr.web').joinpath('templates/cameras.html').is_file();"
        "assert files('nvr.web').joinpath('static/nvr.css').is_file();"
        "assert files('nvr.plugins.lpr').joinpath('templates/plates.html').is_file();"
        "print('ok')"
    )
    assert run(str(py), "-c", probe, cwd=tmp_path).strip() == "ok"  # cwd: not the source tree
    help_text = run(str(venv / "bin" / "nvr"), "--help", cwd=tmp_path)
    assert "check-config" in help_text and "discover" in help_text
