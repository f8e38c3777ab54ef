from __future__ import annotations

from pathlib import Path

import pytest

from osdepot.storage.localfs import LocalBlobStore


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
    assert store.staging_files() == []


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
        with pytest.raises(ValueError):
            store.open(bad)
    assert (store.free_bytes() or 0) > 0
