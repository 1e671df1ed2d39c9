"""SDP parsing as cameras send it: control URLs, rtpmap/fmtp, parameter sets, AAC config, static payloads."""

from __future__ import annotations

import base64

import pytest

from nvr.sdp_parse import SdpError, audio_track, join_control, parse_sdp, video_track
from nvr.sim.clip import load_clip

BASE = "rtsp://127.0.0.1:554/Streaming/Channels/101"


def sdp(*lines: str) -> str:
    return "\r\n".join(["v=0", "o=- 1 1 IN IP4 127.0.0.1", "s=Session", "t=0 0", *lines]) + "\r\n"


@pytest.mark.parametrize(("base", "control", "expected"), [
    (BASE, "trackID=1", BASE + "/trackID=1"),
    (BASE + "/", "trackID=1", BASE + "/trackID=1"),
    (BASE, "*", BASE),
    (BASE, "", BASE),
    (BASE, "rtsp://127.0.0.1:554/other/track1", "rtsp://127.0.0.1:554/other/track1"),
    (BASE, "/abs/track2", "rtsp://127.0.0.1:554/abs/track2"),
])
def test_control_urls(base: str, control: str, expected: str) -> None:
    assert join_control(base, control) == expected


def test_h264_with_pcmu_as_a_typical_camera_sends_it() -> None:
    clip = load_clip("sub")
    sprop = ",".join(base64.b64encode(n).decode() for n in (clip.sps, clip.pps))
    text = sdp("a=control:*", "m=video 0 RTP/AVP 96", "a=rtpmap:96 H264/90000",
               f"a=fmtp:96 profile-level-id=420029; packetization-mode=1; sprop-parameter-sets={sprop}",
               "a=framerate:25.000000", "a=control:trackID=1",
               "m=audio 0 RTP/AVP 0", "a=control:trackID=2")  # static payload type 0: no rtpmap line
    parsed = parse_sdp(text, BASE + "/")
    assert parsed.control == BASE + "/"
    video, audio = parsed.media
    track = video_track(video)
    assert track is not None and track.codec == "h264" and track.frame_duration == 3600
    assert track.params is not None and (track.params.width, track.params.height) == (640, 360)
    assert video.control == BASE + "/trackID=1"
    pcmu = audio_track(audio)
    assert pcmu is not None and (pcmu.codec, pcmu.clock_rate, pcmu.channels, pcmu.payload_type) == \
        ("pcm_mulaw", 8000, 1, 0)
    assert video_track(audio) is None and audio_track(video) is None


def test_h265_sprop_vps_sps_pps_and_aac_hbr() -> None:
    text = sdp("m=video 0 RTP/AVP 96", "a=rtpmap:96 H265/90000",
               "a=fmtp:96 sprop-vps=QAEMAf//AWAAAAMAkAAAAwAAAwBdlZgJ;"
               "sprop-sps=QgEBAWAAAAMAkAAAAwAAAwBdoAUCAXHy5ZWZJMrkBAAAAwAEAAADAHgg;"
               "sprop-pps=RAHBcrRiQA==", "a=control:track1",
               "m=audio 0 RTP/AVP 97", "a=rtpmap:97 MPEG4-GENERIC/16000/1",
               "a=fmtp:97 streamtype=5;profile-level-id=2;mode=AAC-hbr;config=1408;SizeLength=13;IndexLength=3;"
               "IndexDeltaLength=3", "a=control:track2")
    video, audio = parse_sdp(text, BASE).media
    track = video_track(video)
    assert track is not None and track.codec == "hevc" and track.params is not None
    assert len(track.params.nals) == 3 and (track.params.width, track.params.height) == (640, 360)
    aac = audio_track(audio)
    assert aac is not None and (aac.codec, aac.clock_rate, aac.config) == ("aac", 16000, bytes.fromhex("1408"))
    assert (aac.size_length, aac.index_length, aac.index_delta_length) == (13, 3, 3)
    assert video.control == BASE + "/track1"


def test_what_cannot_be_recorded_is_left_out() -> None:
    text = sdp("m=video 0 RTP/AVP 26", "a=rtpmap:26 JPEG/90000", "m=audio 0 RTP/AVP 98",
               "a=rtpmap:98 MPEG4-GENERIC/16000", "a=fmtp:98 mode=CELP-cbr;config=abc",
               "m=application 0 RTP/AVP 107", "a=rtpmap:107 vnd.onvif.metadata/90000")
    media = parse_sdp(text, BASE).media
    assert [m.kind for m in media] == ["video", "audio", "application"]
    assert all(video_track(m) is None and audio_track(m) is None for m in media)
    with pytest.raises(SdpError):
        parse_sdp(sdp(), BASE)
