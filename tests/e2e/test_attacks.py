"""Reproductions, against a real `osdepot serve` over TLS on 127.0.0.1, of the attacks
of "hard to break, round two" that worked before their fixes: memory held for bodies
sent without logging in (#1), unbounded and endless request heads (#2), password-check
floods (#3), files at rest readable by others (#10) and a self-signed CA (#11).

Every attack is bounded in bytes, connections and time; memory is the server's RSS
(psutil), sampled while the attack runs.
"""

from __future__ import annotations

import base64
import contextlib
import os
import resource
import socket
import ssl
import stat
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil
import pytest
import requests
from cryptography import x509

from tests.e2e.conftest import ADMIN, ADMIN_PW, Server, start_server, stop_server

pytestmark = pytest.mark.e2e

MiB = 1 << 20


class Peak:
    """The highest RSS of a process, sampled every 20 ms in a thread."""

    def __init__(self, pid: int) -> None:
        self.proc = psutil.Process(pid)
        self.idle = self.proc.memory_info().rss
        self.peak = self.idle
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            with contextlib.suppress(psutil.Error):
                self.peak = max(self.peak, self.proc.memory_info().rss)

    def stop(self) -> int:
        """Bytes above idle at the peak."""
        self._stop.set()
        self._thread.join()
        return self.peak - self.idle


def tls(server: Server) -> tuple[str, int, ssl.SSLContext]:
    host, port = server.url.removeprefix("https://").split(":")
    ctx = ssl.create_default_context(cafile=str(server.data_dir / "tls" / "cert.pem"))
    return host, int(port), ctx


@contextlib.contextmanager
def connect(server: Server, timeout: float = 10) -> Iterator[ssl.SSLSocket]:
    host, port, ctx = tls(server)
    raw = socket.create_connection((host, port), timeout=timeout)
    with ctx.wrap_socket(raw, server_hostname=host) as sock:
        yield sock


def answer(sock: socket.socket) -> bytes:
    """What the server sent before closing (or the first 64 KiB of it)."""
    data = b""
    with contextlib.suppress(OSError):
        while len(data) < 65536:
            got = sock.recv(65536)
            if not got:
                break
            data += got
            if b"\r\n\r\n" in data:
                break
    return data


def basic() -> str:
    return "Basic " + base64.b64encode(f"{ADMIN}:{ADMIN_PW}".encode()).decode()


def warm(server: Server) -> None:
    """A few ordinary requests first, so that idle memory includes what any server
    holds after its first requests (the same for every attack)."""
    s = server.session()
    for _ in range(5):
        assert s.get(server.url + "/osImages", timeout=10).status_code == 200
    # The admin's Basic credentials once: verified (argon2, 64 MiB for a moment) and
    # remembered, so that the attacks below that send them cost no password check.
    r = requests.get(server.url + "/aicc", auth=(ADMIN, ADMIN_PW), verify=s.verify, timeout=10)
    assert r.status_code == 200


