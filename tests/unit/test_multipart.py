from __future__ import annotations

from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from osdepot.errors import OsdepotError
from osdepot.web.multipart import (
    MultipartParser,
    PartData,
    PartEnd,
    PartStart,
    boundary_from_content_type,
)

B = b"----osdepotBoundary7MA4YWxkTrZu0gW"


def body(parts: Sequence[tuple[str, str | None, bytes]], boundary: bytes = B) -> bytes:
    out = b""
    for name, filename, data in parts:
        disp = f'form-data; name="{name}"'
        if filename is not None:
            disp += f'; filename="{filename}"'
        out += b"--" + boundary + b"\r\nContent-Disposition: " + disp.encode() + b"\r\n"
        if filename is not None:
            out += b"Content-Type: application/octet-stream\r\n"
        out += b"\r\n" + data + b"\r\n"
    return out + b"--" + boundary + b"--\r\n"


def parse(raw: bytes, cuts: list[int]) -> tuple[list[tuple[str, str | None, bytes]], bool]:
    p = MultipartParser(B)
    parts: list[tuple[str, str | None, bytes]] = []
    cur: list[bytes] = []
    name, fn = "", None
    prev = 0
    for c in [*sorted(set(cuts)), len(raw)]:
        for ev in p.feed(raw[prev:c]):
            if isinstance(ev, PartStart):
                name, fn, cur = ev.name, ev.filename, []
            elif isinstance(ev, PartData):
                cur.append(bytes(ev.data))
            elif isinstance(ev, PartEnd):
                parts.append((name, fn, b"".join(cur)))
        prev = c
    return parts, p.finished


def test_pylxca_shape_in_one_chunk() -> None:
    parts = [("name", None, b"uploadedfile"), ("uploadedfile", "a.iso", b"x" * 1000)]
    assert parse(body(parts), []) == (parts, True)


def test_checksum_parts_after_the_file() -> None:
    parts = [
        ("uploadedfile", "a.iso", b"abc"),
        ("checksumType", None, b"MD5"),
        ("checksumValue", None, b"900150983cd24fb0d6963f7d28e17f72"),
    ]
    assert parse(body(parts), [1, 7, 50, 51, 52]) == (parts, True)


def test_data_that_looks_like_a_boundary() -> None:
    tricky = b"\r\n--" + B[:-1] + b"\r\n--" + B[:5] + b"\r\r\n-\r\n--"
    parts = [("uploadedfile", "f.bin", tricky * 50)]
    for step in (1, 2, 3, 7, 64, 4096):
        raw = body(parts)
        assert parse(raw, list(range(0, len(raw), step))) == (parts, True)


@settings(max_examples=300, deadline=None)
@given(
    data=st.lists(
        st.tuples(
            st.sampled_from(["uploadedfile", "checksumType", "x"]),
            st.one_of(st.none(), st.just("f.iso")),
            st.binary(max_size=3000),
        ),
        min_size=1,
        max_size=4,
    ),
    cuts=st.lists(st.integers(min_value=0, max_value=13000), max_size=30),
)
def test_any_split_gives_the_same_parts(
    data: list[tuple[str, str | None, bytes]], cuts: list[int]
) -> None:
    raw = body(data)
    assert parse(raw, [c for c in cuts if c < len(raw)]) == (data, True)


@settings(max_examples=300, deadline=None)
@given(raw=st.binary(max_size=2000), cuts=st.lists(st.integers(0, 2000), max_size=10))
def test_garbage_never_crashes(raw: bytes, cuts: list[int]) -> None:
    try:
        parse(raw, [c for c in cuts if c < len(raw)])
    except OsdepotError as exc:
        status = exc.status
    else:
        status = 400  # parsed: nothing to check
    assert status == 400


@settings(max_examples=200, deadline=None)
@given(pos=st.integers(0, 400), junk=st.binary(min_size=1, max_size=20))
def test_damaged_valid_bodies_fail_cleanly(pos: int, junk: bytes) -> None:
    raw = body([("checksumType", None, b"SHA256"), ("uploadedfile", "a.iso", b"z" * 300)])
    pos = min(pos, len(raw))
    damaged = raw[:pos] + junk + raw[pos + len(junk) :]
    try:
        parse(damaged, [pos])
    except OsdepotError as exc:
        status = exc.status
    else:
        status = 400  # parsed: nothing to check
    assert status == 400


def test_truncated_body_is_not_finished() -> None:
    raw = body([("uploadedfile", "a.iso", b"abc" * 100)])
    _parts, finished = parse(raw[:-10], [])
    assert not finished


def test_header_block_is_bounded() -> None:
    p = MultipartParser(B)
    with pytest.raises(OsdepotError):
        p.feed(b"--" + B + b"\r\nX-Long: " + b"a" * 20000 + b"\r\n\r\n")


def test_part_without_disposition_is_refused() -> None:
    with pytest.raises(OsdepotError):
        MultipartParser(B).feed(b"--" + B + b"\r\nContent-Type: text/plain\r\n\r\nhi\r\n")


@pytest.mark.parametrize(
    "ctype",
    [
        None,
        "",
        "application/json",
        "multipart/form-data",
        "multipart/form-data; boundary=",
        "multipart/form-data; boundary=" + "x" * 300,
    ],
)
def test_bad_content_types(ctype: str | None) -> None:
    with pytest.raises(OsdepotError) as exc:
        boundary_from_content_type(ctype)
    assert exc.value.status == 400


def test_quoted_boundary_and_rfc5987_filename() -> None:
    assert boundary_from_content_type('multipart/form-data; boundary="a b"') == b"a b"
    raw = (
        b"--" + B + b'\r\nContent-Disposition: form-data; name="uploadedfile"; '
        b"filename*=UTF-8''%C3%A9t%C3%A9.iso\r\n\r\nx\r\n--" + B + b"--"
    )
    events = MultipartParser(B).feed(raw)
    assert isinstance(events[0], PartStart)
    assert events[0].filename == "été.iso"


_OLD_TOKEN = r'\s*;\s*([^=;\s]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)'


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=' \t;="\\ab=xyé\u00a0', max_size=40))
def test_header_parameters_are_read_as_the_pattern_read_them(text: str) -> None:
    """The one-pass reader of ``; a=b; c="d"`` finds what the regular expression it
    replaced found (which took the square of a run of spaces: see the next test)."""
    import re

    from osdepot.web.multipart import _param_items

    if "\\\n" in text:
        return  # (the pattern's "." stops at a line end; a header has none)
    old = [(m.group(1), m.group(2)) for m in re.finditer(_OLD_TOKEN, ";" + text)]
    assert _param_items(";" + text) == old


def test_header_parameters_take_time_in_proportion_to_their_length() -> None:
    import time

    from osdepot.web.multipart import _parse_header_value

    spaces = " " * 200_000
    started = time.thread_time()
    for value in (f"form-data; a{spaces}b", f"form-data{spaces}b", f'form-data; a="{spaces}'):
        _parse_header_value(value)
    took = time.thread_time() - started
    assert took < 5, f"{took:.1f} CPU-s (the pattern before: minutes for these)"
