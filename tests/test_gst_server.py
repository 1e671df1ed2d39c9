"""The independent RTSP source (scripts/gst_rtsp_server.py, GStreamer) serves what it is asked to."""

from __future__ import annotations

import av
import pytest

from tests.gst_server import GstServerError, gst_rtsp_server, require_gst, script_args
from tests.helpers import free_port

pytestmark = pytest.mark.slow


@pytest.fixture
def gst() -> None:
    """Skip (or fail under NVR_REQUIRE_GST) when GStreamer's RTSP server cannot run here."""
    require_gst()


def decode_frames(url: str, count: int, timeout: float = 15.0) -> list[av.VideoFrame]:
    """Decode ``count`` video frames from ``url`` over RTSP/TCP."""
    frames = []
    with av.open(url, options={"rtsp_transport": "tcp"}, timeout=timeout) as container:
        for frame in container.decode(video=0):
            frames.append(frame)
            if len(frames) >= count:
                break
    return frames


def test_script_args_map_options_to_flags() -> None:
    args = script_args(3, {"width": 320, "one_encoder": True, "audio": None, "user": "u"})
    assert args == ["--count", "3", "--port", "0", "--width", "320", "--one-encoder", "--user", "u"]


def test_two_streams_decode_at_the_requested_size(gst: None) -> None:
    with gst_rtsp_server(2, width=320, height=240, fps=15, bitrate=500, gop=1) as urls:
        assert len(urls) == 2
        assert urls[0].startswith("rtsp://127.0.0.1:") and urls[0].endswith("/cam1")
        assert urls[1].endswith("/cam2")
        for url in urls:
            frames = decode_frames(url, 5)
            assert len(frames) == 5
            assert {(f.width, f.height) for f in frames} == {(320, 240)}


def test_h265_with_audio_track(gst: None) -> None:
    with gst_rtsp_server(1, codec="h265", width=320, height=240, audio="pcma") as urls:
        with av.open(urls[0], options={"rtsp_transport": "tcp"}, timeout=15) as container:
            assert container.streams.video[0].codec_context.name == "hevc"
            assert container.streams.audio[0].codec_context.name == "pcm_alaw"
            frame = next(container.decode(video=0))
            assert (frame.width, frame.height) == (320, 240)


def test_digest_auth_accepts_the_password_and_refuses_others(gst: None) -> None:
    with gst_rtsp_server(1, width=320, height=240, user="admin", password="s3cret") as urls:
        good = urls[0].replace("rtsp://", "rtsp://admin:s3cret@")
        bad = urls[0].replace("rtsp://", "rtsp://admin:wrong@")
        assert decode_frames(good, 1)[0].width == 320
        with pytest.raises(av.error.FFmpegError):
            decode_frames(bad, 1, timeout=5)


def test_startup_failure_reports_the_script_stderr(gst: None) -> None:
    port = free_port()
    with gst_rtsp_server(1, port=port, width=320, height=240):
        with pytest.raises(GstServerError, match="cannot listen"):
            with gst_rtsp_server(1, port=port, width=320, height=240):
                pass
