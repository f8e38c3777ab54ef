"""Storage backends, chosen by URL: blob stores and the SQL catalog."""

from __future__ import annotations

from urllib.parse import urlparse

from osdepot.errors import ConfigError
from osdepot.ports import BlobStore


def open_blob_store(url: str, direct_io: bool = True) -> BlobStore:
    """The blob store for ``url`` (``file:///path``); ``direct_io`` lets it write
    staging files with O_DIRECT where the filesystem supports it."""
    parsed = urlparse(url)
    if parsed.scheme == "file":
        from osdepot.storage.localfs import LocalBlobStore

        return LocalBlobStore(parsed.path, direct_io)
    if parsed.scheme == "s3":
        from osdepot.storage.s3 import S3BlobStore

        return S3BlobStore(url)
    raise ConfigError(f"unsupported blob store URL {url!r} (supported: file://, s3://)")
