"""The blob store on S3-compatible object storage (AWS S3, Ceph RGW, MinIO, SeaweedFS).

``OSDEPOT_BLOB_URL=s3://BUCKET[/PREFIX]?endpoint=http://HOST:PORT[&region=…]``, with the
credentials of the standard AWS chain (``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY``,
the configuration files, an instance role). Blobs are objects ``PREFIX/blobs/<key>``.

A staging area is an S3 multipart upload to the blob's own object: the bytes go out
in parts as they arrive (parts sized from the declared size so that any file up to
5 TiB fits in 10,000 parts; a few parts in flight at once, so memory stays bounded),
and ``finish`` completes the upload. The object then exists but no catalog row
references it: the content checks read it by ranged GETs, and the catalog commit
makes it part of the repository; ``abort`` aborts the upload or deletes the object.
``commit`` has nothing left to do. A staging area's ``name`` (``<key>/<upload id>``)
is what the catalog records while the transfer runs and what ``remove_staging``
aborts; ``staging_leftovers`` lists every multipart upload under the prefix.

A resumable upload's staging area lasts across requests and restarts: at each
``checkpoint`` the parts sent are complete and the bytes after the last whole part
(less than a part) are written to the object ``PREFIX/staging/<key>.tail``;
``reopen_staging`` lists the parts and reads that tail to go on where it stopped.
"""

from __future__ import annotations

import contextlib
import math
import os
import uuid
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, BinaryIO
from urllib.parse import parse_qs, urlparse

from osdepot.errors import ConfigError, StoreUnavailable

MIB = 1 << 20
#: the smallest part S3 takes (but the last) and the most parts of one upload
MIN_PART = 8 * MIB
MAX_PARTS = 10_000
#: bytes of parts held in memory per upload (in flight and being filled)
PART_MEMORY = 64 * MIB


def part_size(size_hint: int | None) -> int:
    """Parts of at least 8 MiB, whole MiB, so that ``size_hint`` bytes fit in 9,000
    parts (some room for a size that grows); without a hint, 8 MiB parts (80 GB)."""
    if not size_hint:
        return MIN_PART
    return max(MIN_PART, math.ceil(size_hint / 9000 / MIB) * MIB)


def parse_url(url: str) -> tuple[str, str, str | None, str | None]:
    """Bucket, prefix ("" or ending in /), endpoint and region of an ``s3://`` URL."""
    u = urlparse(url)
    if u.scheme != "s3" or not u.netloc:
        raise ConfigError(f"{url!r} is not an s3://BUCKET[/PREFIX] URL")
    q = parse_qs(u.query)
    prefix = u.path.strip("/")
    endpoint = q.get("endpoint", [""])[0] or None
    region = q.get("region", [""])[0] or None
    return u.netloc, f"{prefix}/" if prefix else "", endpoint, region


@contextlib.contextmanager
def _answering(where: str) -> Iterator[None]:
    """Turns "cannot reach the endpoint" and the store's own failures (5xx) into
    StoreUnavailable (boto3's own retries have run by then)."""
    from botocore.exceptions import (  # type: ignore[import-untyped]
        ClientError,
        ConnectionClosedError,
        ConnectTimeoutError,
        EndpointConnectionError,
        ReadTimeoutError,
    )

    try:
        yield
    except (
        EndpointConnectionError,
        ConnectionClosedError,
        ConnectTimeoutError,
        ReadTimeoutError,
    ) as exc:
        raise StoreUnavailable(f"the object store {where} does not answer ({exc})") from None
    except ClientError as exc:
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
        if status >= 500:  # the store's own failure (InternalError, SlowDown, …)
            raise StoreUnavailable(
                f"the object store {where} answered HTTP {status} ({exc})"
            ) from None
        raise


class _Guarded:
    """The boto3 client, every call and every paginator's pages answered as
    :func:`_answering` says."""

    def __init__(self, client: Any, where: str) -> None:
        self._client, self._where = client, where

    def __getattr__(self, name: str) -> Any:
        fn = getattr(self._client, name)
        if name == "get_paginator":
            return lambda operation: _GuardedPaginator(fn(operation), self._where)
        if not callable(fn):
            return fn

        def call(*args: Any, **kwargs: Any) -> Any:
            with _answering(self._where):
                return fn(*args, **kwargs)

        return call