def test_bodies_sent_without_logging_in_are_not_held(server: Server) -> None:
    warm(server)
    peak = Peak(server.proc.pid)
    # 1 GiB declared: refused before a byte of the body is read.
    with connect(server) as sock:
        sock.sendall(
            b"POST /sessions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 1073741824\r\n\r\n" + b"{" * 65536
        )
        got = answer(sock)
    assert got.startswith(b"HTTP/1.1 413"), got[:100]
    assert b"connection: close" in got.lower()
    # A chunked body with no end: reading stops past 1 MiB (64 MiB sent at most).
    sent = 0
    with connect(server) as sock:
        sock.sendall(
            b"POST /sessions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        chunk = b"100000\r\n" + b"[" * MiB + b"\r\n"
        with contextlib.suppress(OSError):
            while sent < 64 * MiB:
                sock.sendall(chunk)
                sent += MiB
        got = answer(sock)
    assert got == b"" or got.startswith(b"HTTP/1.1 413"), got[:100]
    # The same on a route that needs a login (the body is not read at all) and on an
    # authenticated JSON route.
    for path, auth in (("/osImages/remoteFileServers", ""), ("/osImages?imageType=OS", basic())):
        with connect(server) as sock:
            head = f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            if auth:
                head += f"Authorization: {auth}\r\n"
            sock.sendall(head.encode() + b"Content-Length: 805306368\r\n\r\n" + b"{" * 65536)
            got = answer(sock)
        assert got.startswith((b"HTTP/1.1 401", b"HTTP/1.1 413")), got[:100]
    grown = peak.stop()
    print(f"bodies: idle {peak.idle / MiB:.0f} MiB, peak +{grown / MiB:.1f} MiB")
    assert grown < 50 * MiB, f"the server grew by {grown / MiB:.0f} MiB"
    s = server.session()
    assert s.get(server.url + "/osImages", timeout=10).status_code == 200


def _exchange(server: Server, head: str, body: bytes = b"") -> tuple[int, bytes]:
    """Status and whole answer of one request sent as written (``Connection: close``)."""
    with connect(server) as sock:
        sock.sendall(head.encode("latin-1") + b"Connection: close\r\n\r\n" + body)
        data = b""
        with contextlib.suppress(OSError):
            while got := sock.recv(65536):
                data += got
    return int(data.split(b" ", 2)[1]), data


def test_host_and_site_marks_are_read_once(server: Server) -> None:
    """The cross-site guard read the last of two ``Origin`` (or ``Sec-Fetch-Site``)
    lines while the rest of the server reads the first, and ``Host`` (which makes the
    URLs of links and deployments) could be sent twice or not at all; two credentials
    or two body types were read as the first, where a proxy may read the second: each
    is a 400 now, and nothing is created."""
    own = server.url  # https://127.0.0.1:port
    host = own.removeprefix("https://")
    body = b'{"displayName": "guard", "address": "127.0.0.1", "protocol": "FTP"}'
    post = (
        f"POST /osImages/remoteFileServers HTTP/1.1\r\nAuthorization: {basic()}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    )
    cases = {
        "no Host": post,
        "two Hosts": post + f"Host: evil.example\r\nHost: {host}\r\n",
        "two Origins": post + f"Host: {host}\r\nOrigin: https://evil.example\r\nOrigin: {own}\r\n",
        "two Sec-Fetch-Site": post
        + f"Host: {host}\r\nSec-Fetch-Site: cross-site\r\nSec-Fetch-Site: same-origin\r\n",
        "two Authorizations": post + f"Host: {host}\r\nAuthorization: Basic Og==\r\n",
        "two Content-Types": post + f"Host: {host}\r\nContent-Type: text/plain\r\n",
    }
    for name, head in cases.items():
        status, got = _exchange(server, head, body)
        assert status == 400, (name, got[:300])
        assert b"FQXHMFC9010J" in got and b"request head" in got, (name, got)
    status, got = _exchange(
        server,
        f"GET /osImages/remoteFileServers HTTP/1.1\r\nHost: {host}\r\nAuthorization: {basic()}\r\n",
    )
    assert status == 200 and b'"serverList":[]' in got, got
    # once each, the same request passes; HTTP/1.0 may leave Host out
    status, got = _exchange(server, post + f"Host: {host}\r\nOrigin: {own}\r\n", body)
    assert status == 200, got
    status, _ = _exchange(server, "GET /healthz HTTP/1.0\r\n")
    assert status == 200


def test_many_slow_bodies_hold_a_bounded_amount_for_a_bounded_time(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data", {"OSDEPOT_JSON_BODY_TIMEOUT": "2"})
    socks: list[ssl.SSLSocket] = []
    try:
        warm(server)
        peak = Peak(server.proc.pid)
        host, port, ctx = tls(server)
        # 40 clients each declare a 1 MiB body and send 1 KiB of it, then wait.
        for _ in range(40):
            raw = socket.create_connection((host, port), timeout=10)
            sock = ctx.wrap_socket(raw, server_hostname=host)
            sock.sendall(
                b"POST /sessions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Content-Length: 1048576\r\n\r\n" + b" " * 1024
            )
            socks.append(sock)
        t0 = time.monotonic()
        answers = [answer(s) for s in socks]
        took = time.monotonic() - t0
        busy = [a for a in answers if a.startswith(b"HTTP/1.1 503")]
        slow = [a for a in answers if a.startswith(b"HTTP/1.1 408")]
        # 16 MiB of bodies at once: 16 are read (and time out), the others are refused.
        assert len(busy) == 24 and len(slow) == 16, [a[:12] for a in answers]
        assert all(b"FQXHMFC9037M" in a or b"retry-after" in a.lower() for a in busy)
        assert took < 10, took
        grown = peak.stop()
        print(f"slow bodies: idle {peak.idle / MiB:.0f} MiB, peak +{grown / MiB:.1f} MiB")
        assert grown < 50 * MiB, f"the server grew by {grown / MiB:.0f} MiB"
        assert server.session().get(server.url + "/osImages", timeout=10).status_code == 200
    finally:
        for sock in socks:
            sock.close()
        stop_server(server)


def test_request_heads_are_bounded_in_size_and_time(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data", {"OSDEPOT_HEADER_TIMEOUT": "2"})
    try:
        warm(server)
        peak = Peak(server.proc.pid)
        auth = f"Authorization: {basic()}\r\n"
        # A 2 MB header, and 50,000 headers, on a route that answers 200 when logged in.
        for head in (
            f"GET /aicc HTTP/1.1\r\nHost: x\r\n{auth}X-Big: {'a' * 2_000_000}\r\n\r\n",
            f"GET /aicc HTTP/1.1\r\nHost: x\r\n{auth}"
            + "".join(f"X-H{i}: v\r\n" for i in range(50_000))
            + "\r\n",
        ):
            with connect(server) as sock:
                with contextlib.suppress(OSError):
                    sock.sendall(head.encode())
                got = answer(sock)
            assert got.startswith(b"HTTP/1.1 431"), got[:100]
        # A header that never ends, sent for up to 20 s: refused at its limit, and the
        # connection cut within the TLS shutdown's time limit (the header timeout).
        with connect(server) as sock:
            t0, cut = time.monotonic(), False
            try:
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ")
                while time.monotonic() - t0 < 20:
                    sock.sendall(b"a" * 65536)
            except OSError:
                cut = True
            took = time.monotonic() - t0
        assert cut and took < 10, f"the connection was still open after {took:.1f} s"
        # A head that is not finished in time, and a TLS handshake that never starts.
        with connect(server) as sock:
            t0 = time.monotonic()
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            got = answer(sock)
            waited = time.monotonic() - t0
        assert got.startswith(b"HTTP/1.1 408"), got[:100]
        assert waited < 10, waited
        host, port, _ctx = tls(server)
        with socket.create_connection((host, port), timeout=20) as raw:
            t0 = time.monotonic()
            assert raw.recv(1) == b""  # closed by the server
            assert time.monotonic() - t0 < 10
        # Meanwhile and after, ordinary requests are served.
        grown = peak.stop()
        print(f"heads: idle {peak.idle / MiB:.0f} MiB, peak +{grown / MiB:.1f} MiB")
        assert grown < 50 * MiB, f"the server grew by {grown / MiB:.0f} MiB"
        r = server.session().get(server.url + "/aicc", timeout=10)
        assert r.status_code == 200
    finally:
        stop_server(server)


def _held(server: Server, source: str) -> ssl.SSLSocket:
    """A TLS connection from ``source`` (any 127/8 address reaches the server) whose
    request head never ends: what a client holds a connection open with."""
    host, port, ctx = tls(server)
    raw = socket.create_connection((host, port), timeout=10, source_address=(source, 0))
    sock = ctx.wrap_socket(raw, server_hostname=host)
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
    return sock


def _get_from(server: Server, source: str) -> bytes:
    host, port, ctx = tls(server)
    raw = socket.create_connection((host, port), timeout=10, source_address=(source, 0))
    with ctx.wrap_socket(raw, server_hostname=host) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        return answer(sock)


def test_connections_are_bounded_in_all_and_per_address(tmp_path: Path) -> None:
    """Before: one client holding 1,000 TLS connections (heads never finished, each
    dropped after 5 s and opened again) left a server started with systemd's 1,024
    open files unable to accept anyone, and each held connection took about 48 KB."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(1024, hard), hard))  # systemd's soft
    try:
        server = start_server(
            tmp_path / "data",
            {
                "OSDEPOT_HEADER_TIMEOUT": "30",
                "OSDEPOT_MAX_CONNECTIONS": "40",
                "OSDEPOT_MAX_CONNECTIONS_PER_ADDRESS": "16",
            },
        )
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    held: list[ssl.SSLSocket] = []
    try:
        try:
            # The server raised its own soft limit to the hard one (at most 2**20).
            limit = psutil.Process(server.proc.pid).rlimit(resource.RLIMIT_NOFILE)
            if hard == resource.RLIM_INFINITY or hard > 1024:
                assert limit[0] == min(hard if hard != resource.RLIM_INFINITY else 1 << 20, 1 << 20)
            # One address: 16 connections held, the 17th refused with a reason …
            held += [_held(server, "127.0.0.1") for _ in range(16)]
            got = _get_from(server, "127.0.0.1")
            assert got.startswith(b"HTTP/1.1 503"), got[:200]
            assert b"retry-after: 1" in got.lower() and b"127.0.0.1 has 16 connections" in got
            # … while another address is served.
            assert _get_from(server, "127.0.0.2").startswith(b"HTTP/1.1 200")
            # In all: 40 held from three addresses, then every address is refused.
            held += [_held(server, "127.0.0.2") for _ in range(16)]
            held += [_held(server, "127.0.0.3") for _ in range(8)]
            got = _get_from(server, "127.0.0.4")
            assert got.startswith(b"HTTP/1.1 503") and b"holds 40 connections" in got, got[:200]
            # The held connections are still the server's: one of them finishes its head.
            held[0].sendall(b"Connection: close\r\n\r\n")
            assert answer(held[0]).startswith(b"HTTP/1.1 200")
        finally:
            for sock in held:
                sock.close()
        # Closed connections are no longer counted: every address is served again.
        deadline = time.monotonic() + 10
        while not _get_from(server, "127.0.0.1").startswith(b"HTTP/1.1 200"):
            assert time.monotonic() < deadline, "closed connections are still counted"
            time.sleep(0.2)
        for source in ("127.0.0.2", "127.0.0.4"):
            assert _get_from(server, source).startswith(b"HTTP/1.1 200")
        log = server.log.read_text()
        assert "127.0.0.1 has 16 connections open" in log and "holds 40 connections" in log
    finally:
        stop_server(server)


def _raw(server: Server, source: str) -> socket.socket:
    """A TCP connection from ``source`` that never starts its TLS handshake."""
    host, port, _ = tls(server)
    return socket.create_connection((host, port), timeout=10, source_address=(source, 0))


def _closed_by_server(sock: socket.socket) -> bool:
    sock.settimeout(0.05)
    try:
        return sock.recv(1) == b""
    except TimeoutError:
        return False  # still held
    except OSError:
        return True  # reset


def test_tls_handshakes_in_progress_are_counted_per_address_and_in_all(tmp_path: Path) -> None:
    """Before: connections counted from the end of their TLS handshake, so one that
    never started it held a file descriptor for the handshake's time limit, as many
    as the client opened (five local processes held 18,779 of a server's 20,000; a
    legitimate request in eight failed meanwhile). Now handshakes in progress are
    counted from the accept: per address and in all, one beyond closed at once."""
    server = start_server(
        tmp_path / "data",
        {
            "OSDEPOT_HEADER_TIMEOUT": "30",  # (the handshake's time limit too)
            "OSDEPOT_MAX_CONNECTIONS": "40",
            "OSDEPOT_MAX_CONNECTIONS_PER_ADDRESS": "16",
        },
    )
    try:
        _flood_handshakes(server)
        # Handshakes of clients that left are released too: every address is served.
        deadline = time.monotonic() + 10
        while True:
            try:
                if _get_from(server, "127.0.0.1").startswith(b"HTTP/1.1 200"):
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "handshakes of closed connections still counted"
            time.sleep(0.2)
        late = [_raw(server, "127.0.0.6") for _ in range(16)]
        time.sleep(0.3)
        assert not any(_closed_by_server(s) for s in late)
        for sock in late:
            sock.close()
        assert "before their TLS handshake" in server.log.read_text()
    finally:
        stop_server(server)


def _flood_handshakes(server: Server) -> None:
    """The floods of the test above, their connections closed when it ends."""
    proc = psutil.Process(server.proc.pid)
    held: list[socket.socket] = []
    try:
        assert _get_from(server, "127.0.0.1").startswith(b"HTTP/1.1 200")
        idle = proc.num_fds()
        # One address opening 200 connections: 16 held, the others closed at once …
        flood = [_raw(server, "127.0.0.1") for _ in range(200)]
        held += flood
        time.sleep(0.5)
        closed = sum(_closed_by_server(s) for s in flood)
        assert closed == 184, closed
        assert proc.num_fds() <= idle + 16 + 4, (idle, proc.num_fds())
        # … while another address is served, and still when it floods too.
        assert _get_from(server, "127.0.0.2").startswith(b"HTTP/1.1 200")
        held += [_raw(server, "127.0.0.3") for _ in range(200)]
        assert _get_from(server, "127.0.0.2").startswith(b"HTTP/1.1 200")
        # In all: at most 40 handshakes, from however many addresses.
        for source in ("127.0.0.4", "127.0.0.5"):
            held += [_raw(server, source) for _ in range(20)]
        time.sleep(0.5)
        assert sum(not _closed_by_server(s) for s in held) == 40
        assert proc.num_fds() <= idle + 40 + 4, (idle, proc.num_fds())
        # A handshake that fails is released: 30 clients that speak no TLS, one after
        # the other (then, in the test, 16 held at once from the same address).
        for _ in range(30):
            with _raw(server, "127.0.0.6") as sock:
                sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                sock.settimeout(10)
                with contextlib.suppress(OSError):
                    while sock.recv(4096):
                        pass
    finally:
        for sock in held:
            sock.close()


def test_clients_that_do_not_read_hold_one_piece_of_an_answer(tmp_path: Path) -> None:
    """Before: uvicorn wrote each whole answer into the connection's buffer, so 100
    clients asking for a 3.4 MB listing and reading nothing made the server hold
    +359 MiB (measured); now each holds a piece or two of 64 KiB (web/pieces.py)."""
    import sys

    data = tmp_path / "data"
    data.mkdir()
    fill = "from benchmarks.upload import fill_catalog; import sys, pathlib; "
    fill += "fill_catalog(pathlib.Path(sys.argv[1]), 10_000)"  # (as benchmarks.catalog does)
    root = Path(__file__).resolve().parents[2]
    subprocess.run([sys.executable, "-c", fill, str(data)], cwd=root, check=True, timeout=120)
    server = start_server(data)
    socks: list[ssl.SSLSocket] = []
    try:
        warm(server)
        host, port, ctx = tls(server)
        ask = (
            f"GET /osImages HTTP/1.1\r\nHost: x\r\nAuthorization: {basic()}\r\n"
            "Accept-Encoding: identity\r\n\r\n"
        ).encode()
        with connect(server) as sock:  # the listing is rendered once, then shared
            sock.sendall(ask.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n"))
            size = 0
            while chunk := sock.recv(1 << 20):
                size += len(chunk)
        assert size > 3_000_000, size
        peak = Peak(server.proc.pid)
        for _ in range(100):
            raw = socket.create_connection((host, port), timeout=10)
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock = ctx.wrap_socket(raw, server_hostname=host)
            sock.sendall(ask)
            socks.append(sock)
        time.sleep(3)
        grown = peak.stop()
        print(f"100 clients not reading a {size}-byte listing: +{grown / MiB:.1f} MiB")
        assert grown < 100 * MiB, f"the server grew by {grown / MiB:.0f} MiB"
        # Meanwhile others are served.
        assert server.session().get(server.url + "/aicc", timeout=10).status_code == 200
    finally:
        for sock in socks:
            sock.close()
        stop_server(server)


def test_a_password_check_flood_is_bounded_and_sessions_stay_fast(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data", {"OSDEPOT_PASSWORD_CHECKS": "2"})
    try:
        s = server.session()
        warm(server)
        peak = Peak(server.proc.pid)
        statuses: list[int] = []
        retry_after: list[str] = []
        lock = threading.Lock()

        def login(i: int) -> None:
            hdr = "Basic " + base64.b64encode(f"made-up-{i}:guess-{i}".encode()).decode()
            try:
                r = requests.get(
                    server.url + "/osImages",
                    headers={"Authorization": hdr},
                    verify=s.verify,
                    timeout=60,
                )
            except requests.RequestException:
                return
            with lock:
                statuses.append(r.status_code)
                if r.status_code in (429, 503):
                    retry_after.append(r.headers.get("Retry-After", ""))

        latencies: list[float] = []
        stop = threading.Event()

        def poll() -> None:
            while not stop.is_set():
                t0 = time.monotonic()
                r = s.get(server.url + "/tasks", timeout=30)
                latencies.append(time.monotonic() - t0)
                assert r.status_code == 200
                time.sleep(0.05)

        poller = threading.Thread(target=poll)
        poller.start()
        # 300 logins for made-up users, 100 at a time.
        with ThreadPoolExecutor(100) as pool:
            list(pool.map(login, range(300)))
        stop.set()
        poller.join()
        grown = peak.stop()
        print(
            f"flood: idle {peak.idle / MiB:.0f} MiB, peak +{grown / MiB:.1f} MiB; "
            f"401 x{statuses.count(401)}, 429 x{statuses.count(429)}, "
            f"503 x{statuses.count(503)}; session requests meanwhile: {len(latencies)}, "
            f"slowest {max(latencies) * 1000:.0f} ms"
        )
        assert len(statuses) == 300
        assert set(statuses) <= {401, 429, 503}, set(statuses)
        assert statuses.count(429) + statuses.count(503) > 200  # refused before a check
        assert all(v.isdigit() and int(v) >= 1 for v in retry_after)
        # Two checks at once (64 MiB of argon2 each) and the connections: well below
        # the 2.47 GB measured before the gate.
        assert grown < 2 * 64 * MiB + 100 * MiB, f"the server grew by {grown / MiB:.0f} MiB"
        # A logged-in session was answered meanwhile (5 ms before, 13 s under the flood
        # without the gate); a generous bound for a loaded two-core machine.
        assert latencies and max(latencies) < 3.0, max(latencies)
        # The right password still works from another client (Basic, fresh).
        r = requests.get(server.url + "/aicc", auth=(ADMIN, ADMIN_PW), verify=s.verify, timeout=30)
        assert r.status_code in (200, 429)  # same address as the flood: maybe throttled
    finally:
        stop_server(server)


def test_files_at_rest_are_private_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        server = start_server(tmp_path / "data")
    finally:
        os.umask(old)
    try:
        s = server.session()
        r = s.post(server.url + "/osImages?imageType=SCRIPT", json={"Action": "Init"})
        job = r.json()["jobId"]
        r = s.post(
            server.url + f"/files/osImages?jobId={job}&os=rhel",
            files={"uploadedfile": ("a.sh", b"#!/bin/sh\necho hi\n")},
        )
        assert r.status_code == 201, r.text
    finally:
        stop_server(server)
    data = server.data_dir
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    for name in ("catalog.db", "catalog.db-wal", "catalog.db-shm"):
        if (data / name).exists():
            assert stat.S_IMODE((data / name).stat().st_mode) == 0o600, name
    assert stat.S_IMODE((data / "tls" / "key.pem").stat().st_mode) == 0o600
    blobs = [p for p in (data / "blobs").rglob("*") if p.is_file()]
    assert blobs
    for p in blobs:
        assert stat.S_IMODE(p.stat().st_mode) & 0o007 == 0, p  # nothing for others
    # Every file in the data folder is out of reach of other users.
    for p in data.rglob("*"):
        assert stat.S_IMODE(p.stat().st_mode) & 0o007 == 0, p
    # An existing repository made with the old modes is tightened on the next start.
    os.chmod(data, 0o755)
    os.chmod(data / "catalog.db", 0o644)
    server = start_server(data)
    stop_server(server)
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    assert stat.S_IMODE((data / "catalog.db").stat().st_mode) == 0o600


def test_the_generated_certificate_is_no_ca(server: Server) -> None:
    pem = (server.data_dir / "tls" / "cert.pem").read_bytes()
    cert = x509.load_pem_x509_certificate(pem)
    constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.value.ca is False and constraints.critical
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert not usage.key_cert_sign
    # Clients that pin it still verify the server with it (curl, like requests here).
    r = subprocess.run(
        ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert",
         str(server.data_dir / "tls" / "cert.pem"), server.url + "/healthz"],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert r.stdout == "200", r.stderr
