"""Real PP-OCR inference through OpenVINO: plates drawn at CCTV sizes are read; clocks, signs and cut plates are not."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw

from nvr.errors import PluginError
from nvr.plugins.lpr.components import label_boxes
from nvr.plugins.lpr.ocr_models import DET_FILE, OcrModels, load_models, model_path
from nvr.plugins.lpr.reader import PlateReader, Region, merge_lines
from nvr.plugins.lpr.static_text import StaticText, signature
from nvr.plugins.lpr.textdet import TextBox, boxes_from_map, input_size
from nvr.plugins.lpr.textrec import TextRecognizer, prepare
from nvr.sim.plates import draw_car, plate_at
from nvr.sim.scene import _font


@pytest.fixture(scope="module")
def models() -> OcrModels:
    return load_models(threads=1)


def street(plate: str | None, height: int, left: int = 200, style: str = "black") -> np.ndarray:
    """A 640x360 frame with a clock, a shop sign and (optionally) a car whose plate is ``height`` px high."""
    img = Image.new("RGB", (640, 360), (78, 80, 84))
    d = ImageDraw.Draw(img)
    d.rectangle([0, 0, 640, 70], fill=(150, 140, 125))
    d.rectangle([380, 12, 620, 58], fill=(20, 90, 40))
    d.text((392, 20), "HALTE BIS 24 JAM", font=_font("bold", 22), fill=(250, 250, 240))
    d.rectangle([6, 6, 262, 30], fill=(0, 0, 0))
    d.text((10, 8), "2026-01-15 07:31:02", font=_font("mono", 18), fill=(255, 255, 255))
    if plate is not None:
        draw_car(img, left, 235 - 3 * height, plate_at(plate, height, style), (205, 208, 212))
    return np.asarray(img)


def test_the_recogniser_is_cut_down_to_plate_characters(models: OcrModels) -> None:
    assert models.charset[0] == "" and models.charset[-1] == " "
    assert set("ABCXYZ0189:.-") <= set(models.charset)
    assert len(models.charset) < 100  # from 18,710 classes
    assert int(models.rec.outputs[0].get_partial_shape()[-1].get_length()) == len(models.charset)


@pytest.mark.parametrize("height", [16, 24, 40])
@pytest.mark.parametrize(("plate", "style"), [("B 1234 XYZ", "black"), ("AB 27 KT", "white"),
                                              ("D 8051 SO", "black")])
def test_whole_plates_are_read_at_cctv_sizes(models: OcrModels, plate: str, style: str, height: int) -> None:
    rec = TextRecognizer(models.rec, models.charset)
    crop = np.asarray(plate_at(plate, height, style))
    line = crop[: round(height * 0.72)]  # the number, without the validity line under it
    read = rec.read(line)
    assert read.text.replace(" ", "") == plate.replace(" ", ""), read.text
    assert read.confidence > 0.8
    assert all(c.alts and c.alts[0][0] == c.char for c in read.chars if c.char != " ")


@pytest.mark.parametrize("height", [16, 24, 40])
def test_a_frame_yields_the_plate_and_not_the_clock_or_the_sign(models: OcrModels, height: int) -> None:
    reader = PlateReader(models)
    found = reader.read(street("B 1234 XYZ", height), 5_000_000)
    assert [o.read.plate.text for o in found] == ["B 1234 XYZ"]
    obs = found[0]
    assert obs.time_us == 5_000_000 and obs.frame_size == (640, 360)
    x0, y0, x1, y1 = obs.box
    assert y1 - y0 < 2 * height and obs.crop.shape[0] > y1 - y0  # the crop has some context
    assert reader.stats.rejected >= 1  # the clock and the sign were read and refused


def test_nothing_but_a_clock_and_a_sign_gives_no_read(models: OcrModels) -> None:
    reader = PlateReader(models)
    static = StaticText()
    frame = street(None, 24)
    for t in range(6):
        assert reader.read(frame, t * 1_000_000, None, static) == []
    assert reader.stats.static >= 2  # after two refusals the clock and the sign are skipped


def test_a_plate_cut_by_the_frame_edge_is_not_read(models: OcrModels) -> None:
    reader = PlateReader(models)
    frame = street("B 1234 XYZ", 40, left=640 - 200)  # the car half out on the right
    assert reader.read(frame, 0) == []


def test_regions_limit_where_to_look(models: OcrModels) -> None:
    reader = PlateReader(models)
    frame = street("AB 27 KT", 24, left=60)
    assert reader.read(frame, 0, [Region((0.55, 0.3, 1.0, 1.0))]) == []  # the car is on the left
    found = reader.read(frame, 0, [Region((0.0, 0.3, 0.6, 1.0), track_id=4)])
    assert [(o.read.plate.text, o.track_id) for o in found] == [("AB 27 KT", 4)]


def test_db_postprocessing_and_line_merging() -> None:
    prob = np.zeros((40, 100), dtype=np.float32)
    prob[10:16, 10:30] = 0.9   # "B 1234"
    prob[10:16, 34:50] = 0.8   # "XYZ", close on the same line
    prob[30:33, 60:64] = 0.9   # a speck: kept (3 px), and a faint blob: dropped
    prob[25:35, 80:95] = 0.35
    boxes = boxes_from_map(prob)
    assert len(boxes) == 3
    lines = merge_lines(boxes)
    widths = sorted(round(b.width) for b in lines)
    assert len(lines) == 2 and widths[-1] > 40  # the two words became one line
    assert input_size(640, 360, 1.5, 960) == (960, 544)
    assert input_size(100, 20, 1.0, 960) == (96, 32)
    assert merge_lines([TextBox((0, 0, 10, 10), 0.9), TextBox((0, 30, 10, 40), 0.9)]) == [
        TextBox((0, 0, 10, 10), 0.9), TextBox((0, 30, 10, 40), 0.9)]  # two rows stay apart


def _reference_components(mask: np.ndarray) -> list[tuple[int, int, int, int, int]]:
    seen = np.zeros_like(mask)
    out = []
    for y, x in zip(*np.nonzero(mask), strict=True):
        if seen[y, x]:
            continue
        stack, pixels = [(y, x)], []
        seen[y, x] = True
        while stack:
            cy, cx = stack.pop()
            pixels.append((cy, cx))
            for dy in (-1, 0, 1):
                for dx in (-1, 0, 1):
                    ny, nx = cy + dy, cx + dx
                    if 0 <= ny < mask.shape[0] and 0 <= nx < mask.shape[1] and mask[ny, nx] and not seen[ny, nx]:
                        seen[ny, nx] = True
                        stack.append((ny, nx))
        ys, xs = [p[0] for p in pixels], [p[1] for p in pixels]
        out.append((min(xs), min(ys), max(xs) + 1, max(ys) + 1, len(pixels)))
    return sorted(out)


def test_connected_components_match_a_flood_fill() -> None:
    rng = np.random.default_rng(7)
    for _ in range(50):
        mask = rng.random((23, 31)) > 0.55
        ours = sorted((x0, y0, x1, y1, int(m.sum())) for x0, y0, x1, y1, m in label_boxes(mask))
        assert ours == _reference_components(mask)


def test_recogniser_input_is_stretched_to_a_width_step() -> None:
    tensor = prepare(np.zeros((20, 60, 3), dtype=np.uint8))
    assert tensor.shape == (1, 3, 48, 160) and tensor.dtype == np.float32  # 144 natural -> the next 32
    assert tensor.min() == -1.0


def test_missing_models_name_the_file_and_the_fix(tmp_path) -> None:
    with pytest.raises(PluginError, match="nope.onnx: OCR model file does not exist"):
        model_path(DET_FILE, str(tmp_path / "nope.onnx"))
    with pytest.raises(PluginError, match="pip install --no-deps rapidocr==3.10.0"):
        model_path("models/not-in-the-wheel.onnx")
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(PluginError, match="bad.onnx: OpenVINO cannot read the model"):
        load_models(det_override=str(bad))


def _text(text: str) -> np.ndarray:
    img = Image.new("RGB", (260, 26), (0, 0, 0))
    ImageDraw.Draw(img).text((4, 2), text, font=_font("mono", 18), fill=(255, 255, 255))
    return np.asarray(img)


def test_static_text_skips_the_same_text_but_not_a_new_plate_in_its_place() -> None:
    static, box = StaticText(), (6.0, 6.0, 262.0, 30.0)
    for t in range(2):
        static.rejected(box, signature(_text(f"2026-01-15 07:31:0{t}")), t)
    assert static.skip(box, signature(_text("2026-01-15 07:31:02")), 2)  # the clock's next second
    plate = np.asarray(plate_at("B 1234 XYZ", 26).resize((260, 26)))
    assert not static.skip(box, signature(plate), 3)  # a plate where the clock was refused is read
    assert not static.skip((300.0, 6.0, 556.0, 30.0), signature(_text("2026-01-15 07:31:04")), 4)  # elsewhere
    skipped = [static.skip(box, signature(_text("2026-01-15 07:31:05")), 5 + t) for t in range(20)]
    assert skipped.count(False) == 2  # read again every 10th time
