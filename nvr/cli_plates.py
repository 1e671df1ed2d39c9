"""``nvr plates search``: where and when a plate was seen (exact, prefix or fuzzy), from the catalog."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import sys
from datetime import datetime
from typing import Any

from nvr.cli_storage import fmt_time
from nvr.clock import utc_us
from nvr.errors import ConfigError, NvrError
from nvr.storage.plates_catalog import PlateQuery, PlateSighting

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Add ``nvr plates search`` to the ``nvr`` parser."""
    p = subparsers.add_parser("plates", help="licence-plate sightings (the lpr plugin)")
    actions = p.add_subparsers(dest="plates_command", metavar="ACTION", required=True)
    s = actions.add_parser("search", help="where and when a plate was seen",
                           description="Exact: the plate; prefix: plates starting with TEXT; fuzzy: plates within "
                                       "--max-distance edits (O/0, I/1, B/8, S/5, Z/2 cost 0.25).")
    s.add_argument("text", help='the plate, any spacing or case: "B 1234 XYZ", b1234xyz')
    s.add_argument("-c", "--config", required=True, help="config TOML file")
    s.add_argument("--mode", choices=("exact", "prefix", "fuzzy"), default="exact", help="default exact")
    s.add_argument("--max-distance", type=float, default=1.0, help="fuzzy: largest edit distance (default 1)")
    s.add_argument("--camera", action="append", metavar="NAME", help="only this camera (repeatable)")
    s.add_argument("--from", dest="start", metavar="ISO", help="seen at or after, e.g. 2024-05-01T00:00+07:00")
    s.add_argument("--to", dest="end", metavar="ISO", help="seen before")
    s.add_argument("--limit", type=int, default=100, help="at most this many (default 100)")
    s.add_argument("--json", action="store_true", help="one JSON object a line instead of a table")
    s.set_defaults(func=cmd_search)


def _time(text: str | None, option: str) -> int | None:
    """An ISO 8601 time with a zone as UTC µs; ValueError for anything else."""
    if not text:
        return None
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{option} {text!r} is not an ISO 8601 time (e.g. 2024-05-01T10:00+07:00)") from None
    if dt.tzinfo is None:
        raise ValueError(f"{option} {text!r} has no time zone: add Z (UTC) or an offset such as +07:00")
    return utc_us(dt)


def _row(s: PlateSighting) -> dict[str, Any]:
    return {"id": s.id, "time": fmt_time(s.best_us), "camera": s.camera, "plate": s.plate,
            "confidence": round(s.confidence, 3), "reads": s.reads, "distance": s.distance,
            "recording": {"start": fmt_time(s.footage_start_us), "end": fmt_time(s.footage_end_us)},
            "alert_event": s.alert_event_id}


def cmd_search(args: argparse.Namespace) -> int:
    from nvr.config import load_config
    from nvr.plugin_host import PluginHost
    from nvr.storage.catalog import open_catalog

    try:
        config = load_config(args.config, PluginHost().config_models()).config
        query = PlateQuery(args.text, mode=args.mode, max_distance=args.max_distance,
                           cameras=tuple(args.camera) if args.camera else None,
                           start_us=_time(args.start, "--from"), end_us=_time(args.end, "--to"),
                           limit=max(1, args.limit))

        async def run() -> list[PlateSighting]:
            async with await open_catalog(config.catalog_url) as catalog:
                found = await catalog.search_plates(query)
                await catalog.audit(f"cli:{getpass.getuser()}", "plates.search", None,
                                    {"q": args.text, "mode": args.mode, "results": len(found)})
                return found

        found = asyncio.run(run())
    except ConfigError as exc:
        print(exc.report(), file=sys.stderr)
        return 2
    except (NvrError, ValueError) as exc:
        print(f"nvr plates search: {exc}", file=sys.stderr)
        return 2
    if args.json:
        for s in found:
            print(json.dumps(_row(s)))
        return 0
    if not found:
        print(f"no sightings of {args.text!r} ({args.mode})")
        return 0
    print(f"{'id':>6}  {'seen (UTC)':20}  {'camera':16}  {'plate':12}  {'conf':>5}  {'reads':>5}  "
          f"{'dist':>5}  recording (UTC)")
    for s in found:
        dist = "" if s.distance is None else f"{s.distance:.2f}"
        alert = f"  ALERT event {s.alert_event_id}" if s.alert_event_id else ""
        print(f"{s.id:>6}  {fmt_time(s.best_us):20}  {s.camera:16}  {s.plate:12}  {s.confidence:5.2f}  "
              f"{s.reads:>5}  {dist:>5}  {fmt_time(s.footage_start_us)} .. {fmt_time(s.footage_end_us)}{alert}")
    return 0
