"""Sending a file as multipart/form-data, hashed while it is read."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterator
from pathlib import Path

from osdepot.cli.client.common import CHUNK, CliError
from osdepot.cli.client.progress import Progress


def _part_head(boundary: str, name: str, filename: str | None = None) -> bytes:
    disp = f'form-data; name="{name}"'
    if filename is not None:
        safe = filename.replace("\\", "\\\\").replace('"', '\\"')
        disp += f'; filename="{safe}"'
        return (
            f"--{boundary}\r\nContent-Disposition: {disp}\r\n"
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
    return f"--{boundary}\r\nContent-Disposition: {disp}\r\n\r\n".encode()


class MultipartUpload:
    """The body of ``POST /files/osImages``, streamed from the file once.

    With a checksum algorithm, ``checksumType`` goes before the file (so the server
    hashes while it receives) and ``checksumValue``, computed while sending, after it.
    With ``value_first`` (``--checksum-first``), the file is read once beforehand and
    both fields go before it, for servers that read fields only before the file; with
    ``value`` (``--checksum-value``, or a digest computed already) that value goes
    before it and the file is not read for it.
    """

    def __init__(
        self, path: Path, algo: str | None, value_first: bool = False, value: str | None = None
    ) -> None:
        self.path, self.algo = path, algo
        self.size = path.stat().st_size
        self.boundary = "osdepot-" + secrets.token_hex(16)
        self.hasher = hashlib.new(algo) if algo else None
        self.sent = 0
        self.digest = ""
        self.value_first = (value_first or value is not None) and algo is not None
        if self.value_first and value is not None:
            # A value known beforehand (the vendor's, or one computed already): sent
            # before the file, and the server checks the bytes against it.
            self.digest = value.strip().lower()
        elif self.value_first:
            assert self.hasher is not None
            with path.open("rb") as f:
                while chunk := f.read(CHUNK):
                    self.hasher.update(chunk)
            self.digest = self.hasher.hexdigest()
        b = self.boundary
        self.head = b""
        if algo:
            self.head += _part_head(b, "checksumType") + algo.upper().encode() + b"\r\n"
            if self.value_first:
                self.head += _part_head(b, "checksumValue") + self.digest.encode() + b"\r\n"
        self.head += _part_head(b, "uploadedfile", path.name)

    def _tail(self, value: str) -> bytes:
        b = self.boundary
        t = b"\r\n"
        if self.algo and not self.value_first:
            t += _part_head(b, "checksumValue") + value.encode() + b"\r\n"
        return t + f"--{b}--\r\n".encode()

    @property
    def content_type(self) -> str:
        return f"multipart/form-data; boundary={self.boundary}"

    def length(self) -> int:
        digest = "0" * (hashlib.new(self.algo).digest_size * 2) if self.algo else ""
        return len(self.head) + self.size + len(self._tail(digest))

    def body(self, progress: Progress) -> Iterator[bytes]:
        yield self.head
        with self.path.open("rb") as f:
            while chunk := f.read(CHUNK):
                if self.hasher is not None and not self.value_first:
                    self.hasher.update(chunk)
                self.sent += len(chunk)
                yield chunk
                progress.update(self.sent)
        if self.sent != self.size:
            raise CliError(f"osdepot: {self.path} changed size while it was sent")
        if self.hasher is not None and not self.value_first:
            self.digest = self.hasher.hexdigest()
        yield self._tail(self.digest)
