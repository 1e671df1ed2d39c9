"""Tests for the rendered, cached, in-memory H.264 clips."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import av
import numpy as np
import pytest
from av.video.frame import PictureType

from nvr.sim import clip as clipmod
from nvr.sim.clip import ClipSpec, ensure_rendered, load_clip, load_clip_async
from nvr.sim.h264 import NAL_IDR, NAL_PPS, NAL_SPS, nal_type
from nvr.sim.scene import PLATE_TEXT, SceneRenderer

TINY = ClipSpec(
    fps=10,
    duration=1.0,
    gop_seconds=1.0,
    sizes=(("main", 160, 90), ("sub", 96, 54), ("alt", 128, 72)),
    preset="ultrafast",
)


@pytest.mark.parametrize(("variant", "size"), [("main", (1280, 720)), ("sub", (640, 360)), ("alt", (960, 540))])
def test_default_clip_structure(variant: str, size: tuple[int, int]) -> None:
    clip = load_clip(variant)
    assert (clip.width, clip.height) == size
    assert clip.fps == 25 and len(clip.frames) == 250 and clip.duration == 10.0
    assert load_clip(variant) is clip, "clips are cached per process"
    keyframes = [i for i, au in enumerate(clip.frames) if au.keyframe]
    assert keyframes == list(range(0, 250, 25)), "fixed 1 s GOP, no scene-cut keyframes"
    for i, au in enumerate(clip.frames):
        types = [nal_type(n) for n in au.nals]
        assert au.pts == i * 3600
        assert all(n[:3] not in (b"\x00\x00\x01",) for n in au.nals), "NAL units carry no start codes"
        if au.keyframe:
            assert types[:2] == [NAL_SPS, NAL_PPS] and NAL_IDR in types, "SPS/PPS in-band before every IDR"
        else:
            assert NAL_IDR not in types and NAL_SPS not in types
    assert clip.sps[1] == 66, "baseline profile (no B-frames, no CABAC)"
    assert clip.profile_level_id == clip.sps[1:4].hex().upper()


def test_variants_have_distinct_parameter_sets() -> None:
    assert len({load_clip(v).sps for v in ("main", "sub", "alt")}) == 3


def test_cached_file_decodes_without_b_frames() -> None:
    clip = load_clip("sub")
    assert clip.path is not None and clip.path.is_file()
    kinds = set()
    with av.open(str(clip.path)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            assert (frame.width, frame.height) == (640, 360)
            kinds.add(PictureType(int(frame.pict_type)).name)
            if i >= 60:
                break
    assert kinds <= {"I", "P"}, kinds


def _masked(img) -> np.ndarray:
    arr = np.asarray(img, dtype=np.int16)
    arr[:80, :420] = 0  # ignore the burned-in clock
    return arr


def test_scene_loops_seamlessly_and_moves() -> None:
    scene = SceneRenderer(fps=25, duration=10.0)
    n = scene.frame_count
    assert np.array_equal(np.asarray(scene.render(n)), np.asarray(scene.render(0)))
    wrap = np.abs(_masked(scene.render(n - 1)) - _masked(scene.render(0))).mean()
    steps = [np.abs(_masked(scene.render(i)) - _masked(scene.render(i + 1))).mean() for i in range(0, n - 1, 12)]
    assert wrap <= max(steps) * 1.2, (wrap, max(steps))
    assert np.abs(_masked(scene.render(0)) - _masked(scene.render(n // 2))).mean() > 2 * max(steps), "objects move"
    boxes = lambda i: {o.box for o in scene.objects(i) if o.kind == "person"}  # noqa: E731
    assert boxes(0) != boxes(1), "people walk"
    clock_a, clock_b = np.asarray(scene.render(0))[:80, :420], np.asarray(scene.render(1))[:80, :420]
    assert not np.array_equal(clock_a, clock_b), "the burned-in clock changes every frame"


def test_scene_ground_truth_plate_is_large() -> None:
    scene = SceneRenderer(fps=25, duration=10.0)
    plates = [
        o
        for i in range(scene.frame_count)
        for o in scene.objects(i)
        if o.kind == "plate" and o.box[0] >= 0 and o.box[2] <= 1280
    ]
    assert all(o.text == PLATE_TEXT for o in plates)
    assert min(o.box[2] - o.box[0] for o in plates) >= 180
    assert len(plates) >= 5 * 25, "plate fully visible for at least 5 s of each loop"
    kinds = {o.kind for o in scene.objects(60)}
    assert {"person", "car", "plate"} <= kinds


def test_plate_is_visible_in_decoded_main_stream() -> None:
    clip = load_clip("main")
    scene = SceneRenderer(fps=25, duration=10.0)
    index = 125  # the plate car waits in the middle of the loop
    plate = next(o for o in scene.objects(index) if o.kind == "plate")
    with av.open(str(clip.path)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i == index:
                gray = frame.to_ndarray(format="gray")
                break
    x0, y0, x1, y1 = plate.box
    region = gray[y0 + 12 : y1 - 12, x0 + 12 : x1 - 12]
    white = (region > 170).mean()
    dark = (region < 60).mean()
    assert 0.1 < white < 0.5 and dark > 0.4, (white, dark)


def test_cache_key_reuse_and_atomic_files(tmp_path: Path) -> None:
    paths = ensure_rendered(TINY, tmp_path)
    assert set(paths) == {"main", "sub", "alt"}
    mtimes = {v: p.stat().st_mtime_ns for v, p in paths.items()}
    assert ensure_rendered(TINY, tmp_path) == paths
    assert {v: p.stat().st_mtime_ns for v, p in paths.items()} == mtimes, "cached files are reused"
    assert not list(tmp_path.glob("*.tmp")), "no temporary files left behind"
    other = ClipSpec(**{**TINY.__dict__, "crf": 30})
    assert ensure_rendered(other, tmp_path)["main"] != paths["main"], "render parameters are part of the key"
    assert f"-v{clipmod.CLIP_VERSION}-" in paths["main"].name


def test_version_bump_rerenders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    old = ensure_rendered(TINY, tmp_path)["main"]
    monkeypatch.setattr(clipmod, "CLIP_VERSION", clipmod.CLIP_VERSION + 1)
    new = ensure_rendered(TINY, tmp_path)["main"]
    assert new != old and new.is_file()
    assert not old.exists(), "clips of older renderer versions are pruned"


def test_env_cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NVR_SIM_CACHE", str(tmp_path / "c"))
    assert clipmod.default_cache_dir() == tmp_path / "c"
    monkeypatch.delenv("NVR_SIM_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert clipmod.default_cache_dir() == tmp_path / "x" / "nvr" / "sim"


def test_concurrent_renders_do_not_corrupt(tmp_path: Path) -> None:
    errors: list[BaseException] = []

    def work() -> None:
        try:
            ensure_rendered(TINY, tmp_path)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for variant in ("main", "sub", "alt"):
        clip = clipmod.read_clip(clipmod.clip_path(variant, TINY, tmp_path), variant, TINY)
        assert len(clip.frames) == 10 and clip.frames[0].keyframe


def test_corrupt_cache_file_is_rerendered(tmp_path: Path) -> None:
    paths = ensure_rendered(TINY, tmp_path)
    paths["sub"].write_bytes(b"\x00\x00\x00\x01garbage")
    clip = load_clip("sub", TINY, tmp_path)
    assert len(clip.frames) == 10


async def test_async_load_does_not_block_loop(tmp_path: Path) -> None:
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.005)
            ticks += 1

    task = asyncio.create_task(ticker())
    started = time.monotonic()
    clip = await load_clip_async("main", TINY, tmp_path)
    elapsed = time.monotonic() - started
    task.cancel()
    assert (clip.width, clip.height) == (160, 90)
    assert ticks >= min(3, elapsed / 0.005 / 4)


def test_bad_specs_are_rejected() -> None:
    with pytest.raises(ValueError):
        ClipSpec(fps=25, duration=10.0, gop_seconds=3.0)  # 250 frames is not a whole number of 75-frame GOPs
    with pytest.raises(ValueError):
        ClipSpec(sizes=(("main", 101, 50),))
    with pytest.raises(KeyError):
        load_clip("nope")
