"""A TCP proxy on 127.0.0.1 that cuts connections: a network that drops in the
middle of an upload, for resumable-upload clients (TLS passes through it unchanged).

Every connection is relayed to ``target``; once ``cut_after`` bytes have gone from
the clients to the server in all (counted over every connection), the connection
carrying the byte that crossed it is closed at both ends, once. Optionally the
client-to-server direction is paced to ``rate`` bytes per second, so that a client
on loopback is still sending when the cut comes.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time


class CutProxy:
    def __init__(
        self, target: tuple[str, int], cut_after: int, rate: float = 0.0, port: int = 0
    ) -> None:
        self.target, self.cut_after, self.rate = target, cut_after, rate
        self.sent = 0
        self.cuts = 0
        self.connections = 0
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", port))
        self._listener.settimeout(0.2)
        self.port = self._listener.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            server = socket.create_connection(self.target, timeout=10)
            self.connections += 1
            pair = (client, server)
            threading.Thread(target=self._up, args=pair, daemon=True).start()
            threading.Thread(target=self._down, args=pair, daemon=True).start()

    def _up(self, client: socket.socket, server: socket.socket) -> None:
        """Client to server, counted (and paced); the cut happens here."""
        started, moved = time.monotonic(), 0
        try:
            while data := client.recv(65536):
                cut = False
                with self._lock:
                    before = self.sent
                    self.sent += len(data)
                    if self.cuts == 0 and before < self.cut_after <= self.sent:
                        self.cuts += 1
                        cut = True
                if cut:
                    server.sendall(data[: self.cut_after - before])
                    break
                server.sendall(data)
                moved += len(data)
                if self.rate:
                    ahead = moved / self.rate - (time.monotonic() - started)
                    if ahead > 0:
                        time.sleep(ahead)
        except OSError:
            pass
        _close(client, server)

    def _down(self, client: socket.socket, server: socket.socket) -> None:
        try:
            while data := server.recv(65536):
                client.sendall(data)
        except OSError:
            pass
        _close(client, server)

    def close(self) -> None:
        self._stop.set()
        self._listener.close()
        self._thread.join(5)


def _close(*socks: socket.socket) -> None:
    for s in socks:
        with contextlib.suppress(OSError):
            s.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            s.close()
