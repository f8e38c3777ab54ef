"""Ports on 127.0.0.1 for the cluster's servers: a free one, and waiting for one."""

from __future__ import annotations

import socket
import time


def free_port(below: int = 65536) -> int:
    """A port nothing listens on now, under ``below`` (SeaweedFS adds 10000 to its
    ports for gRPC: it asks for ports that leave room for that)."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port < below:
            return port


def wait_port(port: int, seconds: float = 30) -> None:
    """Until something accepts connections on ``port`` (OSError after ``seconds``)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