class _GuardedPaginator:
    """A boto3 paginator whose pages, each a request, are answered as calls are: the
    store down while a listing runs is StoreUnavailable, not boto's own error."""

    def __init__(self, paginator: Any, where: str) -> None:
        self._paginator, self._where = paginator, where

    def paginate(self, **kwargs: Any) -> Iterator[dict[str, Any]]:
        pages = self._paginator.paginate(**kwargs)
        with _answering(self._where):
            yield from pages


def _staging_name(name: str) -> tuple[str, str]:
    """A staging area's name ``KEY/UPLOAD_ID``: its blob key and multipart upload id."""
    key, _, upload = name.partition("/")
    if not upload:
        raise ValueError(f"not a staging upload: {name!r}")
    return key, upload


def _code(exc: Any) -> str:
    """The S3 error code of a ClientError ("NoSuchKey", "NoSuchUpload", "404", …)."""
    return str(exc.response.get("Error", {}).get("Code", ""))


@contextlib.contextmanager
def _aborted_is_gone(upload_id: str | None) -> Iterator[None]:
    """A multipart upload aborted meanwhile (another node ended the import, or
    ``osdepot fsck --repair``) is FileNotFoundError, as a staging file removed is."""
    from botocore.exceptions import ClientError

    try:
        yield
    except ClientError as exc:
        if _code(exc) != "NoSuchUpload":
            raise
        raise FileNotFoundError(f"the multipart upload {upload_id} was aborted") from None


def _missing(exc: Any) -> bool:
    """Whether a ClientError says the object is not there."""
    return _code(exc) in ("404", "NoSuchKey")


class S3Reader:
    """:class:`osdepot.ports.RandomAccess` over one object: ranged GETs."""

    def __init__(self, store: S3BlobStore, key: str, size: int | None = None) -> None:
        self._store, self._key = store, key
        self._size = store.size(key) if size is None else size

    @property
    def size(self) -> int:
        return self._size

    def read_at(self, offset: int, n: int) -> bytes:
        """FileNotFoundError when the object is gone (deleted after this reader was
        made: an object, unlike an open local file, does not outlive its deletion)."""
        from botocore.exceptions import ClientError

        n = max(0, min(n, self._size - offset))
        if n == 0:
            return b""
        try:
            r = self._store.s3.get_object(
                Bucket=self._store.bucket,
                Key=self._store.object_key(self._key),
                Range=f"bytes={offset}-{offset + n - 1}",
            )
        except ClientError as exc:
            if _missing(exc):
                raise FileNotFoundError(self._key) from None
            raise
        with contextlib.closing(r["Body"]) as body:
            return bytes(body.read())

    def close(self) -> None:
        pass


