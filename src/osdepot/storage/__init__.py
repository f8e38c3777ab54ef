"""Storage backends, chosen by URL: blob stores and the SQL catalog."""

from __future__ import annotations

from urllib.parse import urlparse

from osdepot.ports import BlobStore


def open_blob_store(url: str) -> BlobStore:
    """The blob store for ``url`` (``file:///path``)."""
    parsed = urlparse(url)
    if parsed.scheme == "file":
        from osdepot.storage.localfs import LocalBlobStore

        return LocalBlobStore(parsed.path)
    raise SystemExit(f"osdepot: unsupported blob store URL {url!r} (supported: file://)")
