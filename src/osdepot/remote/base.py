"""What every protocol's fetcher provides, and how failures are classified."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from enum import Enum
from typing import Protocol

CHUNK = 1 << 20


class Failure(Enum):
    UNREACHABLE = "unreachable"  # DNS, refused, connect timeout, TLS verification
    AUTH = "auth"  # wrong credentials
    HOST_KEY = "host-key"  # SSH host key mismatch
    PATH = "path"  # no such file, a directory
    TRANSFER = "transfer"  # the server answered but the transfer cannot go on
    INTERRUPTED = "interrupted"  # the connection broke mid-transfer: resumable


class RemoteFailure(Exception):
    def __init__(self, kind: Failure, detail: str, **extra: str) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail
        self.extra = extra

    @property
    def retryable(self) -> bool:
        return self.kind is Failure.INTERRUPTED


@dataclass
class Opened:
    """An open transfer: the file's size (None when the server does not say) and
    its bytes from the requested offset."""

    size: int | None
    chunks: AsyncIterator[bytes]


class Fetcher(Protocol):
    async def open(self, path: str, offset: int) -> Opened:
        """Start reading ``path`` at ``offset``; raises :class:`RemoteFailure`."""

    async def reset(self) -> None:
        """Drop the current connection after a failure; the next open starts afresh."""

    async def close(self) -> None: ...
