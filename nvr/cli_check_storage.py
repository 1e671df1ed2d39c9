"""``nvr check-storage``: compare footage on disk with the catalog; ``--repair`` applies recovery's fixes."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from collections.abc import Callable
from pathlib import Path

from nvr.errors import ConfigError
from nvr.logs import setup_logging

EXIT_CLEAN, EXIT_MISMATCH, EXIT_ERROR = 0, 1, 2


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``check-storage`` to the ``nvr`` command's subparsers."""
    p = subparsers.add_parser(
        "check-storage",
        help="compare footage on disk with the catalog; exit 0 when they agree, 1 on a mismatch",
        description="Walk the storage root and the catalog side by side: rows without files, files without "
        "rows, unfinished .part files, size mismatches and, with --deep, SHA-256 mismatches and files that do "
        "not demux. --repair applies the fixes startup recovery applies (nvr must be stopped).",
    )
    p.add_argument("-c", "--config", required=True, help="config TOML file (storage root and catalog)")
    p.add_argument("--deep", action="store_true", help="also hash every file and demux it (reads all footage)")
    p.add_argument("--repair", action="store_true",
                   help="fix what was found: index or quarantine orphans, drop rows without files, fix rows")
    p.add_argument("--force", action="store_true",
                   help="with --repair: drop rows without files even when so many are missing that the "
                   "storage looks unmounted")
    p.add_argument("--node", metavar="NAME", default=None,
                   help="the cluster node this machine runs (a PostgreSQL catalog shared by nodes): check its files")
    p.set_defaults(func=run_check_storage)


def run_check_storage(args: argparse.Namespace, out: Callable[[str], None] = print) -> int:
    """Handler for ``nvr check-storage``; returns the exit code."""
    from nvr.config import load_config
    from nvr.plugin_host import PluginHost

    try:
        config = load_config(args.config, PluginHost().config_models()).config
    except ConfigError as exc:
        print(exc.report(), file=sys.stderr)
        return EXIT_ERROR
    setup_logging(getattr(args, "log_level", None) or "warning")
    root = config.storage.root
    if not root.is_dir():
        print(f"nvr check-storage: storage root {root} does not exist", file=sys.stderr)
        return EXIT_ERROR
    return asyncio.run(check_storage(root, config.catalog_url, deep=args.deep, repair=args.repair,
                                     force=args.force, out=out, node=getattr(args, "node", None)))


async def check_storage(root: Path, catalog_url: str, *, deep: bool, repair: bool, force: bool = False,
                        out: Callable[[str], None] = print, node: str | None = None) -> int:
    """Check (and optionally repair) ``root`` against the catalog at ``catalog_url``; return the exit code.

    On a catalog shared by cluster nodes, ``node`` names this machine's node: only its rows are compared
    with this disk (without it the other nodes' footage would look missing, and --repair would drop it).
    """
    from nvr.storage.catalog import open_catalog
    from nvr.storage.check import check
    from nvr.storage.check import repair as apply_repair
    from nvr.storage.lock import StorageLocked, lock_storage

    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(lock_storage(root, "nvr check-storage"))
            live = False
        except StorageLocked as exc:
            if repair:
                print(f"nvr check-storage: {exc}; stop nvr before --repair", file=sys.stderr)
                return EXIT_ERROR
            live = True
        async with await open_catalog(catalog_url) as catalog:
            if node:  # --- scale-out: this node's rows only (nvr.nodes.join_catalog) ---
                from nvr.nodes import join_catalog

                await join_catalog(catalog, node)
            elif nodes := [n.name for n in await catalog.list_nodes()]:
                print(f"nvr check-storage: this catalog is shared by the nodes {', '.join(nodes)}; "
                      "say which one this machine runs with --node NAME", file=sys.stderr)
                return EXIT_ERROR
            report = await check(catalog, root, deep=deep, live=live)
            for line in report.lines():
                out(line)
            if report.clean or not repair:
                return EXIT_CLEAN if report.clean else EXIT_MISMATCH
            fixed = await apply_repair(catalog, report, force=force)
            for line in fixed.lines():
                out(line)
            after = await check(catalog, root, deep=deep)
            if after.clean:
                out("after repair: clean")
                return EXIT_CLEAN
            out(f"after repair: {after.problems} problem(s) remain")
            for line in after.lines()[1:-1]:
                out(line)
            return EXIT_MISMATCH
    raise AssertionError("unreachable")  # pragma: no cover
