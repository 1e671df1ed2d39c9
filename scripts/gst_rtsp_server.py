#!/usr/bin/python3
"""Independent RTSP test source: N live test streams from GStreamer's gst-rtsp-server.

Run it with the system Python, which has GStreamer's bindings (``python3-gi``,
``gir1.2-gst-rtsp-server-1.0``; ``scripts/setup --test`` installs them), not
with the project's virtual environment::

    /usr/bin/python3 scripts/gst_rtsp_server.py --count 4 --port 8554

serves ``rtsp://127.0.0.1:8554/cam1`` ... ``/cam4``. Each stream is
``videotestsrc`` (moving SMPTE bars by default) with a clock overlay, encoded
live by x264 (or x265) with the requested size, rate, bitrate and keyframe
interval, payloaded as RTP. Optional second track (``--audio``): AAC, PCMA or PCMU.

Media are *shared*: several clients of one path share one encoder. With
``--one-encoder`` every path shares a single encoder (identical picture on all
cameras), so one machine can serve hundreds of streams; without it each path
has its own encoder (about 20 % of a core per 720p stream).

Before it says it is ready, an internal client (``rtspsrc``) starts playing
every media and stays connected (``--no-warm`` skips this), so recorders
always join a running pipeline: gst-rtsp-server 1.22 aborts on an assertion
(``gst_rtsp_media_get_rates``) when a second client PLAYs a shared media
whose pipeline is still starting, which happens when many clients connect
at once. When it is serving it prints one line to stdout::

    READY rtsp://127.0.0.1:8554/cam1 rtsp://127.0.0.1:8554/cam2 ...

(URLs without credentials) and it exits with status 0 on SIGTERM or SIGINT.
Only loopback addresses are accepted for ``--host``.
"""

from __future__ import annotations

import argparse
import ipaddress
import signal
import sys

