"""Reading local files at any offset: :class:`FileReader`, the
:class:`osdepot.ports.RandomAccess` of a local file, shared by the local blob store (its
staging files) and the content checks of ``osdepot inspect FILE``."""

from __future__ import annotations

import os


class FileReader:
    """:class:`osdepot.ports.RandomAccess` over a local file (``pread``, no buffering)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self._fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        self._size = os.fstat(self._fd).st_size

    @property
    def size(self) -> int:
        return self._size

    def read_at(self, offset: int, n: int) -> bytes:
        if self._fd < 0:
            raise ValueError("reader is closed")
        return os.pread(self._fd, max(0, min(n, self._size - offset)), offset)

    def span(self, offset: int, n: int) -> tuple[int, int] | None:
        """The descriptor and offset of bytes ``offset`` … ``offset+n-1`` (FileSpan)."""
        if self._fd < 0 or offset < 0 or n < 0 or offset + n > self._size:
            return None
        return self._fd, offset

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
