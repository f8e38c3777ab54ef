"""What every protocol's fetcher provides, and how failures are classified."""

from __future__ import annotations

from osdepot.errors import Failure, RemoteFailure
from osdepot.ports import Fetcher, Opened, RemoteCredentials

__all__ = ["CHUNK", "Failure", "Fetcher", "Opened", "RemoteCredentials", "RemoteFailure"]

CHUNK = 1 << 20
