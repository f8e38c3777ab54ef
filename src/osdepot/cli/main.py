"""``osdepot``: serve the repository and administer its users."""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import sys
from pathlib import Path
from typing import Any

from osdepot import __version__, logsetup
from osdepot.config import Settings
from osdepot.errors import ConfigError, OsdepotError


def _settings(args: argparse.Namespace) -> Settings:
    over = {
        k: getattr(args, k, None)
        for k in ("data_dir", "host", "port", "cert", "key", "log_level", "log_format", "workers")
    }
    if getattr(args, "no_tls", False):
        over["no_tls"] = True
    return Settings.from_env(**over)


def _repository_settings(args: argparse.Namespace) -> Settings:
    """The settings of a command that works on an existing repository (users, fsck):
    a data folder without one is refused, naming it, instead of created empty."""
    settings = _settings(args)
    if not settings.database_url and not (settings.data_dir / "catalog.db").is_file():
        raise ConfigError(
            f"{settings.data_dir.resolve()} holds no osdepot repository (no catalog.db); "
            "give the server's data folder with --data-dir or OSDEPOT_DATA_DIR"
        )
    return settings


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from osdepot.compose import open_context
    from osdepot.services.auth import Auth
    from osdepot.services.recovery import recover
    from osdepot.tlscert import ensure_self_signed
    from osdepot.web.app import create_app

    settings = _settings(args)
    # Whatever the umask it was started with, what the server creates is its own: the
    # data folder and its folders 0700, the catalog, blobs, keys and logs 0600.
    os.umask(0o077)
    if settings.log_format not in ("text", "json"):
        print(
            f"osdepot: OSDEPOT_LOG_FORMAT={settings.log_format!r} is not 'text' or 'json'",
            file=sys.stderr,
        )
        return 2
    logsetup.configure(settings.log_level, settings.log_format)
    # Connections and open files share the file descriptors (web/connections.py); done
    # before osdepot.web.protocol is imported, which reads the limit.
    from osdepot.web.connections import raise_open_files_limit

    raise_open_files_limit()
    from osdepot.services.networks import NetworkPolicy

    try:
        NetworkPolicy.parse(settings.remote_allow_networks, settings.remote_deny_networks)
    except ValueError as exc:
        print(f"osdepot: {exc}", file=sys.stderr)
        return 2
    if (settings.cert is None) != (settings.key is None):
        print("osdepot: --cert and --key go together", file=sys.stderr)
        return 2
    from osdepot.errors import ServerRunning
    from osdepot.services.fsck import ServerLock

    # Held for the server's lifetime: one server per data folder (another one's
    # start-up recovery would take this one's running imports for a crash's), and
    # `osdepot fsck --repair` waits for it.
    try:
        lock = ServerLock(settings.data_dir, exclusive=True, holder="osdepot serve")
    except ServerRunning as exc:
        print(
            f"osdepot: {settings.data_dir} is in use by {exc}; one server runs on a data "
            "folder (several processes: --workers; several nodes: a data folder each)",
            file=sys.stderr,
        )
        return 2
    ctx = open_context(settings)
    try:
        recover(ctx)
    except ctx.catalog_errors as exc:
        # the disk of the catalog full (and a job to mark interrupted): the room kept
        # for this case (storage/reserve.py) lets the server start and take deletions
        if not ctx.full(exc):
            raise
        if not ctx.release_reserve():
            print(
                "osdepot: the disk of the catalog (the data folder's, or the PostgreSQL "
                "server's) is full; free space on it and start again",
                file=sys.stderr,
            )
            return 1
        print(
            "osdepot: the disk of the catalog is full: gave back the room kept on it for "
            "this case (catalog.reserve), so that files can be deleted; free space on it",
            file=sys.stderr,
        )
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
            settings = dataclasses.replace(settings, cert=cert, key=key)
        ssl = {"ssl_certfile": str(cert), "ssl_keyfile": str(key)}
        ctx.server_certificate = cert.read_text()  # made just now on a first start
    target: Any = create_app(settings, ctx)
    extra: dict[str, Any] = {}
    if settings.workers > 1:
        # Several processes share the catalog and the blob store; each opens its own
        # context from the same settings (passed through the environment).
        ctx.close()
        os.environ.update(settings.to_env())
        # Counters of every worker, added up by whichever answers /metrics.
        metrics_dir = settings.data_dir / "run" / "metrics"
        shutil.rmtree(metrics_dir, ignore_errors=True)
        metrics_dir.mkdir(parents=True)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir.resolve())
        target = "osdepot.compose:create_app"
        extra = {"factory": True, "workers": settings.workers}
    try:
        uvicorn.run(
            target,
            **extra,
            host=settings.host,
            port=settings.port,
            log_level=settings.log_level.lower(),
            log_config=None,  # logging is set up by osdepot.logsetup (text or JSON)
            access_log=False,  # osdepot.request logs each request with its user
            timeout_keep_alive=30,
            timeout_graceful_shutdown=settings.shutdown_timeout,
            h11_max_incomplete_event_size=64 * 1024,
            http=_http_protocol(),
            loop="osdepot.web.serverloop:new_event_loop",
            # X-Forwarded-For only from the proxies named (uvicorn believes 127.0.0.1's
            # by default: a local client could then pick the address it is throttled by).
            proxy_headers=bool(settings.forwarded_allow_ips),
            forwarded_allow_ips=settings.forwarded_allow_ips or None,
            **ssl,
        )
    finally:
        ctx.close()
        lock.release()
    return 0


