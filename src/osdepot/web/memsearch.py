"""Finding a multipart delimiter in an upload buffer with the C library's ``memmem``.

Each buffer of a multipart upload (4 MiB by default) is searched for the delimiter
that ends the file part (web/body.py), on the event-loop thread, the busiest thread of
an upload. ``mmap.find`` does it at 6-8 GB/s here and holds the GIL; glibc's
``memmem`` (called through ctypes, which lets go of the GIL) at 16-26 GB/s for
delimiters of 32 to 44 bytes (the benchmark's, curl's and requests-toolbelt's), so
the search costs about a third of the CPU and the worker threads hashing and writing
the previous buffers go on meanwhile. Where there is no ``memmem`` (a C library
without it) or the buffer is read-only, :meth:`bytes.find` semantics are kept with the
buffer's own ``find``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from typing import Any

#: Below this many bytes a call through ctypes costs more than it saves.
SMALL = 64 * 1024


def _load_memmem() -> Any:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None)
        fn = libc.memmem
    except (OSError, AttributeError):  # pragma: no cover - a C library without memmem
        return None
    fn.restype = ctypes.c_void_p
    fn.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_size_t]
    return fn


_memmem = _load_memmem()


def find(buf: Any, needle: bytes, start: int, stop: int) -> int:
    """``buf.find(needle, start, stop)`` for a writable buffer (an ``mmap`` or a
    ``bytearray``): the lowest index of ``needle`` wholly inside ``buf[start:stop]``,
    or -1."""
    n = stop - start
    if _memmem is None or n < SMALL or not needle or start < 0 or stop > len(buf):
        return int(buf.find(needle, start, stop))
    try:
        window = (ctypes.c_char * n).from_buffer(buf, start)
    except TypeError:  # a read-only buffer
        return int(buf.find(needle, start, stop))
    try:
        base = ctypes.addressof(window)
        hit = _memmem(base, n, needle, len(needle))
    finally:
        del window  # the buffer export ends here (an mmap can be closed again)
    return -1 if not hit else start + (hit - base)
