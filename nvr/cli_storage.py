"""``nvr storage``: footage per camera, free space against the floor, and retention holds."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import shutil
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from nvr.clock import SystemClock, from_utc_us, now_us, utc_us
from nvr.config import Config
from nvr.errors import ConfigError, NvrError
from nvr.models import Hold
from nvr.retention_service import GB, disk_state
from nvr.storage.catalog import Catalog

__all__ = ["register"]

T = TypeVar("T")


def register(subparsers: Any) -> None:
    """Add ``nvr storage`` (usage report) and ``nvr storage hold add|list|release`` to the ``nvr`` parser."""
    p = subparsers.add_parser("storage", help="footage per camera, free space, holds",
                              description="Without an action: footage per camera, active holds, free space.")
    p.add_argument("-c", "--config", help="config TOML file")
    p.set_defaults(func=cmd_usage)
    actions = p.add_subparsers(dest="storage_command", metavar="ACTION")

    hold = actions.add_parser("hold", help="keep footage from retention (evidence, investigations)")
    hold_actions = hold.add_subparsers(dest="hold_command", metavar="ACTION", required=True)

    add = hold_actions.add_parser("add", help="hold a camera's (or every camera's) footage")
    _config_option(add)
    which = add.add_mutually_exclusive_group(required=True)
    which.add_argument("--camera", metavar="NAME", help="the camera whose footage to keep")
    which.add_argument("--all", action="store_true", help="keep every camera's footage in the window")
    add.add_argument("--from", dest="start", required=True, metavar="ISO",
                     help="start of the window, with a zone: 2024-05-01T10:00+07:00 or ...Z")
    add.add_argument("--to", dest="end", required=True, metavar="ISO", help="end of the window (exclusive)")
    add.add_argument("--reason", required=True, help="why, e.g. a complaint or case number")
    add.add_argument("--expires", metavar="ISO", help="release the hold by itself at this time")
    add.add_argument("--by", metavar="NAME", help="who asked (default: the current user)")
    add.set_defaults(func=cmd_hold_add)

    lst = hold_actions.add_parser("list", help="list active holds")
    _config_option(lst)
    lst.add_argument("--all", action="store_true", help="include released and expired holds")
    lst.set_defaults(func=cmd_hold_list)

    rel = hold_actions.add_parser("release", help="release a hold; retention may then delete")
    _config_option(rel)
    rel.add_argument("id", type=int)
    rel.set_defaults(func=cmd_hold_release)


# -- helpers -------------------------------------------------------------------------------


def _config_option(parser: argparse.ArgumentParser) -> None:
    # SUPPRESS: an action's own -c wins, but leaving it out keeps the one given after `storage`.
    parser.add_argument("-c", "--config", default=argparse.SUPPRESS, help="config TOML file")


def _fail(message: str) -> int:
    print(f"nvr storage: {message}", file=sys.stderr)
    return 2


def _load(args: argparse.Namespace) -> Config:
    from nvr.config import load_config
    from nvr.plugin_host import PluginHost

    if not getattr(args, "config", None):
        raise _Usage("give the config file with -c CONFIG")
    return load_config(args.config, PluginHost().config_models()).config


class _Usage(Exception):
    """A command-line mistake: reported as one line, exit status 2."""


def _with_catalog(config: Config, work: Callable[[Catalog], Awaitable[T]]) -> T:
    from nvr.storage.catalog import open_catalog

    async def run() -> T:
        async with await open_catalog(config.catalog_url) as catalog:
            return await work(catalog)

    return asyncio.run(run())


def _guarded(fn: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    def wrapper(args: argparse.Namespace) -> int:
        try:
            return fn(args)
        except ConfigError as exc:
            print(exc.report(), file=sys.stderr)
            return 2
        except (_Usage, NvrError) as exc:
            return _fail(str(exc))

    wrapper.__name__ = fn.__name__
    wrapper.__doc__ = fn.__doc__
    return wrapper


def parse_time(text: str, option: str) -> int:
    """An ISO 8601 time with a zone (``Z`` or ``+07:00``) as UTC µs; naive times are refused."""
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise _Usage(f"{option} {text!r} is not an ISO 8601 time (e.g. 2024-05-01T10:00+07:00)") from None
    if dt.tzinfo is None:
        raise _Usage(f"{option} {text!r} has no time zone: add Z (UTC) or an offset such as +07:00")
    return utc_us(dt)


def fmt_time(us: int | None) -> str:
    """UTC µs as ``2024-05-01T03:00:00Z`` (``-`` for none)."""
    if us is None:
        return "-"
    return from_utc_us(us).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _hold_state(hold: Hold, now: int) -> str:
    if hold.released_at is not None and hold.released_at <= now:
        return "released"
    return "active" if hold.is_active(now) else "expired"


def format_holds(holds: list[Hold], now: int, with_state: bool = False) -> str:
    """A table of holds, one per line."""
    if not holds:
        return "no holds"
    head = ["id", "camera", "from (UTC)", "to (UTC)", "expires", "by", "reason"] + (["state"] if with_state else [])
    rows = [[str(h.id), h.camera_name or "(all)", fmt_time(h.start_time), fmt_time(h.end_time),
             fmt_time(h.expires_at), h.created_by or "-", h.reason] + ([_hold_state(h, now)] if with_state else [])
            for h in holds]
    return _table(head, rows)


def _table(head: list[str], rows: list[list[str]], right: set[int] | None = None) -> str:
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    right = right or set()

    def line(cells: list[str]) -> str:
        padded = (c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True)))
        return "  ".join(padded)

    return "\n".join(line(r).rstrip() for r in [head, *rows])


# -- commands ------------------------------------------------------------------------------


@_guarded
def cmd_usage(args: argparse.Namespace) -> int:
    """Footage per camera, active holds, and free space against the floor."""
    config = _load(args)
    now = now_us(SystemClock())

    async def read(catalog: Catalog) -> tuple[list[Any], list[Hold]]:
        return await catalog.usage_by_camera(), await catalog.active_holds(now)

    usage, holds = _with_catalog(config, read)
    rows = [[u.camera, str(u.segments), f"{u.bytes / GB:.2f}", fmt_time(u.oldest_start), fmt_time(u.newest_end)]
            for u in usage]
    rows.append(["total", str(sum(u.segments for u in usage)), f"{sum(u.bytes for u in usage) / GB:.2f}", "", ""])
    print(_table(["camera", "segments", "GB", "oldest footage (UTC)", "newest footage (UTC)"], rows, right={1, 2}))
    print()
    print(f"active holds: {len(holds)}")
    if holds:
        print(format_holds(holds, now))
    print()
    root, cfg = config.storage.root, config.retention
    try:
        disk = disk_state(shutil.disk_usage(root), cfg.min_free_percent, cfg.min_free_gb)
    except FileNotFoundError:
        print(f"storage root {root} does not exist yet")
        return 0
    verdict = "below the floor: retention deletes the oldest unheld footage" if disk.free_bytes < disk.floor_bytes \
        else "ok"
    print(f"disk {root}: {disk.free_bytes / GB:.2f} GB free of {disk.total_bytes / GB:.2f} GB; "
          f"floor {disk.floor_bytes / GB:.2f} GB (max of {cfg.min_free_percent:g}% and {cfg.min_free_gb:g} GB): "
          f"{verdict}")
    return 0


@_guarded
def cmd_hold_add(args: argparse.Namespace) -> int:
    """Create a hold and print it."""
    config = _load(args)
    start, end = parse_time(args.start, "--from"), parse_time(args.end, "--to")
    if end <= start:
        raise _Usage("--to must be after --from")
    expires = parse_time(args.expires, "--expires") if args.expires else None
    camera = None if args.all else args.camera
    by = args.by or _current_user()
    hold = _with_catalog(config, lambda c: c.add_hold(camera, start, end, args.reason, by, expires))
    print(f"hold {hold.id}: {hold.camera_name or 'all cameras'} {fmt_time(hold.start_time)} to "
          f"{fmt_time(hold.end_time)} ({hold.reason})" + (f", expires {fmt_time(expires)}" if expires else ""))
    return 0


@_guarded
def cmd_hold_list(args: argparse.Namespace) -> int:
    """Print the active holds (``--all``: every hold, with its state)."""
    config = _load(args)
    now = now_us(SystemClock())
    holds = _with_catalog(config, lambda c: c.list_holds() if args.all else c.active_holds(now))
    print(format_holds(holds, now, with_state=args.all))
    return 0


@_guarded
def cmd_hold_release(args: argparse.Namespace) -> int:
    """Release a hold now."""
    config = _load(args)
    hold = _with_catalog(config, lambda c: c.release_hold(args.id, now_us(SystemClock())))
    print(f"hold {hold.id} released at {fmt_time(hold.released_at)}; retention may now delete its footage")
    return 0


def _current_user() -> str | None:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return None