PATTERNS = {
    # name: videotestsrc properties; "smpte" moves (and reaches 2 Mbit/s at 720p), "ball" is mostly black.
    "smpte": "pattern=smpte horizontal-speed=4",
    "ball": "pattern=ball",
    "snow": "pattern=snow",
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default="127.0.0.1", help="loopback address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8554, help="TCP port; 0 picks a free one (default 8554)")
    p.add_argument("--count", type=int, default=1, help="number of streams /cam1../camN (default 1)")
    p.add_argument("--width", type=int, default=1280)
    p.add_argument("--height", type=int, default=720)
    p.add_argument("--fps", type=int, default=15)
    p.add_argument("--bitrate", type=int, default=2000, help="encoder bitrate in kbit/s (default 2000)")
    p.add_argument("--gop", type=float, default=2.0, help="seconds between keyframes (default 2)")
    p.add_argument("--codec", choices=("h264", "h265"), default="h264")
    p.add_argument("--bframes", type=int, default=0,
                   help="H.264 B-frames between references (main profile; default 0: constrained baseline)")
    p.add_argument("--pattern", choices=sorted(PATTERNS), default="smpte", help="test picture (default smpte)")
    p.add_argument("--audio", nargs="?", const="aac", choices=("aac", "pcma", "pcmu"), default=None,
                   help="add an audio track as pay1: aac (default when given), pcma or pcmu (G.711 A-/mu-law)")
    p.add_argument("--user", default=None, help="require RTSP digest authentication with this user name")
    p.add_argument("--password", default=None, help="password for --user")
    p.add_argument("--one-encoder", action="store_true",
                   help="all paths share one encoder (same picture everywhere; cheap for many streams)")
    p.add_argument("--no-warm", action="store_true",
                   help="say READY at once instead of after an internal client received data from every media")
    args = p.parse_args(argv)
    try:
        if not ipaddress.ip_address(args.host).is_loopback:
            p.error(f"--host must be a loopback address, not {args.host!r}")
    except ValueError:
        p.error(f"--host must be an IP address, got {args.host!r}")
    if args.count < 1:
        p.error("--count must be at least 1")
    if args.width < 16 or args.height < 16 or args.width % 2 or args.height % 2:
        p.error("--width and --height must be even and at least 16")
    if args.fps < 1 or args.bitrate < 1 or args.gop <= 0:
        p.error("--fps, --bitrate and --gop must be positive")
    if (args.user is None) != (args.password is None):
        p.error("--user and --password go together")
    return args


def launch_description(args: argparse.Namespace) -> str:
    """The gst-launch style pipeline of one stream (pay0 video, optional pay1 audio)."""
    keyint = max(1, round(args.fps * args.gop))
    video = (
        f"videotestsrc is-live=true {PATTERNS[args.pattern]} "
        f"! video/x-raw,width={args.width},height={args.height},framerate={args.fps}/1 "
        "! clockoverlay halignment=right valignment=top time-format=\"%Y-%m-%d %H:%M:%S\" "
    )
    if args.codec == "h264" and args.bframes:
        video += (  # B-frames need the main profile, and no zerolatency tune (which turns them off)
            f"! x264enc speed-preset=ultrafast key-int-max={keyint} bitrate={args.bitrate} "
            f"bframes={args.bframes} b-adapt=false option-string=scenecut=0 "
            "! video/x-h264,profile=main "
            "! rtph264pay name=pay0 pt=96 config-interval=-1"
        )
    elif args.codec == "h264":
        video += (
            f"! x264enc tune=zerolatency speed-preset=ultrafast key-int-max={keyint} bitrate={args.bitrate} "
            "bframes=0 option-string=scenecut=0 "
            "! video/x-h264,profile=constrained-baseline "
            "! rtph264pay name=pay0 pt=96 config-interval=-1"
        )
    else:
        video += (
            f"! x265enc tune=zerolatency speed-preset=ultrafast key-int-max={keyint} bitrate={args.bitrate} "
            "option-string=\"bframes=0:scenecut=0\" "
            "! rtph265pay name=pay0 pt=96 config-interval=-1"
        )
    audio = ""
    if args.audio == "aac":
        audio = (
            " audiotestsrc is-live=true wave=sine freq=440 volume=0.2 "
            "! audio/x-raw,rate=16000,channels=1 ! audioconvert ! audioresample "
            "! avenc_aac bitrate=32000 ! rtpmp4gpay name=pay1 pt=97"
        )
    elif args.audio == "pcma":
        audio = (
            " audiotestsrc is-live=true wave=sine freq=440 volume=0.2 "
            "! audio/x-raw,rate=8000,channels=1 ! audioconvert ! alawenc ! rtppcmapay name=pay1 pt=8"
        )
    elif args.audio == "pcmu":
        audio = (
            " audiotestsrc is-live=true wave=sine freq=440 volume=0.2 "
            "! audio/x-raw,rate=8000,channels=1 ! audioconvert ! mulawenc ! rtppcmupay name=pay1 pt=0"
        )
    return f"( {video}{audio} )"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        import gi

        gi.require_version("Gst", "1.0")
        gi.require_version("GstRtsp", "1.0")
        gi.require_version("GstRtspServer", "1.0")
        from gi.repository import GLib, Gst, GstRtsp, GstRtspServer
    except (ImportError, ValueError) as exc:
        print(f"gst_rtsp_server: GStreamer Python bindings missing ({exc}); install python3-gi and "
              "gir1.2-gst-rtsp-server-1.0 (scripts/setup --test) and run with /usr/bin/python3", file=sys.stderr)
        return 2

    Gst.init(None)
    needed = ["videotestsrc", "clockoverlay", "x264enc" if args.codec == "h264" else "x265enc",
              "rtph264pay" if args.codec == "h264" else "rtph265pay"]
    if args.audio == "aac":
        needed += ["audiotestsrc", "avenc_aac", "rtpmp4gpay"]
    elif args.audio == "pcma":
        needed += ["audiotestsrc", "alawenc", "rtppcmapay"]
    elif args.audio == "pcmu":
        needed += ["audiotestsrc", "mulawenc", "rtppcmupay"]
    missing = [name for name in needed if Gst.ElementFactory.find(name) is None]
    if missing:
        print(f"gst_rtsp_server: GStreamer elements missing: {', '.join(missing)} "
              "(install gstreamer1.0-plugins-base/good/ugly/bad, gstreamer1.0-libav and gstreamer1.0-x)",
              file=sys.stderr)
        return 2

    class Factory(GstRtspServer.RTSPMediaFactory):
        """Shared media factory; with ``--one-encoder`` every path maps to the same media."""

        def do_gen_key(self, url):  # noqa: N802 - GObject virtual method
            if args.one_encoder:
                return "one-encoder"
            return GstRtspServer.RTSPMediaFactory.do_gen_key(self, url)

    server = GstRtspServer.RTSPServer()
    server.set_address(args.host)
    server.set_service(str(args.port))
    launch = launch_description(args)
    factory = Factory()
    factory.set_launch(launch)
    factory.set_shared(True)

    if args.user is not None:
        auth = GstRtspServer.RTSPAuth()
        auth.set_supported_methods(GstRtsp.RTSPAuthMethod.DIGEST)
        token = GstRtspServer.RTSPToken()
        token.set_string(GstRtspServer.RTSP_TOKEN_MEDIA_FACTORY_ROLE, "user")
        auth.add_digest(args.user, args.password, token)
        server.set_auth(auth)
        role = Gst.Structure.new_from_string(
            f"user, {GstRtspServer.RTSP_PERM_MEDIA_FACTORY_ACCESS}=(boolean)true, "
            f"{GstRtspServer.RTSP_PERM_MEDIA_FACTORY_CONSTRUCT}=(boolean)true"
        )
        factory.add_role_from_structure(role)

    mounts = server.get_mount_points()
    paths = [f"/cam{i}" for i in range(1, args.count + 1)]
    for path in paths:
        # One factory object: shared media are keyed by URL path (or by a constant with --one-encoder).
        mounts.add_factory(path, factory)

    loop = GLib.MainLoop()
    if server.attach(None) == 0:
        print(f"gst_rtsp_server: cannot listen on {args.host}:{args.port} (port in use?)", file=sys.stderr)
        return 1
    port = server.get_bound_port()

    # Drop sessions whose client went away without TEARDOWN.
    def cleanup() -> bool:
        server.get_session_pool().cleanup()
        return True

    GLib.timeout_add_seconds(2, cleanup)

    def stop(*_: object) -> bool:
        loop.quit()
        return False

    GLib.unix_signal_add(GLib.PRIORITY_HIGH, signal.SIGTERM, stop)
    GLib.unix_signal_add(GLib.PRIORITY_HIGH, signal.SIGINT, stop)

    host = f"[{args.host}]" if ":" in args.host else args.host
    urls = [f"rtsp://{host}:{port}{path}" for path in paths]
    print(f"gst_rtsp_server: {args.count} stream(s) {args.width}x{args.height}@{args.fps} {args.codec} "
          f"{args.bitrate} kbit/s gop {args.gop}s audio={args.audio or 'none'} "
          f"auth={'digest' if args.user is not None else 'none'} one_encoder={args.one_encoder}: {launch}",
          file=sys.stderr, flush=True)

    def ready() -> bool:
        print("READY " + " ".join(urls), flush=True)
        return False

    if args.no_warm:
        ready()
    else:
        # Keep every media playing with an internal client, and say READY once each one has data.
        # Clients then always join a running pipeline: gst-rtsp-server 1.22 aborts (assertion in
        # gst_rtsp_media_get_rates) when a second client PLAYs a shared media whose pipeline is still
        # starting, which happens when many recorders connect at once.
        warm = Warmer(Gst, urls[:1] if args.one_encoder else urls, args.user, args.password, ready, loop)
        warm.start()
        GLib.timeout_add_seconds(WARM_TIMEOUT_S, warm.timeout)
    loop.run()
    if not args.no_warm:
        warm.stop()
        if warm.failed:
            return 1
    return 0


WARM_TIMEOUT_S = 30


class Warmer:
    """Internal RTSP clients (``rtspsrc ! fakesink``) that keep the media playing; ``ready()`` once all have data."""

    def __init__(self, gst, urls, user, password, ready, loop) -> None:  # noqa: ANN001
        import threading

        self.gst, self.urls, self.user, self.password = gst, urls, user, password
        self.ready_cb, self.loop = ready, loop
        self.pipelines = []
        self.waiting = set(range(len(urls)))
        self.lock = threading.Lock()
        self.done = self.failed = False

    def start(self) -> None:
        from gi.repository import GLib

        Gst = self.gst
        for index, url in enumerate(self.urls):
            pipe = Gst.Pipeline.new(f"warm{index}")
            src = Gst.ElementFactory.make("rtspsrc")
            src.set_property("location", url)
            src.set_property("protocols", "tcp")
            src.set_property("latency", 0)
            if self.user is not None:
                src.set_property("user-id", self.user)
                src.set_property("user-pw", self.password)
            pipe.add(src)

            def pad_added(_src, pad, pipe=pipe, index=index) -> None:  # noqa: ANN001
                sink = Gst.ElementFactory.make("fakesink")
                sink.set_property("sync", False)
                sink.set_property("signal-handoffs", True)
                sink.connect("handoff", lambda *_a: self.got_data(index))
                pipe.add(sink)
                sink.sync_state_with_parent()
                pad.link(sink.get_static_pad("sink"))

            src.connect("pad-added", pad_added)
            pipe.get_bus().add_signal_watch()
            pipe.get_bus().connect("message::error", self.error)
            pipe.set_state(Gst.State.PLAYING)
            self.pipelines.append(pipe)
        self._glib = GLib

    def got_data(self, index: int) -> None:
        with self.lock:
            if index not in self.waiting:
                return
            self.waiting.discard(index)
            if self.waiting:
                return
        self._glib.idle_add(self.finish)

    def finish(self) -> bool:
        if not self.done:
            self.done = True
            self.ready_cb()
        return False

    def error(self, _bus, message) -> None:  # noqa: ANN001
        err, _debug = message.parse_error()
        print(f"gst_rtsp_server: warm-up client failed: {err.message}", file=sys.stderr, flush=True)
        self.failed = True
        self.loop.quit()

    def timeout(self) -> bool:
        if not self.done:
            print(f"gst_rtsp_server: the streams did not start within {WARM_TIMEOUT_S} s", file=sys.stderr,
                  flush=True)
            self.failed = True
            self.loop.quit()
        return False

    def stop(self) -> None:
        for pipe in self.pipelines:
            pipe.set_state(self.gst.State.NULL)


if __name__ == "__main__":
    sys.exit(main())
