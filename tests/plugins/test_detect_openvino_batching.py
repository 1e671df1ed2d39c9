"""The person model without its graph loops, and batching: the same detections on real frames, bounded waits."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import av
import numpy as np
import pytest
from PIL import Image
from skimage import data

from nvr.plugins.detect_openvino.batching import Batcher
from nvr.plugins.detect_openvino.config import DetectOpenVinoConfig
from nvr.plugins.detect_openvino.detector import OpenVinoDetector
from nvr.sim.clip import ensure_rendered
from tests.analysis_helpers import scene_spec

pytestmark = pytest.mark.slow


def sub_frames(scene: str, count: int) -> list[np.ndarray]:
    """``count`` decoded 640x360 frames spread over the simulator's sub-stream clip of ``scene``."""
    path = ensure_rendered(scene_spec(scene))["sub"]
    with av.open(str(path), format="h264") as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    return frames[:: max(1, len(frames) // count)][:count]


@pytest.fixture(scope="module")
def frames() -> list[np.ndarray]:
    """Real 640x360 frames: the simulator's photo scenes and street, and two photographs side by side."""
    pair = np.full((360, 640, 3), 90, np.uint8)
    pair[40:340, 20:320] = np.asarray(Image.fromarray(data.astronaut()).resize((300, 300)))
    cameraman = np.repeat(data.camera()[..., None], 3, axis=2)
    pair[40:340, 330:630] = np.asarray(Image.fromarray(cameraman).resize((300, 300)))
    return sub_frames("people-1", 2) + sub_frames("street", 3) + [pair, np.full((360, 640, 3), 128, np.uint8)]


def detector(**settings: object) -> OpenVinoDetector:
    return OpenVinoDetector(DetectOpenVinoConfig.model_validate({"threshold": 0.3, **settings}))


@pytest.fixture(scope="module")
def network_only() -> Iterator[OpenVinoDetector]:
    found = detector()
    yield found
    found.close()


def same(a: list, b: list, tolerance: float = 1e-4) -> bool:
    """The same labels in the same order, scores and boxes within ``tolerance``."""
    return [d.label for d in a] == [d.label for d in b] and all(
        x.score == pytest.approx(y.score, abs=tolerance) and x.box == pytest.approx(y.box, abs=tolerance)
        for x, y in zip(a, b, strict=True))


BATCH_TOLERANCE = 1e-2
"""A model compiled with a dynamic batch runs other kernels than the batch-1 model, whatever the batch size:
a weak detection's score moves by up to ~0.008, boxes by a few 1e-4 (1 px at 640 is 1.6e-3)."""


def test_the_network_with_numpy_nms_finds_what_the_whole_graph_finds(network_only, frames) -> None:
    whole = detector(full_graph=True)
    try:
        assert network_only._nms is not None and whole._nms is None  # the two paths really differ
        pairs = [(network_only.detect(f), whole.detect(f)) for f in frames]
    finally:
        whole.close()
    for fast, full in pairs:
        assert same(fast, full), (fast, full)
    counts = [len(full) for _, full in pairs]
    assert max(counts) >= 2 and counts[-1] == 0, counts  # crowded frames and an empty one were compared


def test_batched_detections_equal_unbatched(network_only, frames) -> None:
    expected = [network_only.detect(f) for f in frames]
    batched = detector(batch_size=4, batch_wait_ms=200)
    got: dict[int, list] = {}
    try:
        alone = [batched._detect_batch([f])[0] for f in frames]  # the same compiled model, a frame at a time
        assert batched.concurrency == 4 * (network_only.concurrency)

        def call(i: int) -> None:
            got[i] = batched.detect(frames[i])

        threads = [threading.Thread(target=call, args=(i,)) for i in range(len(frames))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        stats = batched.batcher.stats
    finally:
        batched.close()
    for i, want in enumerate(expected):
        assert same(got[i], alone[i], 1e-5), (i, got[i], alone[i])  # batching itself changes nothing
        assert same(got[i], want, BATCH_TOLERANCE), (i, got[i], want)
    assert stats.frames == len(frames) + 1  # and the warm-up
    assert stats.frames / stats.batches >= 2, stats  # frames really ran together


@pytest.mark.serial  # a deadline
def test_a_lone_frame_waits_no_longer_than_the_batch_wait(network_only, frames) -> None:
    batched = detector(batch_size=8, batch_wait_ms=60)
    try:
        started = time.monotonic()
        found = batched.detect(frames[0])
        elapsed = time.monotonic() - started
        small = np.asarray(Image.fromarray(frames[-2]).resize((320, 180)))
        mixed: dict[str, list] = {}
        threads = [threading.Thread(target=lambda k=k, img=img: mixed.__setitem__(k, batched.detect(img)))
                   for k, img in (("big", frames[-2]), ("small", small))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    finally:
        batched.close()
    assert same(found, network_only.detect(frames[0]), BATCH_TOLERANCE)
    assert 0.055 <= elapsed < 1.5, elapsed  # the 60 ms wait, then one inference
    assert same(mixed["big"], network_only.detect(frames[-2]), BATCH_TOLERANCE)  # different sizes batch apart
    assert same(mixed["small"], network_only.detect(small), BATCH_TOLERANCE)


def test_a_failing_batch_fails_each_of_its_frames() -> None:
    def broken(images):
        raise RuntimeError(f"device lost with {len(images)} frames")

    batcher: Batcher[int] = Batcher(broken, size=2, wait_s=1.0)
    errors: list[str] = []

    def call() -> None:
        try:
            batcher.run(np.zeros((2, 2, 3), np.uint8))
        except RuntimeError as exc:
            errors.append(str(exc))

    threads = [threading.Thread(target=call) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    assert errors == ["device lost with 2 frames"] * 2


def test_batching_a_detection_output_model_is_refused(tmp_path, load_detector) -> None:
    from nvr.errors import PluginError
    from tests.plugins import onnx_models

    model = onnx_models.constant_outputs(tmp_path / "ssd.onnx", {"detection_out": [[[[0, 1, 0.9, 0, 0, 1, 1]]]]})
    with pytest.raises(PluginError, match="batch_size > 1"):
        load_detector(model=str(model), batch_size=2)
