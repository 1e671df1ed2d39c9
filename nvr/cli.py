"""The ``nvr`` command: run, check-config, discover, sim, demo, user."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

from nvr import __version__
from nvr.errors import ConfigError, NvrError, PluginError
from nvr.logs import setup_logging


def _cmd_run(args: argparse.Namespace) -> int:
    from nvr.app import serve
    from nvr.config import load_config
    from nvr.plugin_host import PluginHost

    try:
        level = load_config(args.config, PluginHost().config_models()).config.log.level
    except ConfigError as exc:
        print(exc.report(), file=sys.stderr)
        return 2
    setup_logging(args.log_level or level)
    return asyncio.run(serve(args.config, node=args.node))


def _cmd_check_config(args: argparse.Namespace) -> int:
    from nvr.config import load_config
    from nvr.plugin_host import PluginHost

    try:
        loaded = load_config(args.file, PluginHost().config_models())
    except ConfigError as exc:
        print(exc.report(), file=sys.stderr)
        return 2
    cfg = loaded.config
    plugins = ", ".join(sorted(loaded.plugin_configs)) or "none"
    print(f"{args.file}: OK ({len(cfg.cameras)} camera(s), plugins: {plugins})")
    return 0


def _cmd_discover(args: argparse.Namespace) -> int:
    from nvr.discovery import discover, format_table, format_toml

    setup_logging(args.log_level or "warning")
    interface, username, password = args.interface, args.username, None
    unicast = list(args.unicast or [])
    if args.config:
        from nvr.config import load_config
        from nvr.plugin_host import PluginHost

        try:
            disc = load_config(args.config, PluginHost().config_models()).config.discovery
        except ConfigError as exc:
            print(exc.report(), file=sys.stderr)
            return 2
        interface = interface or disc.interface
        username = username or disc.username
        password = disc.password.get_secret_value() if disc.password else None
        unicast += disc.unicast
    if args.password_env:
        password = os.environ.get(args.password_env)
        if password is None:
            print(f"environment variable {args.password_env} is not set", file=sys.stderr)
            return 2
    multicast = not args.no_multicast
    if multicast and not interface:
        print("nvr discover: give --interface ADDRESS (the IPv4 address multicast probes leave from), "
              "or --no-multicast with --unicast targets", file=sys.stderr)
        return 2
    if not multicast and not unicast:
        print("nvr discover: --no-multicast needs at least one --unicast HOST or CIDR", file=sys.stderr)
        return 2
    devices = asyncio.run(discover(
        interface=interface or "127.0.0.1", port=args.port, multicast=multicast,
        unicast_targets=unicast, credentials=(username or "", password or ""), timeout=args.timeout,
    ))
    print(format_table(devices))
    if devices:
        print()
        print(format_toml(devices, username_env=None))
    return 0


def _cmd_sim(args: argparse.Namespace) -> int:
    from nvr.sim.fleet import run_fleet

    setup_logging(args.log_level or "info")
    return asyncio.run(run_fleet(
        count=args.count, host=args.host, rtsp_port=args.rtsp_port, onvif_port_base=args.onvif_port_base,
        discovery_port=args.discovery_port, username=args.username,
        password=os.environ.get(args.password_env, "") if args.password_env else "sim-password",
        config_out=args.write_config,
    ))


def _cmd_demo(args: argparse.Namespace) -> int:
    from nvr.sim.demo import run_demo

    setup_logging(args.log_level or "info")
    return asyncio.run(run_demo(Path(args.dir), cameras=args.cameras, port=args.port))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nvr", description="Network video recorder for city CCTV.")
    parser.add_argument("--version", action="version", version=f"nvr {__version__}")
    parser.add_argument("--log-level", choices=["debug", "info", "warning", "error"], default=None)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("run", help="run the server")
    p.add_argument("-c", "--config", required=True, help="config TOML file")
    p.add_argument("--node", metavar="NAME", default=None,
                   help="run as cluster node NAME: record the cameras it leases (needs a PostgreSQL catalog)")
    p.set_defaults(func=_cmd_run)

    p = sub.add_parser("check-config", help="validate a config file; exit 2 listing every problem")
    p.add_argument("file")
    p.set_defaults(func=_cmd_check_config)

    p = sub.add_parser("discover", help="find ONVIF cameras and print a table and a TOML snippet")
    p.add_argument("--interface", help="IPv4 address of the interface multicast probes leave from")
    p.add_argument("--unicast", action="append", metavar="HOST_OR_CIDR", help="probe these directly (repeatable)")
    p.add_argument("--no-multicast", action="store_true", help="only send unicast probes")
    p.add_argument("--port", type=int, default=3702, help="WS-Discovery port (default 3702)")
    p.add_argument("--timeout", type=float, default=3.0, help="seconds to wait for answers")
    p.add_argument("--username", help="ONVIF user to query devices with")
    p.add_argument("--password-env", metavar="VAR", help="environment variable holding the ONVIF password")
    p.add_argument("-c", "--config", help="take interface, targets and credentials from [discovery]")
    p.set_defaults(func=_cmd_discover)

    p = sub.add_parser("sim", help="run simulated ONVIF/RTSP cameras on loopback")
    p.add_argument("--count", type=int, default=4)
    p.add_argument("--host", default="127.0.0.1", help="loopback address to bind (default 127.0.0.1)")
    p.add_argument("--rtsp-port", type=int, default=8554)
    p.add_argument("--onvif-port-base", type=int, default=8000, help="camera i listens on base+i")
    p.add_argument("--discovery-port", type=int, default=3702)
    p.add_argument("--username", default="admin")
    p.add_argument("--password-env", metavar="VAR", help="environment variable with the cameras' password")
    p.add_argument("--write-config", metavar="FILE", help="write a [[cameras]] TOML snippet here")
    p.set_defaults(func=_cmd_sim)

    p = sub.add_parser("demo", help="simulated cameras + the server, with embedded defaults")
    p.add_argument("--cameras", type=int, default=4)
    p.add_argument("--dir", default="var", help="where config, catalog and footage go (default ./var)")
    p.add_argument("--port", type=int, default=8080)
    p.set_defaults(func=_cmd_demo)

    from nvr.cli_storage import register as register_storage

    register_storage(sub)
    from nvr.cli_check_storage import register as register_check_storage
    from nvr.cli_users import register as register_users

    register_check_storage(sub)
    from nvr.cli_plates import register as register_plates

    register_plates(sub)
    from nvr.cli_export import register as register_export

    register_export(sub)
    from nvr.cli_complaints import register as register_complaints

    register_complaints(sub)

    register_users(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (PluginError, NvrError) as exc:
        print(f"nvr: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
