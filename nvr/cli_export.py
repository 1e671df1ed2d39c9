"""``nvr export`` (a signed evidence bundle, with a progress bar) and ``nvr verify`` (check one)."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from nvr.errors import ConfigError, NvrError

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Add ``nvr export`` and ``nvr verify`` to the ``nvr`` parser."""
    p = subparsers.add_parser(
        "export", help="export footage as a signed evidence bundle (ZIP)",
        description="Copy CAMERA's footage in [START, END) into one MP4 per camera (no re-encoding) inside a "
                    "ZIP with a signed manifest. Works on the config's catalog and storage directly; a running "
                    "server sees the job too. Exit 0 done, 1 failed, 2 bad input.")
    p.add_argument("camera", metavar="CAMERA", help="camera name; several as a,b,c")
    p.add_argument("start", metavar="START", help="ISO 8601 with a zone (2024-05-01T10:00:00+07:00) or UTC µs")
    p.add_argument("end", metavar="END", help="end of the range (exclusive), same forms")
    p.add_argument("-c", "--config", required=True, help="config TOML file")
    p.add_argument("--case", required=True, help="case or report number (goes into the manifest)")
    p.add_argument("--reason", required=True, help="why the footage is exported")
    p.add_argument("--hold", action="store_true", help="keep the footage from retention (a catalog hold)")
    p.add_argument("--out", metavar="DIR", help="folder for the bundle (default: [export] dir)")
    p.add_argument("--by", metavar="NAME", help="who asks (default: cli:<your login>)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_export)

    v = subparsers.add_parser("verify", help="check an export bundle's signature and file hashes",
                              description="Exit 0 when the signature and every file match, 1 on any mismatch, "
                                          "2 when the bundle cannot be read.")
    v.add_argument("bundle", metavar="BUNDLE.zip")
    which = v.add_mutually_exclusive_group()
    which.add_argument("--key", metavar="PEM", help="verify with this public key instead of the bundle's own")
    which.add_argument("-c", "--config", help="verify with this installation's key ([export] key_file)")
    v.set_defaults(func=cmd_verify)


def _fail(command: str, message: str, code: int = 2) -> int:
    print(f"nvr {command}: {message}", file=sys.stderr)
    return code


def cmd_export(args: argparse.Namespace) -> int:
    from nvr.config import load_config
    from nvr.plugin_host import PluginHost

    try:
        config = load_config(args.config, PluginHost().config_models()).config
    except ConfigError as exc:
        print(exc.report(), file=sys.stderr)
        return 2
    if args.out:
        out = Path(args.out)
        if out.exists() and not out.is_dir():
            return _fail("export", f"--out: {out} is not a folder")
    try:
        return asyncio.run(_export(args, config))
    except NvrError as exc:
        return _fail("export", str(exc))


async def _export(args: argparse.Namespace, config: Any) -> int:
    from nvr.clock import SystemClock
    from nvr.export_plan import ExportInputError, validate_request
    from nvr.export_service import ExportService, ProgressTracker
    from nvr.storage.catalog import open_catalog

    url = config.catalog_url
    path = url[len("sqlite://"):] if url.startswith("sqlite://") else url
    if "://" not in path and path != ":memory:" and not Path(path).exists():
        return _fail("export", f"no catalog at {path}: has nvr recorded anything with this config?")
    async with await open_catalog(config.catalog_url) as catalog:
        known = [c.name for c in await catalog.list_cameras()]
        try:
            request = validate_request(
                [c.strip() for c in args.camera.split(",") if c.strip()], args.start, args.end, args.case,
                args.reason, args.hold, known=known,
                max_range_us=int(config.export.max_range_hours * 3_600_000_000))
            service = ExportService(catalog, lambda: config, SystemClock())
            out = Path(args.out).resolve() if args.out else None
            job = await service.submit(request, args.by or f"cli:{getpass.getuser()}", out)
        except ExportInputError as exc:
            return _fail("export", str(exc))
        print(f"export {job.id}: case {job.case}, {', '.join(job.cameras)}, bundle {job.output_path}",
              file=sys.stderr)
        tracker = ProgressTracker()
        final = None
        bar = None if args.quiet else asyncio.create_task(_progress(tracker, sys.stderr))
        try:
            final = await service.run_job(job.id, tracker)
            while final is None or not final.finished:  # a running server claimed it first: follow it
                await asyncio.sleep(1)
                final = await catalog.get_export_job(job.id)
                if final is not None:
                    tracker.total, tracker.done = final.bytes_total, final.bytes_done
        finally:
            if bar is not None:
                bar.cancel()
                if final is not None and final.state == "done":
                    tracker.done = tracker.total
                _draw(tracker, sys.stderr, time.monotonic() - 1, "")
                print(file=sys.stderr)
    if final.state != "done":
        return _fail("export", f"export {final.id} failed: {final.error}", 1)
    assert final.result is not None
    print(final.result["bundle"])
    gaps = final.result.get("gaps", 0)
    print(f"done: {final.result['size_bytes'] / 1e6:.1f} MB, {final.result['clips']} clip(s), {gaps} gap(s) "
          f"({final.result.get('gap_seconds', 0):.1f} s without footage); key {final.result['fingerprint']}",
          file=sys.stderr)
    return 0


async def _progress(tracker: Any, stream: TextIO) -> None:
    """A one-line bar on stderr, redrawn on a terminal (a line every 2 s otherwise)."""
    started = time.monotonic()
    last = ""
    while True:
        last = _draw(tracker, stream, started, last)
        await asyncio.sleep(0.2 if stream.isatty() else 2.0)


def _draw(tracker: Any, stream: TextIO, started: float, last: str) -> str:
    """Percent, megabytes and the time left; returns the line drawn."""
    done, total = tracker.done, tracker.total
    if not total:  # still planning
        return last
    fraction = min(1.0, done / total)
    elapsed = time.monotonic() - started
    eta = f"{(total - done) / (done / elapsed):5.0f} s left" if 0 < done < total and elapsed > 0 else ""
    line = f"[{'#' * int(fraction * 30):<30}] {fraction * 100:5.1f}%  {done / 1e6:8.1f} / {total / 1e6:.1f} MB  {eta}"
    if stream.isatty():
        stream.write("\r" + line)
    elif line[:40] != last[:40]:
        stream.write(line + "\n")
    stream.flush()
    return line


def cmd_verify(args: argparse.Namespace) -> int:
    from nvr.export_keys import KeyError_, load_public_key
    from nvr.export_verify import verify_bundle

    bundle = Path(args.bundle)
    if not bundle.is_file():
        return _fail("verify", f"{bundle}: no such file")
    public = None
    try:
        if args.key:
            public = load_public_key(Path(args.key).read_bytes())
        elif args.config:
            from nvr.config import load_config
            from nvr.plugin_host import PluginHost

            key_file = load_config(args.config, PluginHost().config_models()).config.export_key_file
            public = load_public_key(key_file.read_bytes())
    except (OSError, KeyError_, ConfigError) as exc:
        return _fail("verify", f"cannot load the key: {exc}")
    report = verify_bundle(bundle, public)
    if not report.ok:
        for problem in report.problems:
            print(f"MISMATCH {problem}", file=sys.stderr)
        print(f"{bundle}: FAILED ({len(report.problems)} problem(s))")
        return 1
    export = (report.manifest or {}).get("export", {})
    print(f"{bundle}: OK — signature valid, {report.files_checked} file(s) match their SHA-256")
    print(f"  case {export.get('case')!r}, export {export.get('job_id')}, by {export.get('requested_by')}, "
          f"{export.get('created_at')}")
    print(f"  signed by key {report.fingerprint} ({report.key_source})")
    if not (args.key or args.config):
        print("  compare that fingerprint with the one the nvr installation shows (Exports page, /api/keys/export)")
    return 0
