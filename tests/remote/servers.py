"""Real file servers on 127.0.0.1 for the remote-import tests, well-behaved or not:
HTTP/HTTPS (http.server), FTP (pyftpdlib, a thread per connection) and SFTP
(asyncssh). Each serves a folder; ``behaviour`` makes it truncate, stall, lie about
sizes or ignore Range requests. Every server stops when its test ends, and every
stall is bounded."""

from __future__ import annotations

import asyncio
import base64
import ssl
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import asyncssh
from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.filesystems import AbstractedFS
from pyftpdlib.handlers import FTPHandler
from pyftpdlib.ioloop import IOLoop
from pyftpdlib.servers import ThreadedFTPServer

USER, PASSWORD = "alice", "s3cret-pass"
MAX_STALL = 20.0  # a stalling server gives up after this long, whatever the client does


@dataclass
class Behaviour:
    truncate_once: int | None = None  # the first transfer ends after this many bytes
    stall_after: int | None = None  # every transfer stops sending after this many bytes
    announce_delta: int = 0  # HTTP: Content-Length = real size + delta
    no_length: bool = False  # HTTP: no Content-Length (the body ends with the connection)
    no_range: bool = False  # HTTP: ignore Range requests
    redirect: str | None = None  # HTTP: answer every GET with a redirect here
    transfers: int = 0
    stop: threading.Event = field(default_factory=threading.Event)


# -- HTTP / HTTPS ------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    server: HttpServer
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        srv = self.server
        b = srv.behaviour
        if srv.auth:
            want = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
            if self.headers.get("Authorization") != want:
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="files"')
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
        if b.redirect:
            self.send_response(302)
            self.send_header("Location", b.redirect)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        path = srv.root / self.path.lstrip("/")
        if not path.resolve().is_relative_to(srv.root.resolve()) or not path.exists():
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if path.is_dir():
            self.send_response(301)
            self.send_header("Location", self.path + "/")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        data = path.read_bytes()
        start = 0
        rng = self.headers.get("Range")
        if rng and not b.no_range and rng.startswith("bytes="):
            start = int(rng[6:].split("-")[0])
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        if not b.no_length:
            self.send_header("Content-Length", str(len(body) + b.announce_delta))
        self.send_header("Connection", "close")
        self.end_headers()
        b.transfers += 1
        limit = len(body)
        if b.truncate_once is not None and b.transfers == 1:
            limit = b.truncate_once
        if b.stall_after is not None:
            limit = min(limit, max(0, b.stall_after - start))
        self.wfile.write(body[:limit])
        self.wfile.flush()
        if b.stall_after is not None:
            b.stop.wait(MAX_STALL)
        self.close_connection = True

    def do_PUT(self) -> None:
        """Store the body at the path (exports to a WebDAV-like server)."""
        srv = self.server
        want = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        path = srv.root / self.path.lstrip("/")
        if srv.auth and self.headers.get("Authorization") != want:
            status = 401
        elif not path.resolve().is_relative_to(srv.root.resolve()) or not path.parent.is_dir():
            status = 409
        else:
            path.write_bytes(body)
            status = 201
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()


class HttpServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, root: Path, *, auth: bool, tls: ssl.SSLContext | None) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.root = root
        self.auth = auth
        self.behaviour = Behaviour()
        if tls is not None:
            self.socket = tls.wrap_socket(self.socket, server_side=True)
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.thread.start()

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def stop(self) -> None:
        self.behaviour.stop.set()
        self.shutdown()
        self.server_close()


# -- FTP -----------------------------------------------------------------------------------


class _SlowFile:
    """A file whose reads end early once (truncation) or stop (stall)."""

    def __init__(self, f: Any, b: Behaviour, first: bool) -> None:
        self.f, self.b, self.first = f, b, first
        self.name = f.name
        self.closed = False

    def read(self, n: int = -1) -> bytes:
        pos = self.f.tell()
        if self.first and self.b.truncate_once is not None and pos >= self.b.truncate_once:
            return b""
        if self.b.stall_after is not None and pos >= self.b.stall_after:
            self.b.stop.wait(MAX_STALL)
            return b""
        limit = n
        if self.first and self.b.truncate_once is not None:
            limit = min(n, self.b.truncate_once - pos)
        if self.b.stall_after is not None:
            limit = min(limit, self.b.stall_after - pos)
        return bytes(self.f.read(limit))

    def seek(self, *a: Any) -> Any:
        return self.f.seek(*a)

    def tell(self) -> int:
        return int(self.f.tell())

    def close(self) -> None:
        self.closed = True
        self.f.close()


def _fs_for(b: Behaviour) -> type[AbstractedFS]:
    class _FS(AbstractedFS):  # type: ignore[misc]  # pyftpdlib ships no types
        def open(self, filename: str, mode: str) -> Any:
            f = super().open(filename, mode)
            if "r" in mode:
                b.transfers += 1
                return _SlowFile(f, b, b.transfers == 1)
            return f

    return _FS


