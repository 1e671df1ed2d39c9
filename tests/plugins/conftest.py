"""Fixtures for the detector plugin tests: building an OpenVinoDetector from keyword settings."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from nvr.plugins.detect_openvino.config import DetectOpenVinoConfig
from nvr.plugins.detect_openvino.detector import OpenVinoDetector


@pytest.fixture
def load_detector() -> Iterator[Callable[..., OpenVinoDetector]]:
    """Factory: ``load_detector(model=..., threshold=...)``; every detector is closed after the test."""
    made: list[OpenVinoDetector] = []

    def load(**settings: Any) -> OpenVinoDetector:
        detector = OpenVinoDetector(DetectOpenVinoConfig.model_validate(settings))
        made.append(detector)
        return detector

    yield load
    for detector in made:
        detector.close()