class S3Staging:
    """One multipart upload (see the module's docstring). ``write`` is called by one
    thread at a time, in order."""

    def __init__(
        self,
        store: S3BlobStore,
        size_hint: int | None,
        name: str | None = None,
        at: int = 0,
    ) -> None:
        """A new multipart upload, or (``name``) the one of that name, taken up again
        after its first ``at`` bytes: its parts as S3 lists them, and the bytes past
        the last whole part from the tail object its last checkpoint wrote."""
        self._store = store
        self.part_size = part_size(size_hint)
        self._depth = max(1, PART_MEMORY // self.part_size - 1)
        self._buf = bytearray()
        self._parts: list[dict[str, Any]] = []
        self._inflight: deque[Future[dict[str, Any]]] = deque()
        self._size = 0
        self._finished = False
        if name is None:
            self._key = uuid.uuid4().hex
            self._object = store.object_key(self._key)
            self.upload_id: str | None = store.s3.create_multipart_upload(
                Bucket=store.bucket, Key=self._object
            )["UploadId"]
        else:
            self._key, upload = _staging_name(name)
            self._object = store.object_key(self._key)
            self.upload_id = upload
            self._restore(at)
        self._checkpointed = self._size

    @property
    def _tail(self) -> str:
        """The object holding the bytes after the last whole part at a checkpoint."""
        return f"{self._store.prefix}staging/{self._key}.tail"

    def _restore(self, at: int) -> None:
        """Back to offset ``at`` of a checkpoint (FileNotFoundError if the upload, a
        part or the tail is gone)."""
        from botocore.exceptions import ClientError

        s = self._store
        whole, rest = divmod(at, self.part_size)
        parts: dict[int, dict[str, Any]] = {}
        try:
            pages = s.s3.get_paginator("list_parts").paginate(
                Bucket=s.bucket, Key=self._object, UploadId=self.upload_id
            )
            for page in pages:
                for p in page.get("Parts", []):
                    parts[int(p["PartNumber"])] = p
            tail = b""
            if rest:
                tail = s.s3.get_object(Bucket=s.bucket, Key=self._tail)["Body"].read()
        except ClientError as exc:
            raise FileNotFoundError(f"staging upload {self.name}: {exc}") from None
        kept = []
        for n in range(1, whole + 1):
            p = parts.get(n)
            if p is None or int(p["Size"]) != self.part_size:
                raise FileNotFoundError(f"staging upload {self.name}: part {n} is missing")
            kept.append({"PartNumber": n, "ETag": p["ETag"]})
        if len(tail) < rest:
            raise FileNotFoundError(f"staging upload {self.name}: its tail is missing")
        self._parts = kept
        self._inflight.clear()
        self._buf = bytearray(tail[:rest])
        self._size = at

    @property
    def key(self) -> str:
        return self._key

    @property
    def name(self) -> str:
        return f"{self._key}/{self.upload_id}"

    @property
    def size(self) -> int:
        return self._size

    def write(self, data: bytes | memoryview) -> None:
        if self._finished or self.upload_id is None:
            raise ValueError("staging upload is closed")
        self._buf += data
        self._size += len(data)
        while len(self._buf) >= self.part_size:
            piece = bytes(self._buf[: self.part_size])
            del self._buf[: self.part_size]
            self._send(piece)

    def _send(self, body: bytes) -> None:
        while len(self._inflight) >= self._depth:
            self._parts.append(self._inflight.popleft().result())
        number = len(self._parts) + len(self._inflight) + 1
        if number > MAX_PARTS:
            raise OSError(f"the file is larger than {MAX_PARTS} parts of {self.part_size} bytes")
        self._inflight.append(self._store.pool.submit(self._upload_part, number, body))

    def _upload_part(self, number: int, body: bytes) -> dict[str, Any]:
        s = self._store
        with _aborted_is_gone(self.upload_id):
            r = s.s3.upload_part(
                Bucket=s.bucket, Key=self._object, UploadId=self.upload_id, PartNumber=number,
                Body=body,
            )  # fmt: skip
        return {"PartNumber": number, "ETag": r["ETag"]}

    def _drain(self) -> None:
        while self._inflight:
            self._parts.append(self._inflight.popleft().result())

    def checkpoint(self) -> None:
        """The parts sent are complete and the bytes after them are in the tail object."""
        if self._finished or self.upload_id is None:
            raise ValueError("staging upload is closed")
        self._drain()
        s = self._store
        if self._buf:
            s.s3.put_object(Bucket=s.bucket, Key=self._tail, Body=bytes(self._buf))
        self._checkpointed = self._size

    def truncate(self, size: int) -> None:
        if size < self._checkpointed or size > self._size:
            raise ValueError(f"cannot truncate to {size} (checkpoint {self._checkpointed})")
        for fut in self._inflight:
            fut.cancel()
        with contextlib.suppress(Exception):
            self._drain()
        self._restore(size)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._drain()
        self._buf = bytearray()

    def _drop_tail(self) -> None:
        s = self._store
        with contextlib.suppress(Exception):
            s.s3.delete_object(Bucket=s.bucket, Key=self._tail)

    def finish(self) -> None:
        if self._buf or not (self._parts or self._inflight):
            self._send(bytes(self._buf))  # the last part (an empty file: one empty part)
            self._buf = bytearray()
        self._drain()
        s = self._store
        with _aborted_is_gone(self.upload_id):
            s.s3.complete_multipart_upload(
                Bucket=s.bucket,
                Key=self._object,
                UploadId=self.upload_id,
                MultipartUpload={"Parts": sorted(self._parts, key=lambda p: p["PartNumber"])},
            )
        self._finished = True
        self._drop_tail()

    def reader(self) -> S3Reader:
        return S3Reader(self._store, self._key, self._size)

    def read_chunks(self, chunk_size: int = 4 << 20) -> Iterator[bytes]:
        reader = self.reader()
        pos = 0
        while pos < self._size:
            chunk = reader.read_at(pos, chunk_size)
            if not chunk:
                break
            pos += len(chunk)
            yield chunk

    def abort(self) -> None:
        for fut in self._inflight:
            fut.cancel()
        with contextlib.suppress(Exception):
            self._drain()
        s = self._store
        if self._finished:
            s.delete(self._key)
        elif self.upload_id is not None:
            with contextlib.suppress(Exception):
                s.s3.abort_multipart_upload(
                    Bucket=s.bucket, Key=self._object, UploadId=self.upload_id
                )
        self.upload_id = None
        self._buf = bytearray()
        self._drop_tail()


class S3BlobStore:
    """:class:`osdepot.ports.BlobStore` on a bucket of S3-compatible storage."""

    shared = True

    def __init__(self, url: str, client: Any = None) -> None:
        self.bucket, self.prefix, endpoint, region = parse_url(url)
        if client is None:
            try:
                import boto3  # type: ignore[import-untyped]
                from botocore.config import Config  # type: ignore[import-untyped]
            except ImportError:
                raise ConfigError(
                    "an s3:// blob store needs boto3: pip install 'osdepot[s3]'"
                ) from None

            client = boto3.client(
                "s3",
                endpoint_url=endpoint,
                region_name=region or "us-east-1",
                config=Config(
                    max_pool_connections=32,
                    # the AWS chain's own setting when given (AWS_MAX_ATTEMPTS)
                    retries={
                        "max_attempts": int(os.environ.get("AWS_MAX_ATTEMPTS") or 5),
                        "mode": "standard",
                    },
                    connect_timeout=10,
                    read_timeout=60,
                    # no CRC32 of every part unless an operation needs one: over HTTPS
                    # TLS guards the bytes, over HTTP SigV4 signs each part's SHA-256,
                    # and osdepot checks the whole file's SHA-256 itself. (It also
                    # leaves out the checksum headers botocore 1.36 began to send,
                    # which S3 servers other than AWS's have been reported to refuse.)
                    request_checksum_calculation="when_required",
                    response_checksum_validation="when_required",
                ),
            )
        self.s3 = _Guarded(client, endpoint or "(AWS)")
        #: uploads of parts, for every staging upload of this store
        self.pool = ThreadPoolExecutor(16, thread_name_prefix="osdepot-s3")
        self._ensure_bucket()

    def _ensure_bucket(self) -> None:
        from botocore.exceptions import ClientError

        try:
            self.s3.head_bucket(Bucket=self.bucket)
        except ClientError as exc:
            code = _code(exc)
            if code not in ("404", "NoSuchBucket", "NotFound"):
                raise ConfigError(f"the bucket {self.bucket!r} cannot be used: {exc}") from None
            self.s3.create_bucket(Bucket=self.bucket)

    def object_key(self, key: str) -> str:
        if len(key) != 32 or not all(c in "0123456789abcdef" for c in key):
            raise ValueError(f"not a blob key: {key!r}")
        return f"{self.prefix}blobs/{key}"

    def create_staging(self, size_hint: int | None = None) -> S3Staging:
        return S3Staging(self, size_hint)

    def reopen_staging(self, name: str, size: int, size_hint: int | None = None) -> S3Staging:
        return S3Staging(self, size_hint, name=name, at=size)

    def commit(self, staging: Any) -> str:
        if not isinstance(staging, S3Staging):
            raise TypeError("not a staging upload of this store")
        return staging.key  # the object is complete since finish()

    def reader(self, key: str) -> S3Reader:
        return S3Reader(self, key)

    def open(self, key: str) -> BinaryIO:
        from botocore.exceptions import ClientError

        try:
            answer = self.s3.get_object(Bucket=self.bucket, Key=self.object_key(key))
        except ClientError as exc:
            if _missing(exc):
                raise FileNotFoundError(key) from None
            raise
        body: BinaryIO = answer["Body"]
        return body

    def _head(self, key: str) -> dict[str, Any]:
        from botocore.exceptions import ClientError

        try:
            head: dict[str, Any] = self.s3.head_object(Bucket=self.bucket, Key=self.object_key(key))
        except ClientError as exc:
            if _missing(exc):
                raise FileNotFoundError(key) from None
            raise
        return head

    def size(self, key: str) -> int:
        return int(self._head(key)["ContentLength"])

    def delete(self, key: str) -> None:
        self.s3.delete_object(Bucket=self.bucket, Key=self.object_key(key))

    def committed_at(self, key: str) -> float | None:
        try:
            return float(self._head(key)["LastModified"].timestamp())
        except FileNotFoundError:
            return None

    def keys(self) -> Iterator[str]:
        pages = self.s3.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=f"{self.prefix}blobs/"
        )
        for page in pages:
            for obj in page.get("Contents", []):
                name = str(obj["Key"]).rpartition("/")[2]
                if len(name) == 32:
                    yield name

    def _uploads(self) -> Iterator[tuple[str, str]]:
        pages = self.s3.get_paginator("list_multipart_uploads").paginate(
            Bucket=self.bucket, Prefix=f"{self.prefix}blobs/"
        )
        for page in pages:
            for up in page.get("Uploads", []):
                yield str(up["Key"]).rpartition("/")[2], str(up["UploadId"])

    def staging_leftovers(self) -> list[tuple[str, int]]:
        return [(f"{key}/{upload}", 0) for key, upload in self._uploads()]

    def remove_staging(self, name: str) -> None:
        key, upload = _staging_name(name)
        from botocore.exceptions import ClientError

        with contextlib.suppress(ClientError):
            self.s3.abort_multipart_upload(
                Bucket=self.bucket, Key=self.object_key(key), UploadId=upload
            )
        with contextlib.suppress(ClientError):
            self.s3.delete_object(Bucket=self.bucket, Key=f"{self.prefix}staging/{key}.tail")

    def staging_touched_at(self, name: str) -> float | None:
        key, upload = _staging_name(name)
        pages = self.s3.get_paginator("list_multipart_uploads").paginate(
            Bucket=self.bucket, Prefix=self.object_key(key)
        )
        for page in pages:
            for up in page.get("Uploads", []):
                if up["UploadId"] == upload:
                    return float(up["Initiated"].timestamp())
        return None

    def quarantine(self, key: str) -> str:
        """Into ``PREFIX/lost+found/<key>`` of the same bucket."""
        target = f"{self.prefix}lost+found/{key}"
        self.s3.copy({"Bucket": self.bucket, "Key": self.object_key(key)}, self.bucket, target)
        self.delete(key)
        return f"s3://{self.bucket}/{target}"

    def clear_staging(self, keep: Iterable[str] = ()) -> int:
        """Nothing at start-up: other nodes' uploads to the same bucket are running.
        The uploads of this node's interrupted jobs are aborted by name (the catalog
        records them), and `osdepot fsck --repair` aborts those no job owns."""
        return 0

    def free_bytes(self) -> int | None:
        return None

    def check(self) -> None:
        from botocore.exceptions import ClientError

        try:
            self.s3.head_bucket(Bucket=self.bucket)
        except ClientError as exc:  # 403, 404: it answers, and refuses
            raise PermissionError(f"the bucket {self.bucket}: {_code(exc) or exc}") from None
