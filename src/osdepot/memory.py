"""Keep the C heap of a serving process from shrinking and growing with every chunk.

An upload arrives as a stream of body chunks of up to a few hundred KiB, each a new
Python bytes object. With glibc's defaults, freeing them gives the top of the heap
back to the kernel (``brk``) or unmaps them, and the next chunks fault fresh pages in
again: page faults, ``brk`` and ``munmap`` took a large share of the server's CPU
during an upload (measured with perf; see the git log of this file), and on virtual
machines that hand
free memory back to their host each fresh page costs more still. Raising the mmap and
trim thresholds keeps those few MiB in the process for reuse. The memory kept is
bounded by what was in use at once (a few MiB per upload), not by the size of files.
Under ``osdepot serve`` an uploaded file part is now read into the upload buffers in
place (web/protocol.py), without such chunks; the part headers, bodies under other
ASGI servers and the pieces of remote imports still arrive as chunks.
"""

from __future__ import annotations

import ctypes
import logging

log = logging.getLogger("osdepot.memory")

# mallopt(3) parameters (glibc's malloc.h)
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3

#: Allocations below this come from the heap (and are reused) rather than from mmap.
MMAP_THRESHOLD = 32 * 1024 * 1024
#: Free memory at the top of the heap is returned to the kernel only above this.
TRIM_THRESHOLD = 128 * 1024 * 1024


def tune_malloc() -> bool:
    """Set the thresholds with mallopt(3); False where the C library has none (musl)."""
    try:
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    ok = bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
        mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    )
    if not ok:
        log.warning("mallopt refused the heap thresholds; uploads may run slower")
    return ok
