"""What every protocol's fetcher provides, and how failures are classified."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol

from osdepot.errors import Failure, RemoteFailure

__all__ = ["CHUNK", "Failure", "Fetcher", "Opened", "RemoteFailure"]

CHUNK = 1 << 20


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