def _http_protocol() -> str:
    """osdepot's variant of uvicorn's httptools protocol (no copies of upload
    chunks, see osdepot/web/protocol.py); uvicorn's choice where httptools is missing."""
    try:
        import osdepot.web.protocol  # noqa: F401
    except ImportError:
        return "auto"
    return "osdepot.web.protocol:BodyProtocol"


def cmd_fsck(args: argparse.Namespace) -> int:
    """Exit 0 when the repository is sound (or every finding was repaired), 1 when
    damage remains, 2 when it cannot run."""
    import json
    import time

    from osdepot.compose import open_context
    from osdepot.errors import ServerRunning
    from osdepot.services.fsck import ServerLock, fsck

    settings = _repository_settings(args)
    lock: ServerLock | None = None
    try:
        lock = ServerLock(settings.data_dir, exclusive=True, holder="osdepot fsck")
    except ServerRunning:
        if args.repair:
            print(
                "osdepot: a server is running on this data folder; stop it before "
                "`osdepot fsck --repair` (checking without --repair is safe while it runs)",
                file=sys.stderr,
            )
            return 2
    running = lock is None
    ctx = open_context(settings)
    try:
        last = [time.monotonic()]

        def tick(file_id: str) -> None:
            if not args.json and time.monotonic() - last[0] > 5:
                last[0] = time.monotonic()
                print(f"checked {file_id}", file=sys.stderr, flush=True)

        report = fsck(
            ctx, repair=args.repair, hashes=not args.quick, server_running=running, progress=tick
        )
    finally:
        ctx.close()
        if lock is not None:
            lock.release()
    if args.json:
        print(json.dumps(report.as_json(), indent=2))
    else:
        for f in report.findings:
            state = (
                "repaired"
                if f.repaired
                else "DAMAGED"
                if f.kind in ("missing", "size", "checksum", "unreadable")
                else "found"
            )
            print(f"{state:9} {f.kind:10} {f.subject}: {f.detail}")
        what = "sizes" if args.quick else "sizes and SHA-256"
        print(
            f"checked {report.files} files ({report.bytes_checked} bytes hashed), "
            f"{report.blobs} blobs, {what}, in {report.seconds:.1f} s: "
            + ("no damage" if not report.damaged else f"{len(report.damaged)} problem(s)")
            + (" (a server is running: staging, jobs and orphans not checked)" if running else "")
        )
    return 1 if report.damaged else 0


def _read_password(args: argparse.Namespace) -> str:
    if not args.password_stdin:
        import getpass

        first = getpass.getpass("Password: ")
        if getpass.getpass("Repeat: ") != first:
            raise SystemExit("osdepot: the passwords differ")
        return first
    return sys.stdin.readline().rstrip("\r\n")


def cmd_users(args: argparse.Namespace) -> int:
    from osdepot.compose import open_context
    from osdepot.services.auth import Auth

    ctx = open_context(_repository_settings(args))
    try:
        auth = Auth(ctx)
        if args.action == "add":
            user = auth.add_user(args.name, args.role, _read_password(args))
            print(f"added {user.name} ({user.role})")
        elif args.action == "list":
            import time

            now = ctx.clock()
            for u in ctx.catalog.list_users():
                state = ""
                if u.locked_until and u.locked_until > now:
                    until = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(u.locked_until))
                    state = f"\tlocked until {until} UTC"
                elif u.failed_logins:
                    state = f"\t{u.failed_logins} failed login(s)"
                print(f"{u.name}\t{u.role}{state}")
        elif args.action == "unlock":
            auth.unlock(args.name)
            print(f"unlocked {args.name}")
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
    s.add_argument(
        "--log-format",
        choices=["text", "json"],
        help="log lines as text or JSON (OSDEPOT_LOG_FORMAT)",
    )
    s.add_argument(
        "--workers", type=int, help="server processes sharing the repository (OSDEPOT_WORKERS)"
    )
    s.set_defaults(func=cmd_serve)

    i = sub.add_parser(
        "inspect",
        help="validate a local file and recognise installation media, without importing",
    )
    i.add_argument("file", type=Path)
    i.add_argument("--type", dest="image_type", help="image type (default: from the file name)")
    i.add_argument("--os", help="operating system, as the os parameter of an import")
    i.add_argument("--json", action="store_true", help="print one JSON object")
    i.add_argument(
        "--verify",
        action="store_true",
        help="also check an OS medium's files against the checksums its own metadata "
        "declares, as an import does (reads those files whole)",
    )
    i.add_argument(
        "--osinfo-path", help="folder holding an osinfo-db (OSDEPOT_OSINFO_PATH)", default=None
    )
    i.set_defaults(func=cmd_inspect)

    f = sub.add_parser(
        "fsck", help="check every stored file against the catalog; --repair what is safe"
    )
    data_dir(f)
    f.add_argument(
        "--repair",
        action="store_true",
        help="move orphan blobs to lost+found, remove staging leftovers, stop stale jobs "
        "(the server must be stopped)",
    )
    f.add_argument("--quick", action="store_true", help="check sizes only, not SHA-256")
    f.add_argument("--json", action="store_true", help="print the report as JSON")
    f.set_defaults(func=cmd_fsck)

    from osdepot.cli.client import add_commands

    add_commands(sub)

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
    ul = usub.add_parser("list", help="list users, roles and login locks")
    up = usub.add_parser("passwd", help="set a user's password")
    up.add_argument("name")
    up.add_argument("--password-stdin", action="store_true")
    ud = usub.add_parser("delete", help="delete a user")
    ud.add_argument("name")
    uu = usub.add_parser("unlock", help="lift a lock set by repeated failed logins")
    uu.add_argument("name")
    for sp in (ua, ul, up, ud, uu):
        data_dir(sp)
    u.set_defaults(func=cmd_users)
    return p


