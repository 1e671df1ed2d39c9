"""``nvr verify``: an intact bundle passes; one changed byte anywhere that matters fails it."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from nvr.clock import SystemClock
from nvr.config import parse_config
from nvr.export_keys import load_public_key, public_pem
from nvr.export_plan import ExportRequest
from nvr.export_service import ExportService
from nvr.export_verify import verify_bundle
from nvr.storage.catalog import open_catalog
from tests.export_media import T0, record

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """One real bundle (two cameras) and the installation's key file."""
    import asyncio

    base = tmp_path_factory.mktemp("bundle")
    config = parse_config('[storage]\nroot = "storage"\n', base_dir=base).config

    async def make() -> Path:
        async with await open_catalog(f"sqlite://{base / 'catalog.db'}") as catalog:
            await record(catalog, config.storage.root, "cam-a", T0, count=2)
            await record(catalog, config.storage.root, "cam-b", T0, count=2)
            service = ExportService(catalog, lambda: config, SystemClock())
            job = await service.submit(ExportRequest(("cam-a", "cam-b"), T0, T0 + 3_000_000, "C-9", "test"), "p")
            done = await service.run_job(job.id)
            assert done is not None and done.state == "done", done and done.error
            return Path(done.result["bundle"])

    return asyncio.run(make()), config.export_key_file


def copy(bundle: Path, tmp_path: Path) -> Path:
    target = tmp_path / "copy.zip"
    shutil.copyfile(bundle, target)
    return target


def flip(path: Path, member: str, at: float = 0.5) -> None:
    """Change one byte inside ``member``'s stored data, in place (the ZIP's CRC no longer matches)."""
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo(member)
    with open(path, "r+b") as f:
        f.seek(info.header_offset + 26)
        name_len, extra_len = int.from_bytes(f.read(2), "little"), int.from_bytes(f.read(2), "little")
        offset = info.header_offset + 30 + name_len + extra_len + int(info.file_size * at)
        f.seek(offset)
        byte = f.read(1)
        f.seek(offset)
        f.write(bytes([byte[0] ^ 0x01]))


def rewrite(path: Path, changes: dict[str, bytes | None]) -> None:
    """Rebuild the ZIP with some members replaced (valid CRCs: a careful forger), added or removed."""
    with zipfile.ZipFile(path) as archive:
        members = {n: archive.read(n) for n in archive.namelist()}
    for name, data in changes.items():
        if data is None:
            members.pop(name, None)
        else:
            members[name] = data
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)


def nvr(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "nvr", *args], capture_output=True, text=True, cwd=REPO)


def test_an_intact_bundle_passes(made: tuple[Path, Path]) -> None:
    bundle, key_file = made
    report = verify_bundle(bundle)
    assert report.ok and report.files_checked == 4  # two clips, the public key, the README
    ok = nvr("verify", str(bundle), "--key", str(key_file))
    assert ok.returncode == 0, ok.stderr
    assert "OK" in ok.stdout and "signature valid" in ok.stdout


def test_one_byte_of_a_clip(made: tuple[Path, Path], tmp_path: Path) -> None:
    bundle = copy(made[0], tmp_path)
    clip = next(n for n in zipfile.ZipFile(bundle).namelist() if n.startswith("clips/cam-b"))
    flip(bundle, clip)
    report = verify_bundle(bundle)
    assert not report.ok and any(clip in p for p in report.problems)
    result = nvr("verify", str(bundle))
    assert result.returncode == 1 and "MISMATCH" in result.stderr and clip in result.stderr


def test_a_clip_replaced_with_valid_zip_checksums(made: tuple[Path, Path], tmp_path: Path) -> None:
    bundle = copy(made[0], tmp_path)
    with zipfile.ZipFile(bundle) as archive:
        clip = next(n for n in archive.namelist() if n.startswith("clips/"))
        data = bytearray(archive.read(clip))
    data[len(data) // 3] ^= 0x80
    rewrite(bundle, {clip: bytes(data)})
    report = verify_bundle(bundle)
    assert [p for p in report.problems if "SHA-256" in p and clip in p], report.problems


def test_one_byte_of_the_manifest(made: tuple[Path, Path], tmp_path: Path) -> None:
    bundle = copy(made[0], tmp_path)
    flip(bundle, "manifest.json", at=0.3)
    assert not verify_bundle(bundle).ok
    bundle = copy(made[0], tmp_path)
    with zipfile.ZipFile(bundle) as archive:
        text = archive.read("manifest.json").replace(b'"case": "C-9"', b'"case": "C-8"')
    rewrite(bundle, {"manifest.json": text})
    report = verify_bundle(bundle)
    assert not report.ok and "signature does not match" in report.problems[0]
    assert nvr("verify", str(bundle)).returncode == 1


def test_added_or_removed_files(made: tuple[Path, Path], tmp_path: Path) -> None:
    bundle = copy(made[0], tmp_path)
    rewrite(bundle, {"clips/extra.mp4": b"not evidence"})
    assert any("not in the manifest" in p for p in verify_bundle(bundle).problems)
    bundle = copy(made[0], tmp_path)
    with zipfile.ZipFile(bundle) as archive:
        clip = next(n for n in archive.namelist() if n.startswith("clips/"))
    rewrite(bundle, {clip: None})
    assert any("missing from the bundle" in p for p in verify_bundle(bundle).problems)


def test_a_bundle_re_signed_with_another_key(made: tuple[Path, Path], tmp_path: Path) -> None:
    """A forger can re-sign with their own key and ship it; only the installation's key tells."""
    bundle, key_file = copy(made[0], tmp_path), made[1]
    forger = Ed25519PrivateKey.generate()
    with zipfile.ZipFile(bundle) as archive:
        text = archive.read("manifest.json")
    rewrite(bundle, {"manifest.json.sig": forger.sign(text), "public-key.pem": public_pem(forger.public_key())})
    own = verify_bundle(bundle)
    assert not own.ok and any("names signing key" in p for p in own.problems), "the manifest names the real key"
    installation = verify_bundle(bundle, load_public_key(key_file.read_bytes()))
    assert not installation.ok
    assert nvr("verify", str(bundle), "--key", str(key_file)).returncode == 1


def test_not_a_bundle(tmp_path: Path) -> None:
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"PK not really")
    assert not verify_bundle(junk).ok
    assert nvr("verify", str(junk)).returncode == 1
    assert nvr("verify", str(tmp_path / "missing.zip")).returncode == 2
