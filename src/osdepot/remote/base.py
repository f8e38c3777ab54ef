"""What every protocol's fetcher provides, and how failures are classified."""

from __future__ import annotations

from osdepot.errors import Failure, RemoteFailure
from osdepot.ports import Fetcher, Opened, RemoteCredentials

__all__ = ["CHUNK", "Failure", "Fetcher", "Opened", "RemoteCredentials", "RemoteFailure"]

CHUNK = 1 << 20


def part_name(path: str) -> str:
    """The temporary name a file is written under before it is renamed to ``path``
    (in the same folder, hidden: ``dir/.name.osdepot-part``)."""
    folder, _, name = path.rpartition("/")
    return (
        f"{folder}/.{name}.osdepot-part"
        if folder or path.startswith("/")
        else (f".{name}.osdepot-part")
    )
