"""Positional reads from a file that count what they read.

Every content check reads through a :class:`Source`, so a check can never read
past the end of a file unnoticed, and the share of the file it read is known
(``osdepot inspect`` reports it; recognising a medium reads a few hundred KiB).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

from osdepot.errors import ContentError, TooCostly, Truncated
from osdepot.files import FileReader
from osdepot.ports import RandomAccess

__all__ = ["ContentError", "Extent", "FileData", "Source", "TooCostly", "Truncated"]


class Source:
    """Reads ``n`` bytes at ``offset`` of a :class:`~osdepot.ports.RandomAccess` (a local
    file, a staged upload, an object in a store), never past its end."""

    def __init__(self, data: RandomAccess, cpu_budget: float | None = None) -> None:
        self.data = data
        self.size = data.size
        self.bytes_read = 0
        self.reads = 0
        #: CPU seconds (of the thread reading) the checks may take; None: no limit
        self.cpu_budget = cpu_budget
        self._cpu_start = time.thread_time()

    @classmethod
    def open(cls, path: str | os.PathLike[str], cpu_budget: float | None = None) -> Source:
        """A source over a local file (``osdepot inspect FILE``)."""
        return cls(FileReader(path), cpu_budget)

    def spend(self) -> None:
        """Raise :class:`TooCostly` once the checks have used up their CPU budget. Every
        read calls it; a parser's loop that does not read calls it too."""
        if self.cpu_budget is not None and time.thread_time() - self._cpu_start > self.cpu_budget:
            raise TooCostly(self.cpu_budget)

    def close(self) -> None:
        self.data.close()

    def __enter__(self) -> Source:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def read(self, offset: int, n: int, what: str = "data") -> bytes:
        """Exactly ``n`` bytes at ``offset``; :class:`Truncated` when the file is shorter."""
        self.spend()
        if offset < 0 or n < 0 or offset + n > self.size:
            raise Truncated(
                f"the file ends at byte {self.size}, but its {what} lies at bytes "
                f"{offset}–{offset + n}"
            )
        parts = []
        got = 0
        while got < n:
            chunk = self.data.read_at(offset + got, n - got)
            if not chunk:
                raise Truncated(f"the file ended while reading its {what}")
            parts.append(chunk)
            got += len(chunk)
        self.bytes_read += n
        self.reads += 1
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def read_upto(self, offset: int, n: int) -> bytes:
        """Up to ``n`` bytes at ``offset`` (fewer at the end of the file)."""
        n = max(0, min(n, self.size - offset))
        return self.read(offset, n) if n else b""


@dataclass(frozen=True)
class Extent:
    offset: int
    length: int


class FileData:
    """A file inside an image, made of extents of the image (ISO 9660 or UDF)."""

    def __init__(self, src: Source, extents: list[Extent], size: int, name: str) -> None:
        self.src = src
        self.extents = extents
        self.size = size
        self.name = name

    def read(self, offset: int = 0, n: int | None = None) -> bytes:
        if n is None:
            n = self.size - offset
        n = max(0, min(n, self.size - offset))
        out = bytearray()
        pos = 0
        for ext in self.extents:
            if n <= 0:
                break
            end = pos + ext.length
            if offset < end:
                start = max(offset - pos, 0)
                take = min(ext.length - start, n)
                out += self.src.read(ext.offset + start, take, f"file {self.name}")
                offset += take
                n -= take
            pos = end
        return bytes(out)

    def text(self, limit: int = 1 << 20) -> str:
        """The file's start as text (UTF-8, undecodable bytes replaced)."""
        return self.read(0, min(self.size, limit)).decode("utf-8", "replace")
