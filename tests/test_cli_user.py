"""`nvr user add`: creates a hashed user the web login accepts; bad input exits 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from nvr.passwords import verify_password
from nvr.storage.catalog import open_catalog


def nvr(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nvr", *args], capture_output=True, text=True, timeout=60,
                          env={**os.environ, **env})


async def test_user_add(tmp_path: Path) -> None:
    config = tmp_path / "nvr.toml"
    config.write_text('[storage]\nroot = "storage"\n')
    ok = nvr("user", "add", "piket", "-c", str(config), "--role", "viewer", "--kelurahan", "Menteng",
             "--password-env", "PW", env={"PW": "piket-password"})
    assert ok.returncode == 0, ok.stderr
    assert "created user piket (viewer, Menteng)" in ok.stdout
    short = nvr("user", "add", "short", "-c", str(config), "--password-env", "PW", env={"PW": "abc"})
    assert short.returncode == 2 and "at least 8 characters" in short.stderr
    dup = nvr("user", "add", "piket", "-c", str(config), "--password-env", "PW", env={"PW": "another-password"})
    assert dup.returncode == 2 and "piket" in dup.stderr
    async with await open_catalog(str(tmp_path / "catalog.db")) as catalog:
        user = await catalog.get_user("piket")
    assert user.role == "viewer" and user.kelurahan == "Menteng"
    assert verify_password("piket-password", user.password_hash)
    assert not verify_password("wrong-password", user.password_hash)


async def test_user_passwd_list_disable(tmp_path: Path) -> None:
    config = tmp_path / "nvr.toml"
    config.write_text('[storage]\nroot = "storage"\n')
    env = {"PW": "first-password"}
    assert nvr("user", "add", "ana", "-c", str(config), "--role", "investigator", "--password-env", "PW",
               env=env).returncode == 0
    changed = nvr("user", "passwd", "ana", "-c", str(config), "--password-env", "PW", env={"PW": "second-password"})
    assert changed.returncode == 0 and "password of ana changed" in changed.stdout
    assert nvr("user", "passwd", "nobody", "-c", str(config), "--password-env", "PW",
               env={"PW": "second-password"}).returncode == 2
    assert nvr("user", "passwd", "ana", "-c", str(config), "--password-env", "PW", env={"PW": "short"}).returncode == 2
    assert nvr("user", "disable", "ana", "-c", str(config), env={}).returncode == 0
    listed = nvr("user", "list", "-c", str(config), env={})
    assert listed.returncode == 0
    (row,) = [line for line in listed.stdout.splitlines() if line.startswith("ana")]
    assert row.split() == ["ana", "investigator", "all", "cameras", "disabled"]
    assert "second-password" not in listed.stdout + changed.stdout
    async with await open_catalog(str(tmp_path / "catalog.db")) as catalog:
        user = await catalog.get_user("ana")
    assert user.disabled and verify_password("second-password", user.password_hash)
