"""HTTP ranges (RFC 9110 §14): parsing ``Range`` against a representation's size, and
the conditions that decide whether it applies (``If-Range``) or whether the client's
copy is current (``If-None-Match``).

A ``Range`` that is malformed, that no byte of the representation satisfies, or that
asks for more than :data:`MAX_RANGES` pieces is answered 416 with a message saying
which (RFC 9110 lets a server ignore a malformed one; a clear refusal helps the
people writing clients more than a silent 200 of many gigabytes). Overlapping or
adjacent pieces are merged, as RFC 9110 §14.2 advises, so that a request cannot make
the server send the same bytes many times over.
"""

from __future__ import annotations

#: The most pieces one request may ask for (after merging).
MAX_RANGES = 32


def _bounds(part: str) -> tuple[str, str] | None:
    """``first``, ``last`` of one range-spec ``first-last`` (either may be empty; spaces
    around them are allowed), or None. (A pattern, ``\\s*(\\d*)\\s*-…``, took the square
    of a run of spaces with the GIL held: a 64 KiB Range header, 25 s.)"""
    first, sep, last = part.partition("-")
    first, last = first.strip(), last.strip()
    if not sep or not all(not b or (b.isascii() and b.isdigit()) for b in (first, last)):
        return None
    return first, last


class BadRange(Exception):
    """The Range cannot be served; ``reason`` says why (for the 416 message)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def parse_range(header: str, size: int) -> list[tuple[int, int]]:
    """The pieces ``[(start, end_inclusive), …]`` a ``Range: bytes=…`` header asks of a
    representation of ``size`` bytes, merged and in order."""
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or not spec.strip():
        raise BadRange(f"osdepot serves byte ranges only (Range: bytes=…), not {header[:60]!r}")
    pieces: list[tuple[int, int]] = []
    parts = spec.split(",")
    if len(parts) > 4 * MAX_RANGES:
        raise BadRange(f"the Range asks for {len(parts)} pieces; at most {MAX_RANGES} are served")
    for part in parts:
        bounds = _bounds(part)
        if bounds is None or bounds == ("", ""):
            raise BadRange(f"{part.strip()[:40]!r} is not a byte range (first-last, first-, -last)")
        first, last = bounds
        if len(first) > 20 or len(last) > 20:
            raise BadRange("a range bound has more digits than any file has bytes")
        if not first:  # the last N bytes
            n = int(last)
            if n == 0:
                continue
            pieces.append((max(size - n, 0), size - 1))
            continue
        start = int(first)
        end = int(last) if last else size - 1
        if last and end < start:
            raise BadRange(f"{part.strip()[:40]!r} ends before it starts")
        if start >= size:
            continue  # unsatisfiable piece; others may still be served
        pieces.append((start, min(end, size - 1)))
    if not pieces or size == 0:
        raise BadRange(f"no byte of the Range lies within the {size} bytes of the file")
    pieces.sort()
    merged = [pieces[0]]
    for start, end in pieces[1:]:
        last_start, last_end = merged[-1]
        if start <= last_end + 1:
            merged[-1] = (last_start, max(last_end, end))
        else:
            merged.append((start, end))
    if len(merged) > MAX_RANGES:
        raise BadRange(f"the Range asks for {len(merged)} pieces; at most {MAX_RANGES} are served")
    return merged


def etag_matches(header: str, etag: str) -> bool:
    """Whether an ``If-None-Match`` list names ``etag`` (weak comparison, RFC 9110
    §13.1.2), or is ``*``."""
    if header.strip() == "*":
        return True
    want = etag.removeprefix("W/")
    return any(t.strip().removeprefix("W/") == want for t in header.split(","))


def if_range_holds(header: str, etag: str, last_modified: str) -> bool:
    """Whether ``If-Range`` lets the Range apply: a strong ETag equal to ours, or our
    exact Last-Modified date (RFC 9110 §13.1.5)."""
    value = header.strip()
    if value.startswith('"'):
        return value == etag
    if value.startswith("W/"):
        return False  # a weak validator never satisfies If-Range
    return value == last_modified
