"""Test-pattern JPEG snapshots for simulated cameras (PyAV mjpeg encoder)."""

from __future__ import annotations

import fractions
import zlib

import av
import numpy as np


def color_bars_jpeg(width: int, height: int, seed: str = "", quality: int = 5) -> bytes:
    """Encode a colour-bar test pattern, tinted per `seed`, as a baseline JPEG."""
    bars = np.array(
        [
            [235, 235, 235],
            [235, 235, 16],
            [16, 235, 235],
            [16, 235, 16],
            [235, 16, 235],
            [235, 16, 16],
            [16, 16, 235],
            [16, 16, 16],
        ],
        dtype=np.uint8,
    )
    cols = (np.arange(width) * len(bars)) // max(width, 1)
    frame = np.repeat(bars[cols][np.newaxis, :, :], height, axis=0)
    # A per-camera coloured band across the bottom fifth tells cameras apart.
    tint = zlib.crc32(seed.encode()).to_bytes(4, "big")[:3]
    frame[height * 4 // 5 :, :, :] = np.frombuffer(tint, dtype=np.uint8)
    ctx = av.CodecContext.create("mjpeg", "w")
    ctx.width = width
    ctx.height = height
    ctx.pix_fmt = "yuvj420p"
    ctx.time_base = fractions.Fraction(1, 25)
    ctx.options = {"qmin": str(quality), "qmax": str(quality)}
    video = av.VideoFrame.from_ndarray(frame, format="rgb24").reformat(format="yuvj420p")
    packets = list(ctx.encode(video)) + list(ctx.encode(None))
    return b"".join(bytes(p) for p in packets)
