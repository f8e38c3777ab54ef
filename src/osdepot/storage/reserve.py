"""Room kept on the disk of an SQLite catalog, so that the repository can still be
emptied when that disk is full.

SQLite needs free pages to record any change, a deletion among them: with the disk
full (filled by uploads' staging files, logs, another program) every write is refused,
and so is the deletion that would free the space. osdepot keeps a file of
:data:`RESERVE_BYTES` beside the catalog while the disk has room for it twice over;
the first write the disk refuses releases it (web/app.py answers that write 507
``FQXHMFC9066M``), so that the administrator's deletions go through. The next
housekeeping round with room to spare makes it again.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path

#: The room kept by default (``OSDEPOT_CATALOG_RESERVE_BYTES``): a deletion records a
#: few pages; this holds thousands.
RESERVE_BYTES = 8 * 1024 * 1024


class SpaceReserve:
    """A file of ``size`` bytes at ``path``, made and given up on demand."""

    def __init__(self, path: Path, size: int = RESERVE_BYTES) -> None:
        self.path = path
        self.size = size

    def keep(self) -> bool:
        """Make the reserve if it is missing and the disk has room for it twice over;
        whether it is there now."""
        with contextlib.suppress(FileNotFoundError):
            if self.path.stat().st_size >= self.size:
                return True
        try:
            if shutil.disk_usage(self.path.parent).free < 2 * self.size:
                return False
        except OSError:
            return False
        part = self.path.with_name(self.path.name + ".part")
        try:
            fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                try:
                    os.posix_fallocate(fd, 0, self.size)  # blocks really allocated
                except OSError:
                    os.write(fd, bytes(self.size))  # a filesystem without fallocate
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(part, self.path)
        except OSError:
            with contextlib.suppress(OSError):
                part.unlink()
            return False
        return True

    def release(self) -> int:
        """Give the room back to the disk: the bytes freed (0 when there was none)."""
        try:
            size = self.path.stat().st_size
            self.path.unlink()
        except FileNotFoundError:
            return 0
        return size
