"""``osdepot``: serve the repository and administer its users."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

from osdepot import __version__
from osdepot.config import Settings
from osdepot.errors import OsdepotError


def _settings(args: argparse.Namespace) -> Settings:
    over = {
        k: getattr(args, k, None) for k in ("data_dir", "host", "port", "cert", "key", "log_level")
    }
    if getattr(args, "no_tls", False):
        over["no_tls"] = True
    return Settings.from_env(**over)


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from osdepot.services.auth import Auth
    from osdepot.services.context import open_context
    from osdepot.services.recovery import recover
    from osdepot.tlscert import ensure_self_signed
    from osdepot.web.app import create_app

    settings = _settings(args)
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("alembic").setLevel(logging.WARNING)
    if (settings.cert is None) != (settings.key is None):
        print("osdepot: --cert and --key go together", file=sys.stderr)
        return 2
    ctx = open_context(settings)
    recover(ctx)
    password = Auth(ctx).bootstrap_admin()
    if password is not None:
        name = settings.admin_user or "admin"
        print(
            f"osdepot: created the supervisor account {name!r} with password {password}\n"
            "osdepot: this password is shown only once; change it with "
            f"`osdepot users passwd {name} --password-stdin`.",
            flush=True,
        )
    ssl: dict[str, Any] = {}
    if not settings.no_tls:
        cert, key = settings.cert, settings.key
        if cert is None or key is None:
            cert, key = ensure_self_signed(settings.data_dir / "tls")
        ssl = {"ssl_certfile": str(cert), "ssl_keyfile": str(key)}
    app = create_app(settings, ctx)
    try:
        uvicorn.run(
            app,
            host=settings.host,
            port=settings.port,
            log_level=settings.log_level.lower(),
            timeout_keep_alive=30,
            timeout_graceful_shutdown=settings.shutdown_timeout,
            h11_max_incomplete_event_size=64 * 1024,
            **ssl,
        )
    finally:
        ctx.close()
    return 0


def _read_password(args: argparse.Namespace) -> str:
    if not args.password_stdin:
        import getpass

        first = getpass.getpass("Password: ")
        if getpass.getpass("Repeat: ") != first:
            raise SystemExit("osdepot: the passwords differ")
        return first
    return sys.stdin.readline().rstrip("\r\n")


def cmd_users(args: argparse.Namespace) -> int:
    from osdepot.services.auth import Auth
    from osdepot.services.context import open_context

    ctx = open_context(_settings(args))
    try:
        auth = Auth(ctx)
        if args.action == "add":
            user = auth.add_user(args.name, args.role, _read_password(args))
            print(f"added {user.name} ({user.role})")
        elif args.action == "list":
            for u in ctx.catalog.list_users():
                print(f"{u.name}\t{u.role}")
        elif args.action == "passwd":
            auth.set_password(args.name, _read_password(args))
            print(f"changed the password of {args.name}; their sessions were ended")
        elif args.action == "delete":
            auth.delete_user(args.name)
            print(f"deleted {args.name}")
    finally:
        ctx.close()
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="osdepot", description=__doc__)
    p.add_argument("--version", action="version", version=f"osdepot {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    def data_dir(sp: argparse.ArgumentParser) -> None:
        sp.add_argument(
            "--data-dir", type=Path, help="data folder (OSDEPOT_DATA_DIR; default ./osdepot-data)"
        )

    s = sub.add_parser("serve", help="run the server")
    data_dir(s)
    s.add_argument("--host", help="address to listen on (OSDEPOT_HOST; default 127.0.0.1)")
    s.add_argument("--port", type=int, help="port (OSDEPOT_PORT; default 8443)")
    s.add_argument(
        "--no-tls",
        action="store_true",
        help="plain HTTP, for use behind a TLS-terminating proxy (OSDEPOT_NO_TLS)",
    )
    s.add_argument("--cert", type=Path, help="TLS certificate, PEM (OSDEPOT_CERT)")
    s.add_argument("--key", type=Path, help="TLS private key, PEM (OSDEPOT_KEY)")
    s.add_argument("--log-level", help="debug, info, warning, error (OSDEPOT_LOG_LEVEL)")
    s.set_defaults(func=cmd_serve)

    u = sub.add_parser("users", help="manage users")
    usub = u.add_subparsers(dest="action", required=True)
    ua = usub.add_parser("add", help="add a user")
    ua.add_argument("name")
    ua.add_argument("--role", required=True, help="an LXCA role, e.g. lxc-os-admin")
    ua.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from the first line of standard input",
    )
    ul = usub.add_parser("list", help="list users and roles")
    up = usub.add_parser("passwd", help="set a user's password")
    up.add_argument("name")
    up.add_argument("--password-stdin", action="store_true")
    ud = usub.add_parser("delete", help="delete a user")
    ud.add_argument("name")
    for sp in (ua, ul, up, ud):
        data_dir(sp)
    u.set_defaults(func=cmd_users)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except OsdepotError as exc:
        detail = exc.render()
        print(f"osdepot: {detail['text']} {detail['explanation']}".strip(), file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