class _OwnFTPServer(ThreadedFTPServer):  # type: ignore[misc]  # pyftpdlib ships no types
    """pyftpdlib's ThreadedFTPServer keeps its stop flag in a class attribute, shared by
    every server in the process: a stopped server's serving thread, ending a moment
    later, sets it again, and a server started meanwhile then drops every connection
    right after its greeting (a test's login "broke off" three times in a row). And
    every server shares one event loop unless given its own, which the first to stop
    closes with all the others' sockets. Each server here has a flag, a lock and an
    event loop of its own."""

    def __init__(self, *a: Any, **kw: Any) -> None:
        self._exit = threading.Event()
        self._lock = threading.Lock()
        super().__init__(*a, **kw)


class FtpServer:
    def __init__(self, root: Path) -> None:
        self.behaviour = Behaviour()
        auth = DummyAuthorizer()
        # the user may also write (exports); anonymous may only read
        auth.add_user(USER, PASSWORD, str(root), perm="elradfmw")
        auth.add_anonymous(str(root))
        handler: Any = type("H", (FTPHandler,), {})
        handler.authorizer = auth
        handler.abstracted_fs = _fs_for(self.behaviour)
        handler.passive_ports = None
        handler.banner = "osdepot test FTP"
        # pyftpdlib holds back a failed login's answer 3 s by default, as long as the
        # tests' connect timeout: under load the login then timed out instead of being
        # refused (a flaky FQXHMFC9028J instead of FQXHMFC9025J).
        handler.auth_failed_timeout = 0.2
        self.server = _OwnFTPServer(("127.0.0.1", 0), handler, ioloop=IOLoop.factory())
        self.server.max_cons = 20
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        try:
            self.server.serve_forever(timeout=0.2)
        except OSError:
            if not self.behaviour.stop.is_set():
                raise
            # stopped before its loop began: the loop's poller was closed already

    @property
    def port(self) -> int:
        return int(self.server.address[1])

    def stop(self) -> None:
        self.behaviour.stop.set()
        self.server.close_all()
        self.thread.join(5)  # its loop ends within its 0.2 s poll, and closes all again


# -- SFTP ----------------------------------------------------------------------------------


class SftpServer:
    """An asyncssh server in a thread with its own event loop."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.behaviour = Behaviour()
        self.authorized: list[asyncssh.SSHKey] = []
        self.host_key = asyncssh.generate_private_key("ssh-ed25519")
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.port = 0
        self._server: asyncssh.SSHAcceptor | None = None
        self._call(self._start())

    def _call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(30)

    @property
    def fingerprint(self) -> str:
        return str(self.host_key.get_fingerprint("sha256"))

    async def _start(self) -> None:
        outer = self

        class _Ssh(asyncssh.SSHServer):
            def begin_auth(self, username: str) -> bool:
                return True

            def password_auth_supported(self) -> bool:
                return True

            def validate_password(self, username: str, password: str) -> bool:
                return (username, password) == (USER, PASSWORD)

            def public_key_auth_supported(self) -> bool:
                return True

            def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
                return username == USER and any(
                    key.public_data == k.public_data for k in outer.authorized
                )

        class _Sftp(asyncssh.SFTPServer):
            def __init__(self, chan: asyncssh.SSHServerChannel[bytes]) -> None:
                super().__init__(chan, chroot=str(outer.root).encode())

            async def read(self, file_obj: object, offset: int, size: int) -> bytes:
                b = outer.behaviour
                if b.truncate_once is not None and b.transfers == 0 and offset >= b.truncate_once:
                    b.transfers += 1
                    raise asyncssh.SFTPFailure("simulated broken transfer")
                if b.stall_after is not None and offset >= b.stall_after:
                    deadline = time.monotonic() + MAX_STALL
                    while not b.stop.is_set() and time.monotonic() < deadline:
                        await asyncio.sleep(0.05)
                    raise asyncssh.SFTPFailure("stalled")
                data = super().read(file_obj, offset, size)
                assert isinstance(data, bytes)
                return data

        self._server = await asyncssh.create_server(
            _Ssh,
            "127.0.0.1",
            self.port,
            server_host_keys=[self.host_key],
            sftp_factory=_Sftp,
            allow_scp=False,
        )
        self.port = self._server.sockets[0].getsockname()[1]

    def rekey(self) -> None:
        """Restart on the same port with a new host key (a reinstalled server)."""
        self._call(self._stop())
        self.host_key = asyncssh.generate_private_key("ssh-ed25519")
        self._call(self._start())

    async def _stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        await asyncio.sleep(0.3)  # stalled reads see the stop event and end
        me = asyncio.current_task()
        others = [t for t in asyncio.all_tasks() if t is not me]
        for t in others:
            t.cancel()
        await asyncio.gather(*others, return_exceptions=True)

    def stop(self) -> None:
        self.behaviour.stop.set()
        try:
            self._call(self._stop())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(5)
            self.loop.close()


def tls_context(cert_dir: Path) -> tuple[ssl.SSLContext, str]:
    """A server-side TLS context with a fresh self-signed certificate, and its PEM."""
    from osdepot.tlscert import ensure_self_signed

    cert, key = ensure_self_signed(cert_dir)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    return ctx, cert.read_text()


def wait_for(predicate: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("condition not reached in time")


__all__ = [
    "PASSWORD",
    "USER",
    "Behaviour",
    "FtpServer",
    "HttpServer",
    "SftpServer",
    "tls_context",
    "wait_for",
]
