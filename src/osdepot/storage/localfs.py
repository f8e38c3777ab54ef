"""Blob store on the local filesystem.

Layout under the store root::

    .staging/<key>.part     files being received (removed at start-up, but those of
                            resumable uploads, which are reopened where they stopped)
    <k0k1>/<key>            committed blobs, fanned out by the key's first two characters

Staging lives inside the root, so committing is a ``rename`` on one filesystem:
the blob appears complete or not at all. The data is fsynced before the rename and
the directory after it.

Staging files are written with ``O_DIRECT`` where the filesystem allows it: the bytes
go from the upload's buffers to the disk without passing through the page cache, so a
large import neither evicts the machine's cache nor pays for filling it, and the
final fsync has little left to do (docs/benchmarks.md has the measurements). Writes
that ``O_DIRECT`` cannot take (a filesystem without it, a buffer or a length not
aligned to ``DIRECT_ALIGN``) are written through the page cache instead.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import shutil
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from osdepot.files import FileReader
from osdepot.ports import Staging

_STAGING = ".staging"
#: Offsets, lengths and buffer addresses of O_DIRECT writes are multiples of this.
DIRECT_ALIGN = 4096


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class LocalStaging:
    """A staging file written with plain ``os.write`` calls (no Python buffering),
    with ``O_DIRECT`` while the writes are aligned and the filesystem supports it."""

    def __init__(
        self,
        root: Path,
        size_hint: int | None,
        direct: bool = True,
        key: str | None = None,
        at: int = 0,
    ) -> None:
        """A new staging file, or (``key``) the one of that key, reopened to write on
        after its first ``at`` bytes (FileNotFoundError when it is gone)."""
        self._key = key or uuid.uuid4().hex
        self.path = root / _STAGING / f"{self._key}.part"
        flags = os.O_WRONLY | os.O_CLOEXEC
        flags |= os.O_CREAT | os.O_EXCL if key is None else 0
        # O_DIRECT writes start at an aligned offset (a reopened file may not)
        self.direct = direct and hasattr(os, "O_DIRECT") and at % DIRECT_ALIGN == 0
        fd = None
        if self.direct:
            try:
                fd = os.open(self.path, flags | os.O_DIRECT, 0o640)
            except OSError as exc:
                if exc.errno != errno.EINVAL:
                    raise
                self.direct = False  # a filesystem without O_DIRECT
        self._fd: int | None = fd if fd is not None else os.open(self.path, flags, 0o640)
        self._size = at
        self._allocated = 0
        if key is not None:
            # What follows the checkpoint (space reserved at creation, or bytes of a
            # request that was cut off or refused) is written over from ``at`` on, and
            # whatever is left of it is cut off by finish(): no truncation and no new
            # reservation for each request (measured: both cost more than the fsync).
            try:
                length = os.fstat(self._fd).st_size
                os.lseek(self._fd, at, os.SEEK_SET)
            except OSError:
                self.close()
                raise
            if length < at:  # bytes recorded as kept are not there
                self.close()
                raise FileNotFoundError(f"{self.path} holds {length} of {at} bytes")
            self._allocated = length
            if self._allocated > at:
                size_hint = None  # reserved already
        if size_hint and size_hint > at:
            try:
                os.posix_fallocate(self._fd, at, size_hint - at)
                self._allocated = size_hint
            except OSError as exc:
                if exc.errno == errno.ENOSPC:
                    if key is None:
                        self.abort()
                    else:
                        self.close()
                    raise
                # Filesystems without fallocate (e.g. some tmpfs setups): carry on.

    @property
    def key(self) -> str:
        return self._key

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def size(self) -> int:
        return self._size

    def write(self, data: bytes | memoryview) -> None:
        fd = self._fd
        if fd is None:
            raise ValueError("staging file is closed")
        view = memoryview(data)
        if self.direct and (len(view) % DIRECT_ALIGN or self._size % DIRECT_ALIGN):
            self._buffered()  # the last, short piece of a file (or unaligned input)
        while view:
            try:
                n = os.write(fd, view)
            except OSError as exc:
                if exc.errno != errno.EINVAL or not self.direct:
                    raise
                self._buffered()  # a buffer address O_DIRECT cannot take
                continue
            view = view[n:]
            self._size += n

    def _buffered(self) -> None:
        """Write the rest of the file through the page cache."""
        assert self._fd is not None
        flags = fcntl.fcntl(self._fd, fcntl.F_GETFL)
        fcntl.fcntl(self._fd, fcntl.F_SETFL, flags & ~os.O_DIRECT)
        self.direct = False

    def finish(self) -> None:
        fd = self._fd
        if fd is None:
            raise ValueError("staging file is closed")
        if self._allocated > self._size:
            os.ftruncate(fd, self._size)
        os.fsync(fd)
        os.close(fd)
        self._fd = None

    def reader(self) -> FileReader:
        return FileReader(self.path)

    def read_chunks(self, chunk_size: int = 4 << 20) -> Iterator[bytes]:
        with open(self.path, "rb", buffering=0) as f:
            remaining = self._size
            while remaining > 0:
                chunk = f.read(min(chunk_size, remaining))
                if not chunk:
                    break
                remaining -= len(chunk)
                yield chunk

    def abort(self) -> None:
        self.close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    def checkpoint(self) -> None:
        fd = self._fd
        if fd is None:
            raise ValueError("staging file is closed")
        os.fdatasync(fd)

    def truncate(self, size: int) -> None:
        fd = self._fd
        if fd is None:
            raise ValueError("staging file is closed")
        if size > self._size:
            raise ValueError(f"cannot truncate {self._size} bytes to {size}")
        if size % DIRECT_ALIGN and self.direct:
            self._buffered()
        os.ftruncate(fd, size)
        os.lseek(fd, size, os.SEEK_SET)
        self._size = size
        if self._allocated > size:
            with contextlib.suppress(OSError):  # keep the space reserved as before
                os.posix_fallocate(fd, size, self._allocated - size)

    def close(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None


class LocalBlobStore:
    """:class:`osdepot.ports.BlobStore` on a local folder."""

    shared = False

    def __init__(self, root: str | os.PathLike[str], direct_io: bool = True) -> None:
        self.root = Path(root)
        self.direct_io = direct_io
        self.lost_found = self.root.parent / "lost+found"
        (self.root / _STAGING).mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        if len(key) != 32 or not all(c in "0123456789abcdef" for c in key):
            raise ValueError(f"not a blob key: {key!r}")
        return self.root / key[:2] / key

    def create_staging(self, size_hint: int | None = None) -> LocalStaging:
        return LocalStaging(self.root, size_hint, self.direct_io)

    def reopen_staging(self, name: str, size: int, size_hint: int | None = None) -> LocalStaging:
        key = name.removesuffix(".part")
        self._path(key)  # a key of this store, or ValueError
        if not name.endswith(".part"):
            raise ValueError(f"not a staging file: {name!r}")
        return LocalStaging(self.root, size_hint, self.direct_io, key=key, at=size)

    def commit(self, staging: Staging) -> str:
        if not isinstance(staging, LocalStaging):
            raise TypeError("not a staging file of this store")
        target = self._path(staging.key)
        target.parent.mkdir(exist_ok=True)
        os.utime(staging.path)  # its time is the commit's (committed_at): not its last write
        os.rename(staging.path, target)
        _fsync_dir(target.parent)
        return staging.key

    def reader(self, key: str) -> FileReader:
        return FileReader(self._path(key))

    def open(self, key: str) -> BinaryIO:
        return open(self._path(key), "rb")

    def size(self, key: str) -> int:
        return self._path(key).stat().st_size

    def delete(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._path(key).unlink()

    def committed_at(self, key: str) -> float | None:
        try:
            return self._path(key).stat().st_mtime
        except FileNotFoundError:
            return None

    def keys(self) -> Iterator[str]:
        for sub in self.root.iterdir():
            if sub.name == _STAGING or not sub.is_dir() or len(sub.name) != 2:
                continue
            for f in sub.iterdir():
                if len(f.name) == 32 and f.name.startswith(sub.name):
                    yield f.name

    def staging_leftovers(self) -> list[tuple[str, int]]:
        out = []
        for p in (self.root / _STAGING).iterdir():
            with contextlib.suppress(FileNotFoundError):
                out.append((p.name, p.stat().st_size))
        return out

    def _staging_path(self, name: str) -> Path:
        if "/" in name or name in ("", ".", ".."):
            raise ValueError(f"not a staging file: {name!r}")
        return self.root / _STAGING / name

    def remove_staging(self, name: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._staging_path(name).unlink()

    def staging_touched_at(self, name: str) -> float | None:
        try:
            return self._staging_path(name).stat().st_mtime
        except FileNotFoundError:
            return None

    def quarantine(self, key: str) -> str:
        """Into ``lost+found/`` beside the store's folder (``<data>/lost+found/`` for the
        default ``<data>/blobs``), on the same filesystem."""
        folder = self.lost_found
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / key
        shutil.move(self._path(key), target)
        _fsync_dir(folder)
        return str(target)

    def clear_staging(self, keep: Iterable[str] = ()) -> int:
        kept = set(keep)
        n = 0
        for name, _size in self.staging_leftovers():
            if name in kept:
                continue
            self.remove_staging(name)
            n += 1
        return n

    def free_bytes(self) -> int | None:
        return shutil.disk_usage(self.root).free

    def check(self) -> None:
        for folder in (self.root, self.root / _STAGING):
            if not os.access(folder, os.W_OK | os.X_OK):
                raise PermissionError(f"{folder} is missing or not writable")
