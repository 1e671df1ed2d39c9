"""The privacy blur on single frames: CenterFace finds the astronaut's face through OpenVINO, the blur leaves
nothing a face detector finds, plates are blurred when asked, and a missing model shows nothing (fail closed)."""

from __future__ import annotations

import numpy as np
import pytest

from nvr.plugins.kelurahan.blur import FaceDetector, blur_boxes, grow
from nvr.plugins.kelurahan.config import KelurahanConfig
from nvr.plugins.kelurahan.public_media import BlurUnavailable, Privacy
from nvr.sim.photo_scene import PhotoScene
from nvr.sim.plate_scene import PlateScene


@pytest.fixture(scope="module")
def detector() -> FaceDetector:
    return FaceDetector()


def test_face_found_and_blurred(detector: FaceDetector) -> None:
    scene = PhotoScene(10, 4, 1)
    frame = np.asarray(scene.render(0).convert("RGB"))
    (box, score), = detector.detect(frame)
    x0, y0, x1, y1 = box
    assert score > 0.8 and 60 < x1 - x0 < 120 and 80 < y1 - y0 < 150  # one face, of a face's size
    out = blur_boxes(frame, [box])
    assert out.shape == frame.shape and detector.detect(out) == []
    gx0, gy0, gx1, gy1 = grow(box, frame.shape[1], frame.shape[0])
    outside = np.ones(frame.shape[:2], bool)
    outside[gy0:gy1, gx0:gx1] = False
    assert np.array_equal(out[outside], frame[outside])  # only the face region changes
    assert not np.array_equal(out[gy0:gy1, gx0:gx1], frame[gy0:gy1, gx0:gx1])
    assert np.array_equal(frame, np.asarray(scene.render(0).convert("RGB")))  # the input is not modified


def test_empty_wall_has_no_face(detector: FaceDetector) -> None:
    frame = np.asarray(PhotoScene(10, 4, 0).render(0).convert("RGB"))
    assert detector.detect(frame) == []


async def test_plates_blurred_when_asked() -> None:
    frame = np.asarray(PlateScene(10, 12.0).render(20).convert("RGB"))
    privacy = Privacy(KelurahanConfig(blur_faces=False, blur_plates=True))
    await privacy.ready()
    boxes = privacy.boxes(frame)
    assert boxes, "the text detector found no plate"
    out = privacy.blur(frame)
    for x0, y0, x1, y1 in boxes:
        assert not np.array_equal(out[y0:y1, x0:x1], frame[y0:y1, x0:x1])


async def test_a_missing_face_model_shows_nothing(tmp_path) -> None:
    privacy = Privacy(KelurahanConfig(face_model=str(tmp_path / "missing.onnx")))
    with pytest.raises(BlurUnavailable, match="missing.onnx"):
        await privacy.ready()
    with pytest.raises(BlurUnavailable):
        await privacy.ready()  # stays off; never serves unblurred frames


def test_cached_public_clips_are_forgotten(tmp_path) -> None:
    from types import SimpleNamespace

    from nvr.plugins.kelurahan.public_media import PublicClips

    runtime = SimpleNamespace(config=SimpleNamespace(storage=SimpleNamespace(root=tmp_path / "storage")))
    clips = PublicClips(runtime, Privacy(KelurahanConfig()))  # type: ignore[arg-type]
    clips.folder.mkdir()
    for sid in (1, 2, 3):
        (clips.folder / f"share-{sid}-0-1000.mp4").write_bytes(b"x")
    (clips.folder / "other.txt").write_text("kept")
    assert clips.forget(share_id=2) == 1
    assert clips.forget(keep={3}) == 1  # share 1 expired or was revoked while the server was down
    assert sorted(p.name for p in clips.folder.iterdir()) == ["other.txt", "share-3-0-1000.mp4"]


async def test_a_slow_clip_asks_the_viewer_to_come_back(tmp_path) -> None:
    import asyncio
    from types import SimpleNamespace

    from nvr.plugins.kelurahan.public_media import ClipPending, PublicClips

    runtime = SimpleNamespace(config=SimpleNamespace(storage=SimpleNamespace(root=tmp_path / "storage")))
    clips = PublicClips(runtime, Privacy(KelurahanConfig()))  # type: ignore[arg-type]
    release = asyncio.Event()

    async def slow_render(key, camera, start_us, end_us):  # stands in for a long blur-and-encode
        await release.wait()
        return tmp_path / f"{key}.mp4"

    clips._render = slow_render  # type: ignore[method-assign]
    with pytest.raises(ClipPending):
        await clips.clip(7, "park", 0, 1_000_000, wait_s=0.05)
    release.set()  # the same render goes on in the background; the next request gets its file
    assert await clips.clip(7, "park", 0, 1_000_000, wait_s=1) == tmp_path / "share-7-0-1000000.mp4"
    await clips.close()
