"""``osdepot import``'s upload: a tus 1.0 resumable upload that survives a network cut
or a server restart by itself (retries with back-off, the offset asked with HEAD),
and that ``--resume`` continues after the command itself was stopped.

The file goes in one PATCH from the offset to its last MiB, then the last MiB in a
second PATCH that carries the whole file's checksum (RFC 9530 ``Repr-Digest``),
computed while the file was sent (a checksum known beforehand goes with the
creation instead, in ``Upload-Metadata``, and the file in one PATCH). Where an
upload is, is kept in ``~/.config/osdepot/uploads/`` until it ends.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx

from osdepot.cli.client.common import CHUNK, FAILED, CliError
from osdepot.cli.client.http import Api
from osdepot.cli.client.profiles import config_dir
from osdepot.cli.client.progress import Progress

TUS = {"Tus-Resumable": "1.0.0"}
OCTETS = "application/offset+octet-stream"
#: the last bytes, sent with the whole file's checksum
TAIL = 1 << 20
#: seconds between attempts after a failure, then the last one again
BACKOFF = (1, 2, 4, 8, 15, 30)
#: RFC 9530 names of the checksum algorithms
DIGEST_NAMES = {"sha256": "sha-256", "sha512": "sha-512", "md5": "md5", "sha1": "sha"}


@dataclass
class UploadState:
    """Where an upload is (for ``--resume``): the server, the upload's URL, its job,
    and the file it sends, as it was then."""

    server: str
    location: str
    job: str
    file: str
    size: int
    mtime: float
    algo: str | None
    #: the whole file's checksum, when it went with the creation
    value: str | None = None

    @staticmethod
    def path(server: str, file: Path) -> Path:
        key = hashlib.sha256(f"{server}\0{file.resolve()}".encode()).hexdigest()[:32]
        return config_dir().parent / "uploads" / f"{key}.json"

    def save(self) -> None:
        p = self.path(self.server, Path(self.file))
        p.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(p.parent, 0o700)
        tmp = p.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self)))
        os.replace(tmp, p)

    @classmethod
    def load(cls, server: str, file: Path) -> UploadState | None:
        try:
            return cls(**json.loads(cls.path(server, file).read_text()))
        except (FileNotFoundError, ValueError, TypeError):
            return None

    def forget(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path(self.server, Path(self.file)).unlink()


class ResumableUpload:
    """One file sent to an upload's URL, whatever happens to the connection."""

    def __init__(
        self,
        api: Api,
        state: UploadState,
        bar: Progress,
        value_known: bool,
        retries: int = len(BACKOFF) + 4,
    ) -> None:
        self.api, self.state, self.bar = api, state, bar
        self.path = Path(state.file)
        self.algo = None if value_known else state.algo
        self.hasher = hashlib.new(self.algo) if self.algo else None
        self.hashed = 0  # bytes of the file the hasher took, in order
        self.retries = retries
        self.attempts = 0

    def _check_file(self) -> None:
        st = self.path.stat()
        if st.st_size != self.state.size or st.st_mtime != self.state.mtime:
            raise CliError(f"osdepot: {self.path} changed since its upload began", FAILED)

    def _hash_to(self, offset: int) -> None:
        """The hasher catches up with ``offset`` by reading the file here (a resume
        whose earlier bytes this process did not send)."""
        if self.hasher is None or self.hashed >= offset:
            return
        with self.path.open("rb") as f:
            f.seek(self.hashed)
            while self.hashed < offset:
                chunk = f.read(min(CHUNK, offset - self.hashed))
                if not chunk:
                    break
                self.hasher.update(chunk)
                self.hashed += len(chunk)

    def _body(self, start: int, end: int) -> Iterator[bytes]:
        with self.path.open("rb") as f:
            f.seek(start)
            at = start
            while at < end:
                chunk = f.read(min(CHUNK, end - at))
                if not chunk:
                    raise CliError(f"osdepot: {self.path} ended early while it was sent")
                if self.hasher is not None and at + len(chunk) > self.hashed:
                    self.hasher.update(chunk[self.hashed - at :] if self.hashed > at else chunk)
                    self.hashed = at + len(chunk)
                at += len(chunk)
                self.bar.update(at)
                yield chunk

    def offset(self) -> int:
        r = self.api.http.head(self.state.location, headers=TUS)
        if r.status_code != 200:
            self.api.answer(r)  # the server's refusal, in its words
            raise CliError(f"osdepot: the upload's offset could not be read (HTTP {r.status_code})")
        return int(r.headers["Upload-Offset"])

    def _patch(self, start: int, end: int) -> httpx.Response:
        headers = {**TUS, "Upload-Offset": str(start), "Content-Type": OCTETS}
        headers["Content-Length"] = str(end - start)
        self._hash_to(start)  # the bytes before this request's, when it resumes
        if end == self.state.size and self.hasher is not None:
            list(self._body_hash_only(start, end))
            digest = base64.b64encode(self.hasher.digest()).decode()
            assert self.algo is not None
            headers["Repr-Digest"] = f"{DIGEST_NAMES[self.algo]}=:{digest}:"
        return self.api.http.patch(
            self.state.location,
            content=self._body(start, end),
            headers=headers,
            timeout=httpx.Timeout(None, connect=15.0),
        )

    def _body_hash_only(self, start: int, end: int) -> Iterator[None]:
        """Hash the last piece before it is sent (its checksum goes in its headers)."""
        if self.hasher is None:
            return
        with self.path.open("rb") as f:
            f.seek(self.hashed)
            while self.hashed < end:
                chunk = f.read(min(CHUNK, end - self.hashed))
                if not chunk:
                    break
                self.hasher.update(chunk)
                self.hashed += len(chunk)
                yield None

    def run(self, start: int = 0) -> Any:
        """Send the file from ``start`` (the offset) to its end; the server's last
        answer (the import's outcome). Network failures and 5xx/423/409 answers are
        retried with back-off, each time from the offset the server tells."""
        offset = start
        while True:
            self._check_file()
            try:
                size = self.state.size
                split = max(size - TAIL, 0) if self.hasher is not None else size
                if offset < split:
                    r = self._patch(offset, split)
                    if r.status_code == 204:
                        offset = int(r.headers["Upload-Offset"])
                        self.attempts = 0
                        continue
                else:
                    r = self._patch(offset, size)
                    if r.status_code in (200, 201):
                        return r
                ended = "Osdepot-Job-Status" in r.headers  # the import ended with it
                if ended or (r.status_code < 500 and r.status_code not in (409, 423)):
                    return r  # the server's refusal or the import's failure, as told
                failure = f"HTTP {r.status_code}"
            except httpx.TransportError as exc:
                failure = str(exc) or type(exc).__name__
            offset = self._retry(failure)

    def _retry(self, failure: str) -> int:
        """Wait, then ask the server where the upload stands (again and again while it
        cannot be reached)."""
        while True:
            if self.attempts >= self.retries:
                raise CliError(
                    f"osdepot: the upload of {self.path.name} was interrupted ({failure}); "
                    f"run `osdepot import {self.path} --resume` to continue it",
                    FAILED,
                )
            delay = BACKOFF[min(self.attempts, len(BACKOFF) - 1)]
            self.attempts += 1
            self.bar.note(f"interrupted ({failure}); retrying in {delay} s")
            time.sleep(delay)
            try:
                return self.offset()
            except httpx.TransportError as exc:
                failure = str(exc) or type(exc).__name__
