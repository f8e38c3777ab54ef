from __future__ import annotations

import errno
import mmap
import os
from pathlib import Path
from typing import Any

import pytest

from osdepot.storage.localfs import DIRECT_ALIGN, LocalBlobStore


def test_staging_is_invisible_until_commit(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    st = store.create_staging(10)
    st.write(b"hello")
    st.write(memoryview(b" world"))
    assert list(store.keys()) == []
    st.finish()
    assert b"".join(st.read_chunks(4)) == b"hello world"
    key = store.commit(st)
    assert list(store.keys()) == [key]
    assert store.size(key) == 11  # the fallocated size was trimmed
    with store.open(key) as f:
        assert f.read() == b"hello world"
    assert store.staging_leftovers() == []


def test_abort_and_clear(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    a = store.create_staging()
    a.write(b"x")
    a.abort()
    a.abort()
    store.create_staging().write(b"y")
    assert store.clear_staging() == 1
    assert list(store.keys()) == []


def test_delete_and_bad_keys(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    st = store.create_staging()
    st.finish()
    key = store.commit(st)
    store.delete(key)
    store.delete(key)
    assert list(store.keys()) == []
    for bad in ("../../etc/passwd", "ab", "Z" * 32):
        with pytest.raises(ValueError, match="not a blob key"):
            store.open(bad)
    assert (store.free_bytes() or 0) > 0


def _read(store: LocalBlobStore, key: str) -> bytes:
    with store.open(key) as f:
        return f.read()


def test_aligned_writes_go_direct_and_a_short_tail_through_the_cache(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    st = store.create_staging(3 * DIRECT_ALIGN * 256 + 100)
    if not st.direct:
        pytest.skip("the filesystem of tmp_path refuses O_DIRECT")
    buf = mmap.mmap(-1, DIRECT_ALIGN * 256)  # page-aligned, as the upload buffers are
    data = os.urandom(3 * len(buf) + 100)
    for i in range(3):
        buf[:] = data[i * len(buf) : (i + 1) * len(buf)]
        st.write(memoryview(buf))
        assert st.direct  # aligned: still O_DIRECT
    buf[:100] = data[-100:]
    st.write(memoryview(buf)[:100])
    assert not st.direct  # the short last piece went through the page cache
    st.finish()
    assert _read(store, store.commit(st)) == data


def test_an_unaligned_buffer_falls_back_to_the_page_cache(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    st = store.create_staging()
    if not st.direct:
        pytest.skip("the filesystem of tmp_path refuses O_DIRECT")
    raw = os.urandom(DIRECT_ALIGN + 1)
    st.write(memoryview(raw)[1:])  # a length O_DIRECT takes, at an address it may not
    st.write(b"tail")
    st.finish()
    assert _read(store, store.commit(st)) == raw[1:] + b"tail"


def test_direct_io_off_and_a_filesystem_without_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    off = LocalBlobStore(tmp_path / "off", direct_io=False).create_staging()
    assert not off.direct
    real_open = os.open

    def no_direct(path: Any, flags: int, *args: Any) -> int:
        if flags & os.O_DIRECT:
            raise OSError(errno.EINVAL, "Invalid argument")
        return real_open(path, flags, *args)

    monkeypatch.setattr(os, "open", no_direct)
    store = LocalBlobStore(tmp_path / "nodirect")
    st = store.create_staging(8192)
    assert not st.direct
    st.write(bytes(8192))
    st.finish()
    assert _read(store, store.commit(st)) == bytes(8192)


def test_the_ports_speak_in_keys_and_readers_not_paths(tmp_path: Path) -> None:
    import inspect as pyinspect

    import osdepot.ports as ports

    # No port method takes or returns a local path (an S3 store must implement them).
    for proto in (ports.Staging, ports.BlobStore, ports.RandomAccess):
        for name, member in vars(proto).items():
            fn = member.fget if isinstance(member, property) else member
            if callable(fn) and not name.startswith("_"):
                assert "Path" not in str(pyinspect.signature(fn)), (proto.__name__, name)
    store = LocalBlobStore(tmp_path / "blobs")
    st = store.create_staging()
    st.write(b"0123456789")
    st.finish()
    reader = st.reader()
    assert reader.size == 10
    assert reader.read_at(0, 4) == b"0123" and reader.read_at(8, 100) == b"89"
    assert reader.read_at(10, 5) == b"" and reader.read_at(20, 5) == b""
    reader.close()
    reader.close()  # twice is fine
    with pytest.raises(ValueError, match="closed"):
        reader.read_at(0, 1)
    # Staging leftovers by name and size; removed by name, never outside the folder.
    ((name, size),) = store.staging_leftovers()
    assert size == 10
    with pytest.raises(ValueError, match="not a staging file"):
        store.remove_staging("../catalog.db")
    store.remove_staging(name)
    assert store.staging_leftovers() == []
    # An orphan quarantined: out of the store, its bytes kept beside it.
    st = store.create_staging()
    st.write(b"orphan")
    st.finish()
    key = store.commit(st)
    where = store.quarantine(key)
    assert list(store.keys()) == [] and Path(where).read_bytes() == b"orphan"
    assert Path(where).parent == tmp_path / "lost+found"
