"""The blob store contract, on the local store and on S3 (SeaweedFS): staging written
in pieces and finished, read at any offset, committed, listed, opened, sized,
deleted; aborted before and after its end; leftovers listed and removed by name;
quarantine. Nothing is left behind by an abort."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from osdepot.ports import BlobStore
from osdepot.storage import open_blob_store
from osdepot.storage.s3 import MIN_PART, part_size
from tests.s3 import SeaweedS3

MiB = 1 << 20


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BlobStore]:
    if request.param == "local":
        yield open_blob_store(f"file://{tmp_path / 'blobs'}")
    else:
        server: SeaweedS3 = request.getfixturevalue("s3_server")
        yield open_blob_store(server.url())


def stage(store: BlobStore, data: bytes, piece: int, hint: int | None = None) -> object:
    st = store.create_staging(hint if hint is not None else len(data))
    for i in range(0, len(data), piece):
        st.write(memoryview(data)[i : i + piece])
    return st


@pytest.mark.parametrize(
    ("size", "piece"), [(0, 1), (1234, 100), (MIN_PART * 2 + 12345, 4 * MiB + 7)]
)
def test_staged_bytes_come_back_at_any_offset(store: BlobStore, size: int, piece: int) -> None:
    data = os.urandom(size)
    st = stage(store, data, piece)
    st.finish()  # type: ignore[attr-defined]
    r = st.reader()  # type: ignore[attr-defined]
    assert r.size == size
    for off, n in ((0, 10), (max(size - 5, 0), 10), (size // 2, MIN_PART + 3)):
        assert r.read_at(off, n) == data[off : off + n]
    assert b"".join(st.read_chunks(3 * MiB)) == data  # type: ignore[attr-defined]
    key = store.commit(st)  # type: ignore[arg-type]
    assert key in set(store.keys())
    assert store.size(key) == size
    with store.open(key) as f:
        assert f.read() == data
    assert store.reader(key).read_at(0, size) == data
    assert store.staging_leftovers() == []
    store.delete(key)
    assert key not in set(store.keys())


def test_an_abort_leaves_nothing(store: BlobStore) -> None:
    data = os.urandom(MIN_PART + 100)
    before = set(store.keys())
    st = stage(store, data, MiB)
    assert store.staging_leftovers() != []  # an upload (or a file) in progress is listed
    st.abort()  # type: ignore[attr-defined]
    assert store.staging_leftovers() == [] and set(store.keys()) == before
    st = stage(store, data, MiB)
    st.finish()  # type: ignore[attr-defined]
    st.abort()  # type: ignore[attr-defined]  # finished, then refused: the object goes too
    assert store.staging_leftovers() == [] and set(store.keys()) == before


def test_leftovers_are_removed_by_name(store: BlobStore) -> None:
    st = stage(store, b"x" * 1000, 100)
    ((name, _size),) = store.staging_leftovers()
    assert name == st.name  # type: ignore[attr-defined]
    store.remove_staging(name)
    assert store.staging_leftovers() == []
    with pytest.raises(ValueError, match="not a staging"):
        store.remove_staging("")


def test_quarantine_moves_a_blob_out_of_the_store(store: BlobStore) -> None:
    st = stage(store, b"orphan", 6)
    st.finish()  # type: ignore[attr-defined]
    key = store.commit(st)  # type: ignore[arg-type]
    where = store.quarantine(key)
    assert key in where and key not in set(store.keys())


def test_a_blob_tells_when_it_was_committed(store: BlobStore, tmp_path: Path) -> None:
    """The orphan sweep leaves young blobs alone (services/orphans.py): their age is
    the commit's, not the last write's — a resumable upload paused for days and
    committed now is young."""
    st = stage(store, b"committed now", 4)
    st.finish()  # type: ignore[attr-defined]
    name = st.name  # type: ignore[attr-defined]
    if name.endswith(".part"):  # the local store's file, last written three days ago
        part = tmp_path / "blobs" / ".staging" / name
        assert part.exists()
        os.utime(part, (time.time() - 3 * 86400,) * 2)
    before = time.time()
    key = store.commit(st)  # type: ignore[arg-type]
    at = store.committed_at(key)
    assert at is not None and before - 2 <= at <= time.time() + 2
    store.delete(key)
    assert store.committed_at(key) is None
    assert store.committed_at("0" * 32) is None


def test_a_staging_area_tells_when_it_was_touched(store: BlobStore) -> None:
    before = time.time()
    st = stage(store, b"staged", 6)
    name = st.name  # type: ignore[attr-defined]
    at = store.staging_touched_at(name)
    assert at is not None and before - 2 <= at <= time.time() + 2
    store.remove_staging(name)
    assert store.staging_touched_at(name) is None
    with pytest.raises(ValueError, match="not a staging"):
        store.staging_touched_at("")


def test_a_store_checks_that_it_can_be_used(store: BlobStore, tmp_path: Path) -> None:
    store.check()  # /healthz's check
    if (tmp_path / "blobs").exists():  # the local store: its folder gone
        (tmp_path / "blobs" / ".staging").rmdir()
        with pytest.raises(PermissionError, match="missing or not writable"):
            store.check()


def test_parts_fit_any_file_up_to_5_tib_in_10000_parts() -> None:
    for size in (0, 1, 5 * MiB, 80 * 10**9, 1 << 40, 5 << 40):
        p = part_size(size)
        assert p >= MIN_PART and p % MiB == 0 and -(-size // p) <= 9000
    assert part_size(None) == MIN_PART


@pytest.mark.parametrize("hint", [None, MIN_PART * 3])
def test_a_staging_area_taken_up_again_at_its_checkpoint(
    store: BlobStore, hint: int | None
) -> None:
    """A resumable upload's staging area: checkpointed, closed, reopened at the offset
    recorded (bytes written after it dropped), a refused piece truncated away, and the
    whole committed as if written at once."""
    data = os.urandom(MIN_PART * 2 + 5000)
    first = MIN_PART + 1234  # a whole part and a tail past it
    st = stage(store, data[:first], 1 * MiB, hint)
    st.checkpoint()  # type: ignore[attr-defined]
    st.write(b"x" * 100000)  # type: ignore[attr-defined]  # never checkpointed
    st.close()  # type: ignore[attr-defined]
    st = store.reopen_staging(st.name, first, hint)  # type: ignore[attr-defined]
    assert st.size == first
    st.write(b"bad" * 1000)
    st.truncate(first)  # a refused request's bytes
    st.write(data[first:])
    st.finish()
    assert st.reader().read_at(0, len(data)) == data
    assert b"".join(st.read_chunks()) == data
    key = store.commit(st)
    with store.open(key) as f:
        assert f.read() == data
    assert store.staging_leftovers() == []
    store.delete(key)
    with pytest.raises(FileNotFoundError):  # what downloads answer 404 for
        store.reader(key)
    with pytest.raises(FileNotFoundError):
        store.open(key)


def test_a_lost_staging_area_is_not_taken_up(store: BlobStore) -> None:
    st = stage(store, os.urandom(MIN_PART + 10), 1 * MiB)
    st.checkpoint()  # type: ignore[attr-defined]
    st.close()  # type: ignore[attr-defined]
    name = st.name  # type: ignore[attr-defined]
    store.remove_staging(name)
    with pytest.raises(FileNotFoundError):
        store.reopen_staging(name, MIN_PART + 10)
    assert store.staging_leftovers() == []
