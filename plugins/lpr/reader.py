"""One frame -> plate reads: candidate regions -> text boxes (DB) -> lines -> recognition -> plate grammar."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from nvr.detection import Box

from .grammar import PlateRead, normalise
from .ocr_models import OcrModels
from .static_text import StaticText, overlap, signature
from .textdet import TextBox, TextDetector
from .textrec import TextRecognizer

REGION_MARGIN = 0.12
"""Candidate regions grow by this fraction of their size on each side (a plate at a box edge stays whole)."""
MIN_REGION_MARGIN_PX = 12
EDGE_PX = 1.0
"""Text boxes this close to the frame edge are cut off: not read."""
MAX_LINE_ASPECT = 7.0
"""Lines longer than this (width / height) are not plates: a plate's box is 3-5 (a clock or a sign 8 or more)."""
CROP_MARGIN = 0.5
"""An observation keeps the plate with this much of its height around it (the crop stored with a sighting)."""
REFINE_HEIGHT = 96.0
"""Second look: a candidate line is detected again scaled to about this height, which parts the plate's
number from its border and its validity line (an I over the border reads as L)."""
REFINE_PAD = 0.3
"""The second look sees the candidate with this much of its height above and below..."""
REFINE_PAD_X = 1.0
"""...and this much left and right: a last letter the first look split off (a lone J) is found again."""


@dataclass(frozen=True, slots=True)
class Region:
    """Where to look: a box normalised to the frame, and the vehicle track it belongs to (None: no vehicle model)."""

    box: Box
    track_id: int | None = None


@dataclass(frozen=True, slots=True)
class Observation:
    """A plate read in one frame: the read, its pixel box in the frame, and the plate with some context."""

    time_us: int
    read: PlateRead
    box: tuple[float, float, float, float]
    frame_size: tuple[int, int]
    crop: np.ndarray = field(repr=False, compare=False)
    track_id: int | None = None

    @property
    def norm_box(self) -> Box:
        w, h = self.frame_size
        x0, y0, x1, y1 = self.box
        return (x0 / w, y0 / h, x1 / w, y1 / h)


@dataclass
class ReaderStats:
    """Work done, for the plugin status and the benchmark."""

    frames: int = 0
    regions: int = 0
    lines: int = 0
    reads: int = 0
    rejected: int = 0
    static: int = 0
    det_s: float = 0.0
    refine_s: float = 0.0
    rec_s: float = 0.0
    rec_times: list[float] = field(default_factory=list)
    """Wall seconds of each recognition (at most 100,000 kept)."""
    read_times: list[float] = field(default_factory=list)
    """Wall seconds of each recognition that became a plate read."""
    read_cpu_times: list[float] = field(default_factory=list)
    """CPU seconds of the calling thread for each recognition that became a plate read (OpenVINO runs a
    one-thread inference in the calling thread, so this is the inference's own CPU time, whatever the load)."""

    read_widths: list[int] = field(default_factory=list)
    """Recogniser input width (px, 48 high) of each recognition that became a plate read."""

    def add_rec(self, seconds: float, plate: bool, cpu_seconds: float = 0.0, width: int = 0) -> None:
        self.rec_s += seconds
        if len(self.rec_times) < 100_000:
            self.rec_times.append(seconds)
            if plate:
                self.read_times.append(seconds)
                self.read_cpu_times.append(cpu_seconds)
                self.read_widths.append(width)


def merge_lines(boxes: list[TextBox]) -> list[TextBox]:
    """Join boxes that continue one line (``B`` ``1234`` ``XYZ`` found apart) into one box per line."""
    pending = sorted(boxes, key=lambda b: b.box[0])
    lines: list[TextBox] = []
    for box in pending:
        for i, line in enumerate(lines):
            x0, y0, x1, y1 = line.box
            bx0, by0, bx1, by1 = box.box
            overlap = min(y1, by1) - max(y0, by0)
            heights = (y1 - y0, by1 - by0)
            if overlap < 0.6 * min(heights) or max(heights) > 1.6 * min(heights):
                continue
            if bx0 - x1 > 1.2 * max(heights):
                continue
            merged = (min(x0, bx0), min(y0, by0), max(x1, bx1), max(y1, by1))
            lines[i] = TextBox(merged, min(line.score, box.score))
            break
        else:
            lines.append(box)
    return lines


