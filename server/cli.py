"""The ``switchboard`` command."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from collections.abc import Callable
from pathlib import Path

from pbx.cli import register_cli as register_pbx_cli
from recording.cli import register_cli as register_recordings_cli
from server.config import Config, ConfigError, load_config

DEFAULT_CONFIG_FILE = Path("switchboard.toml")


def _load(args: argparse.Namespace) -> Config:
    path = args.config
    if path is None and DEFAULT_CONFIG_FILE.exists():
        path = DEFAULT_CONFIG_FILE
    return load_config(path)


def _cmd_up(args: argparse.Namespace) -> int:
    from server.stack import run_stack, with_absolute_data_dir

    return asyncio.run(run_stack(with_absolute_data_dir(_load(args))))


def _cmd_serve(args: argparse.Namespace) -> int:
    from server.stack import serve_forever

    return asyncio.run(serve_forever(_load(args)))


def _cmd_db_migrate(args: argparse.Namespace) -> int:
    from server.stack import database_url

    async def run() -> None:
        from server.db import migrate

        config = _load(args)
        async with database_url(config) as dsn:
            applied = await migrate(dsn)
        names = ", ".join(f"{m.version:04d}_{m.name}" for m in applied) or "nothing to apply"
        print(f"migrations: {names}")

    asyncio.run(run())
    return 0


def _cmd_user_create(args: argparse.Namespace) -> int:
    from server.stack import database_url

    password = sys.stdin.readline().rstrip("\n") if args.password_stdin else None
    if password is None:
        password = getpass.getpass("Password: ")

    async def run() -> int:
        from server.auth.services import UserExists, UserService
        from server.db import create_pool

        config = _load(args)
        async with database_url(config) as dsn:
            pool = await create_pool(dsn, 1, 2)
            try:
                user = await UserService(pool).create(
                    args.username, password, args.role, args.display_name
                )
            except UserExists:
                print(f"switchboard: user {args.username!r} already exists", file=sys.stderr)
                return 1
            finally:
                await pool.close()
        print(f"created {user.role} {user.username!r} (id {user.id})")
        return 0

    return asyncio.run(run())


def _cmd_asterisk_provision(args: argparse.Namespace) -> int:
    from asterisk_conf.provision import provision

    config = _load(args)
    installed = provision(config.asterisk.cache_dir / "asterisk-sid")
    print(f"Asterisk {installed.version} at {installed.root}")
    return 0


def _cmd_asterisk_render(args: argparse.Namespace) -> int:
    from server.stack import render_asterisk_config

    config = _load(args)
    out = render_asterisk_config(config, Path(args.out))
    print(f"Asterisk configuration written to {out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="switchboard", description=__doc__)
    parser.add_argument("--config", type=Path, help="TOML configuration file")
    sub = parser.add_subparsers(dest="command", required=True)

    def add(name: str, func: Callable[[argparse.Namespace], int], help_: str, parent=sub):
        p = parent.add_parser(name, help=help_)
        p.set_defaults(func=func)
        return p

    add("up", _cmd_up, "bring up the whole local stack (PostgreSQL, Asterisk, server)")
    add("serve", _cmd_serve, "run the server against configured PostgreSQL and Asterisk")

    db = sub.add_parser("db", help="database commands").add_subparsers(dest="db", required=True)
    add("migrate", _cmd_db_migrate, "apply pending migrations", db)

    user = sub.add_parser("user", help="user commands").add_subparsers(dest="user", required=True)
    create = add("create", _cmd_user_create, "create a user", user)
    create.add_argument("username")
    create.add_argument("--role", choices=["operator", "supervisor", "admin"], required=True)
    create.add_argument("--display-name", default="")
    create.add_argument(
        "--password-stdin", action="store_true", help="read the password from stdin"
    )

    ast = sub.add_parser("asterisk", help="Asterisk commands").add_subparsers(
        dest="asterisk", required=True
    )
    add("provision", _cmd_asterisk_provision, "install Asterisk 22 into the cache", ast)
    render = add("render", _cmd_asterisk_render, "render Asterisk configuration files", ast)
    render.add_argument("--out", default="build/asterisk-etc", help="output directory")

    register_pbx_cli(sub, _load)
    register_recordings_cli(sub, _load)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ConfigError as exc:
        print(f"switchboard: {exc}", file=sys.stderr)
        return 2
    except ValueError as exc:
        print(f"switchboard: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
