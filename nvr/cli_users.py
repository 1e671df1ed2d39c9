"""``nvr user add|passwd|list|disable|enable``: web accounts from the command line."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from nvr.models import ROLES


def _password(args: argparse.Namespace, prompt: str) -> str:
    password = os.environ.get(args.password_env) if args.password_env else None
    if password is None:
        password = getpass.getpass(prompt)
    return password


def _with_catalog(args: argparse.Namespace, work: Callable[[Any], Awaitable[str]]) -> int:
    from nvr.config import load_config
    from nvr.plugin_host import PluginHost
    from nvr.storage.catalog import open_catalog

    cfg = load_config(args.config, PluginHost().config_models()).config

    async def run() -> str:
        catalog = await open_catalog(cfg.catalog_url)
        try:
            return await work(catalog)
        finally:
            await catalog.close()

    try:
        print(asyncio.run(run()))
    except ValueError as exc:
        print(f"nvr user {args.user_command}: {exc}", file=sys.stderr)
        return 2
    return 0


async def _user(catalog: Any, username: str) -> Any:
    user = await catalog.get_user(username)
    if user is None:
        raise ValueError(f"no user named {username!r}")
    return user


def _add(args: argparse.Namespace) -> int:
    from nvr.users import create_user

    password = _password(args, f"Password for {args.username}: ")

    async def work(catalog: Any) -> str:
        try:
            await create_user(catalog, args.username, password, args.role, args.kelurahan)
        except Exception as exc:  # noqa: BLE001 - a duplicate name is a CatalogError: report it the same way
            raise ValueError(str(exc)) from None
        return f"created user {args.username} ({args.role}{', ' + args.kelurahan if args.kelurahan else ''})"

    return _with_catalog(args, work)


def _passwd(args: argparse.Namespace) -> int:
    from nvr.passwords import hash_password

    password = _password(args, f"New password for {args.username}: ")
    if len(password) < 8:
        print("nvr user passwd: a password needs at least 8 characters", file=sys.stderr)
        return 2

    async def work(catalog: Any) -> str:
        user = await _user(catalog, args.username)
        await catalog.set_password_hash(user.id, await asyncio.to_thread(hash_password, password))
        ended = await catalog.delete_user_sessions(user.id)  # a new password logs every session out
        return f"password of {args.username} changed; {ended} session(s) ended"

    return _with_catalog(args, work)


def _set_disabled(disabled: bool) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        async def work(catalog: Any) -> str:
            user = await _user(catalog, args.username)
            await catalog.set_user_disabled(user.id, disabled)
            if disabled:
                await catalog.delete_user_sessions(user.id)
            return f"{args.username} {'disabled' if disabled else 'enabled'}"

        return _with_catalog(args, work)

    return run


def _list(args: argparse.Namespace) -> int:
    async def work(catalog: Any) -> str:
        users = await catalog.list_users()
        rows = [("USER", "ROLE", "SCOPE", "STATE")] + [
            (u.username, u.role, u.kelurahan or "all cameras", "disabled" if u.disabled else "active") for u in users]
        widths = [max(len(r[i]) for r in rows) for i in range(4)]
        return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows)

    return _with_catalog(args, work)


def _token(args: argparse.Namespace) -> int:
    import secrets

    from nvr.web.auth import token_hash

    async def work(catalog: Any) -> str:
        user = await _user(catalog, args.username)
        token = "nvr_" + secrets.token_urlsafe(32)
        record = await catalog.create_api_token(user.id, args.label, token_hash(token))
        return (f"{token}\n(token {record.id} for {user.username}, {args.label!r}: shown once; send it as "
                f"'Authorization: Bearer <token>'; revoke with: nvr user revoke-token {record.id})")

    return _with_catalog(args, work)


def _revoke_token(args: argparse.Namespace) -> int:
    import time

    async def work(catalog: Any) -> str:
        try:
            record = await catalog.revoke_api_token(int(args.username), int(time.time() * 1_000_000))
        except Exception as exc:  # noqa: BLE001 - an unknown id is a CatalogError: report it the same way
            raise ValueError(str(exc)) from None
        return f"token {record.id} of {record.username} ({record.label}) revoked"

    return _with_catalog(args, work)


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``nvr user ...`` to the CLI."""
    p = sub.add_parser("user", help="manage web users")
    usub = p.add_subparsers(dest="user_command", required=True, metavar="ACTION")

    def command(name: str, help_text: str, func: Callable[[argparse.Namespace], int],
                password: bool = False) -> argparse.ArgumentParser:
        parser = usub.add_parser(name, help=help_text)
        if name != "list":
            parser.add_argument("username")
        parser.add_argument("-c", "--config", required=True)
        if password:
            parser.add_argument("--password-env", metavar="VAR", help="read the password from this variable")
        parser.set_defaults(func=func)
        return parser

    pa = command("add", "create a user", _add, password=True)
    pa.add_argument("--role", choices=list(ROLES), default="operator")
    pa.add_argument("--kelurahan", help="limit the user to this kelurahan's cameras")
    command("passwd", "set a user's password (ends their sessions)", _passwd, password=True)
    command("list", "list users, roles and scopes", _list)
    command("disable", "stop a user from logging in (ends their sessions)", _set_disabled(True))
    command("enable", "let a disabled user log in again", _set_disabled(False))
    pt = command("token", "create an API token acting as this user (printed once)", _token)
    pt.add_argument("--label", required=True, help="what uses the token, e.g. prometheus")
    command("revoke-token", "revoke an API token (give its id as the name)", _revoke_token)