class PlateReader:
    """Reads plates in frames with the PP-OCR models. Not thread-safe: one per worker thread."""

    def __init__(self, models: OcrModels, *, det_scale: float = 1.0, det_max_side: int = 960,
                 min_read_confidence: float = 0.3, max_cost: float = 1.0) -> None:
        self.detector = TextDetector(models.det)
        self.recognizer = TextRecognizer(models.rec, models.charset)
        self.det_scale, self.det_max_side = det_scale, det_max_side
        self.min_read_confidence, self.max_cost = min_read_confidence, max_cost
        self.stats = ReaderStats()

    def _pixels(self, region: Region, width: int, height: int) -> tuple[int, int, int, int]:
        x0, y0, x1, y1 = region.box
        mx = max(MIN_REGION_MARGIN_PX, (x1 - x0) * width * REGION_MARGIN)
        my = max(MIN_REGION_MARGIN_PX, (y1 - y0) * height * REGION_MARGIN)
        return (max(0, int(x0 * width - mx)), max(0, int(y0 * height - my)),
                min(width, int(np.ceil(x1 * width + mx))), min(height, int(np.ceil(y1 * height + my))))

    def read(self, rgb: np.ndarray, time_us: int, regions: list[Region] | None = None,
             static: StaticText | None = None) -> list[Observation]:
        """Plates in one RGB frame, looking in ``regions`` (the whole frame when None or empty).

        ``static`` (one per camera) remembers lines that are never plates, so they are not read every frame.
        """
        height, width = rgb.shape[:2]
        self.stats.frames += 1
        found: list[Observation] = []
        for region in regions or [Region((0.0, 0.0, 1.0, 1.0))]:
            rx0, ry0, rx1, ry1 = self._pixels(region, width, height)
            if rx1 - rx0 < 16 or ry1 - ry0 < 8:
                continue
            self.stats.regions += 1
            started = time.perf_counter()
            boxes = self.detector.detect(rgb[ry0:ry1, rx0:rx1], self.det_scale, self.det_max_side)
            self.stats.det_s += time.perf_counter() - started
            for line in merge_lines(boxes):
                x0, y0, x1, y1 = line.box
                box = (x0 + rx0, y0 + ry0, x1 + rx0, y1 + ry0)
                obs = self._read_line(rgb, box, time_us, region.track_id, static)
                if obs is not None:
                    found.append(obs)
        return self._dedupe(found)

    def _read_line(self, rgb: np.ndarray, box: tuple[float, float, float, float], time_us: int,
                   track_id: int | None, static: StaticText | None) -> Observation | None:
        height, width = rgb.shape[:2]
        x0, y0, x1, y1 = box
        h = y1 - y0
        if h < 5 or not 1.2 * h <= x1 - x0 <= MAX_LINE_ASPECT * h:
            return None
        if x0 <= EDGE_PX or y0 <= EDGE_PX or x1 >= width - EDGE_PX or y1 >= height - EDGE_PX:
            return None  # cut off by the frame: a partial plate reads as a different, valid plate
        look = None
        if static is not None:
            look = signature(rgb[int(y0):int(np.ceil(y1)), int(x0):int(np.ceil(x1))])
            if static.skip(box, look, time_us):
                self.stats.static += 1
                return None
        self.stats.lines += 1
        coarse = box
        x0, y0, x1, y1 = box = self._refine(rgb, box)
        h = y1 - y0
        crop = rgb[int(y0):int(np.ceil(y1)), int(x0):int(np.ceil(x1))]
        started, cpu_started = time.perf_counter(), time.thread_time()
        text = self.recognizer.read(crop)
        seconds, cpu_seconds = time.perf_counter() - started, time.thread_time() - cpu_started
        plate = normalise(text, self.max_cost)
        self.stats.add_rec(seconds, plate is not None, cpu_seconds, self.recognizer.last_width)
        if plate is None or plate.confidence < self.min_read_confidence:
            self.stats.rejected += 1
            if static is not None and look is not None:
                static.rejected(coarse, look, time_us)
            return None
        if static is not None:
            static.accepted(coarse)
        self.stats.reads += 1
        m = h * CROP_MARGIN
        context = rgb[max(0, int(y0 - m)):min(height, int(y1 + m)), max(0, int(x0 - m)):min(width, int(x1 + m))]
        return Observation(time_us, plate, box, (width, height), context.copy(), track_id)

    def _refine(self, rgb: np.ndarray, box: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
        """The main text line inside a candidate, found by detecting again at ``REFINE_HEIGHT``; else the box."""
        height, width = rgb.shape[:2]
        x0, y0, x1, y1 = box
        pad, pad_x = (y1 - y0) * REFINE_PAD, (y1 - y0) * REFINE_PAD_X
        cx0, cy0 = max(0, int(x0 - pad_x)), max(0, int(y0 - pad))
        cx1, cy1 = min(width, int(np.ceil(x1 + pad_x))), min(height, int(np.ceil(y1 + pad)))
        scale = min(4.0, REFINE_HEIGHT / max(1.0, y1 - y0))
        started = time.perf_counter()
        found = self.detector.detect(rgb[cy0:cy1, cx0:cx1], scale, self.det_max_side)
        self.stats.refine_s += time.perf_counter() - started
        lines = merge_lines(found)
        if not lines:
            return box
        best = max(lines, key=lambda b: b.height * min(b.width, 12 * b.height))
        bx0, by0, bx1, by1 = best.box
        for other in lines:  # the rest of the same row, however far apart (a plate's I I can stand alone)
            ox0, oy0, ox1, oy1 = other.box
            overlap = min(by1, oy1) - max(by0, oy0)
            if overlap >= 0.5 * min(by1 - by0, oy1 - oy0) and other.height <= 1.6 * best.height:
                bx0, by0, bx1, by1 = min(bx0, ox0), min(by0, oy0), max(bx1, ox1), max(by1, oy1)
        refined = (bx0 + cx0, by0 + cy0, bx1 + cx0, by1 + cy0)
        return refined if refined[3] - refined[1] >= 4 else box

    @staticmethod
    def _dedupe(found: list[Observation]) -> list[Observation]:
        """One read per place: overlapping regions see a plate twice, and a box inside a plate's box (its lower
        half, say) reads as another plate. The most confident read of each place is kept."""
        kept: list[Observation] = []
        for obs in sorted(found, key=lambda o: -o.read.confidence):
            if all(overlap(obs.box, k.box) < 0.5 for k in kept):
                kept.append(obs)
        return kept
