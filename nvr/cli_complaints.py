"""``nvr complaints import FILE.csv`` and ``nvr complaints relink``: complaints from an export file, links refreshed."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from pathlib import Path
from typing import Any

from nvr.errors import ConfigError, NvrError

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Add ``nvr complaints import`` and ``nvr complaints relink`` to the ``nvr`` parser."""
    p = subparsers.add_parser("complaints", help="citizen complaints (the complaints plugin)")
    actions = p.add_subparsers(dest="complaints_command", metavar="ACTION", required=True)
    i = actions.add_parser("import", help="store and link the complaints of a CSV file (all or nothing)",
                           description="Columns: external_id, category, text, lat, lon, reported_at (ISO 8601 with "
                                       "a zone), and optionally kelurahan, reporter_name, reporter_contact, "
                                       "reporter_id, photo (a JPEG/PNG path relative to the CSV). Every row is "
                                       "checked first; with any problem nothing is stored. Rows whose external_id "
                                       "is stored already are skipped.")
    i.add_argument("file", help="the CSV file (UTF-8, header row first)")
    i.add_argument("-c", "--config", required=True, help="config TOML file")
    i.add_argument("--dry-run", action="store_true", help="check the file, store nothing")
    i.set_defaults(func=cmd_import)
    r = actions.add_parser("relink", help="link cameras and events added since to every open complaint")
    r.add_argument("-c", "--config", required=True, help="config TOML file")
    r.set_defaults(func=cmd_relink)


async def _with_runtime(config_path: str, work: Any) -> Any:
    from nvr.config import load_config
    from nvr.plugin_host import PluginHost
    from nvr.runtime import Runtime
    from nvr.storage.catalog import open_catalog

    host = PluginHost()
    loaded = load_config(config_path, host.config_models())
    async with await open_catalog(loaded.config.catalog_url) as catalog:
        runtime = Runtime(loaded=loaded, plugins=host, catalog=catalog)
        try:
            return await work(runtime)
        finally:
            await host.drain()  # hooks (complaint_received, ...) finish before the catalog closes


def cmd_import(args: argparse.Namespace) -> int:
    from nvr.clock import now_us
    from nvr.plugins.complaints.intake import parse_csv
    from nvr.plugins.complaints.service import config_of, receive

    path = Path(args.file)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        print(f"nvr complaints import: cannot read {path}: {exc}", file=sys.stderr)
        return 2
    actor = f"cli:{getpass.getuser()}"

    async def work(runtime: Any) -> int:
        complaints, problems = parse_csv(text, config_of(runtime), now_us(runtime.clock), path.parent)
        if problems:
            for problem in problems:
                print(f"{path}: {problem}", file=sys.stderr)
            print(f"nvr complaints import: {len(problems)} problem(s); nothing stored", file=sys.stderr)
            return 2
        if args.dry_run:
            print(f"{path}: {len(complaints)} complaint(s) OK (dry run: nothing stored)")
            return 0
        stored = linked = 0
        for new in complaints:
            complaint, created = await receive(runtime, new, actor)
            stored += created
            linked += created and complaint.status == "linked"
        print(f"{path}: {stored} stored ({linked} linked to footage), {len(complaints) - stored} already there")
        return 0

    try:
        return asyncio.run(_with_runtime(args.config, work))
    except ConfigError as exc:
        print(exc.report(), file=sys.stderr)
        return 2
    except NvrError as exc:
        print(f"nvr complaints import: {exc}", file=sys.stderr)
        return 2


def cmd_relink(args: argparse.Namespace) -> int:
    from nvr.plugins.complaints.service import relink_open

    try:
        gained = asyncio.run(_with_runtime(args.config, relink_open))
    except ConfigError as exc:
        print(exc.report(), file=sys.stderr)
        return 2
    print(f"{gained} open complaint(s) gained links")
    return 0
