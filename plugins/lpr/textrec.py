"""Text recognition: a crop -> PP-OCR recogniser (CTC) -> characters with their probabilities and alternatives."""

from __future__ import annotations

import string
from dataclasses import dataclass

import numpy as np
import openvino as ov
from PIL import Image

REC_HEIGHT = 48
"""The recogniser's input height."""
WIDTH_STEP = 32
"""Input widths are multiples of this, so OpenVINO sees few distinct shapes."""
STRETCH = 1.0
"""Crops are stretched at least this much in width, then up to the next step. A tight line crop gives each
character about 3.5 CTC time steps, enough to keep narrow pairs such as 11 apart; a crop of the whole plate
(number, border and validity line) needs 1.2 or more."""
MAX_WIDTH = 384
ALNUM = string.ascii_uppercase + string.digits
KEPT = frozenset(string.ascii_letters + string.digits + string.punctuation + " ")
"""Classes decoding may choose (when the model was not pruned to them already)."""


@dataclass(frozen=True, slots=True)
class Char:
    """One recognised character: what it most likely is, how sure, and the other letters and digits it may be."""

    char: str
    prob: float
    alts: tuple[tuple[str, float], ...] = ()
    """Upper-case letters and digits with their probabilities (case folded), best first, including ``char``."""

    def prob_of(self, c: str) -> float:
        for alt, p in self.alts:
            if alt == c:
                return p
        return self.prob if c == self.char else 0.0


@dataclass(frozen=True, slots=True)
class TextRead:
    """A recognised line: its characters (spaces included) and the mean character probability."""

    chars: tuple[Char, ...]

    @property
    def text(self) -> str:
        return "".join(c.char for c in self.chars)

    @property
    def confidence(self) -> float:
        probs = [c.prob for c in self.chars if c.char != " "]
        return float(np.mean(probs)) if probs else 0.0


class CharsetView:
    """Index maps from the model's dictionary to the classes decoding keeps and to folded letters/digits."""

    def __init__(self, charset: tuple[str, ...]) -> None:
        self.charset = charset
        self.kept = np.array([0] + [i for i, c in enumerate(charset) if c in KEPT and i], dtype=np.int64)
        self.kept_chars = [charset[i] for i in self.kept]
        folded: list[list[int]] = [[] for _ in ALNUM]
        for i, c in enumerate(charset):
            if c and c.upper() in ALNUM and len(c) == 1:
                folded[ALNUM.index(c.upper())].append(i)
        self.folded = folded


def prepare(crop: np.ndarray) -> np.ndarray:
    """RGB uint8 crop -> 1x3x48xW float32 (BGR, scaled to [-1, 1]), W the natural width rounded up to 32."""
    h, w = crop.shape[:2]
    natural = REC_HEIGHT * w / max(h, 1) * STRETCH
    width = int(min(MAX_WIDTH, max(WIDTH_STEP, -(-natural // WIDTH_STEP) * WIDTH_STEP)))
    image = Image.fromarray(crop).resize((width, REC_HEIGHT), Image.Resampling.BICUBIC)
    pixels = np.asarray(image, dtype=np.float32)[:, :, ::-1] / 127.5 - 1.0
    return np.ascontiguousarray(pixels.transpose(2, 0, 1)[None])


def decode(probs: np.ndarray, view: CharsetView, top: int = 4) -> TextRead:
    """CTC best path over the kept classes; each character carries its folded letter/digit alternatives."""
    kept = probs[:, view.kept]
    best = kept.argmax(axis=1)
    chars: list[Char] = []
    previous = 0
    t = 0
    while t < len(best):
        k = int(best[t])
        if k == 0 or k == previous:
            previous = k
            t += 1
            continue
        start = t  # a run of the same class: its frames' best probability decides the alternatives
        while t < len(best) and best[t] == k:
            t += 1
        frame = start + int(kept[start:t, k].argmax())
        row = probs[frame]
        folded = np.array([row[idx].sum() for idx in view.folded])
        order = np.argsort(-folded)[:top]
        alts = tuple((ALNUM[i], float(folded[i])) for i in order if folded[i] > 0.001)
        char = view.kept_chars[k]
        chars.append(Char(char.upper() if char.isalpha() else char, float(kept[frame, k]), alts))
        previous = k
    return TextRead(tuple(chars))


class TextRecognizer:
    """The recogniser; ``read`` blocks and is safe to call from one thread at a time per instance."""

    def __init__(self, compiled: ov.CompiledModel, charset: tuple[str, ...]) -> None:
        self.view = CharsetView(charset)
        self._request = compiled.create_infer_request()
        self.last_width = 0
        """Input width of the last ``read`` (what its cost grows with)."""

    def read(self, crop: np.ndarray) -> TextRead:
        """Recognise one line of text in an RGB uint8 crop."""
        tensor = prepare(crop)
        self.last_width = tensor.shape[3]
        self._request.infer({0: tensor})
        probs = self._request.get_output_tensor(0).data[0]
        return decode(np.asarray(probs, dtype=np.float32), self.view)