def cmd_inspect(args: argparse.Namespace) -> int:
    """Exit 0 when the file would be imported, 1 when it would be refused."""
    import json

    from osdepot.content.inspect import guess_type, inspect_path
    from osdepot.domain.images import check_extension, parse_image_type, resolve_os

    path: Path = args.file
    if not path.is_file():
        print(f"osdepot: {path} is not a file", file=sys.stderr)
        return 2
    itype = parse_image_type(args.image_type) if args.image_type else guess_type(path.name)
    family = resolve_os(itype, args.os) if args.os or itype.value != "OS" else None
    osinfo_path = args.osinfo_path or Settings.from_env().osinfo_path or None
    try:
        check_extension(itype, family, path.name)
        result = inspect_path(path, itype, family, path.name, osinfo_path)
        if args.verify and result.valid and itype.value == "OS":
            from osdepot.content.inspect import verify_content
            from osdepot.files import FileReader

            checked, failure = verify_content(FileReader(path), path.name)
            result.details["verified"] = checked
            if failure is not None:
                result.valid, result.error = False, failure
                result.messages = [failure.render()]
    except OsdepotError as exc:
        from osdepot.content.inspect import Inspection

        result = Inspection(False, "unchecked", itype, path.stat().st_size, error=exc)
        result.messages = [exc.render()]
    if args.json:
        print(json.dumps(result.as_json(), indent=2))
        return 0 if result.valid else 1
    # Checks may read a structure twice; the share says how much of the file was read.
    read = min(result.bytes_read, result.size)
    share = read / result.size * 100 if result.size else 0.0
    print(f"file:       {path}")
    print(f"type:       {result.image_type.value} ({result.file_kind})")
    print(f"size:       {result.size} bytes; read {read} ({share:.3f} %)")
    if result.os is not None:
        o = result.os
        print(f"os:         {o.name} ({o.family}, version {o.version}, {o.arch or 'any arch'})")
        print(f"osinfo:     {o.osinfo_id or '-'}")
        print(f"deployable: {'yes' if o.deployable else 'no'}")
        if o.image_id:
            print(f"image id:   {o.image_id}")
        for name in o.profiles:
            print(f"profile:    {o.image_id}|{o.image_id}-{o.arch or 'x86_64'}-install-{name}")
        for note in o.notes:
            print(f"note:       {note}")
    for key, value in result.details.items():
        if key not in ("volumeHeader",) and value not in (None, "", [], {}):
            print(f"{key + ':':<11} {value}")
    if result.valid:
        print("result:     valid; osdepot would import it")
        return 0
    for m in result.messages:
        print(f"refused:    {m['id']} {m['text']}")
        print(f"            {m['explanation']}")
    return 1


def main(argv: list[str] | None = None) -> int:
    from osdepot.cli.client import CliError

    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except CliError as exc:
        print(str(exc), file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        print("osdepot: interrupted", file=sys.stderr)
        return 130
    except ConfigError as exc:
        print(f"osdepot: {exc}", file=sys.stderr)
        return 2
    except OsdepotError as exc:
        detail = exc.render()
        print(f"osdepot: {detail['text']} {detail['explanation']}".strip(), file=sys.stderr)
        return 1
    except OSError as exc:  # a file or folder the command could not use
        print(f"osdepot: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), file=sys.stderr)
        return 2
    except Exception as exc:  # one line, not a traceback; OSDEPOT_DEBUG=1 shows it
        if os.environ.get("OSDEPOT_DEBUG"):
            raise
        from osdepot.services.context import catalog_words
        from osdepot.storage.db import is_unreachable

        if is_unreachable(exc):  # PostgreSQL down, or not reached: said as such
            print(
                f"osdepot: the catalog cannot be reached ({catalog_words(exc)}); check that "
                "the database (OSDEPOT_DATABASE_URL) runs and that this host reaches it",
                file=sys.stderr,
            )
            return 1
        print(
            f"osdepot: unexpected error ({type(exc).__name__}: {exc}); "
            "run again with OSDEPOT_DEBUG=1 to see where",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
