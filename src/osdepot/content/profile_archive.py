"""The archive of an exported OS-image profile (``osdepot-profile/1``), written by an
export and verified member by member when it is imported again as ``OSPROFILE``.

A gzip-compressed tar of regular files, in this order::

    manifest.json         {"format", "files": [{"path", "size", "sha256", "file"?}]}
    profile.json          the profile, its OS image and its customizationOptions
    files/NN-<name>       each file the profile holds ("file": its catalog labels)

The manifest comes first so that a reader checks every later member against it as
it streams by: a member must be a regular file listed in the manifest, once, with
the listed size and SHA-256; every listed member must come; nothing else may. The
archive never holds the OS medium itself: the profile names it (id and SHA-256),
and an import refuses an archive whose medium the repository does not hold.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import re
import tarfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, Any

from osdepot.domain.text import strict_json
from osdepot.errors import ContentError
from osdepot.ports import RandomAccess

FORMAT = "osdepot-profile/1"
MANIFEST = "manifest.json"
DEFINITION = "profile.json"
#: manifest.json and profile.json are read into memory: at most this many bytes each
MAX_JSON = 1 << 20
MAX_MEMBERS = 1000
_MEMBER = re.compile(r"^files/[0-9]{2,4}-[^/\x00-\x1f\x7f]{1,200}$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
CHUNK = 1 << 20


@dataclass(frozen=True)
class Member:
    """One listed member: its path, size, SHA-256 and (for a profile's file) the
    catalog labels the file had where it was exported."""

    path: str
    size: int
    sha256: str
    file: dict[str, Any]


class RandomAccessStream(io.RawIOBase):
    """A read-only stream over a :class:`RandomAccess` (tarfile reads through it)."""

    def __init__(self, source: RandomAccess, start: int = 0) -> None:
        self.source, self.pos = source, start

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        data = self.source.read_at(self.pos, len(b))
        n = len(data)
        b[:n] = data
        self.pos += n
        return n


def member_path(n: int, name: str) -> str:
    """Where the n-th file of a profile goes in the archive."""
    return f"files/{n:02d}-{name}"


def write_archive(
    sink: IO[bytes],
    definition: dict[str, Any],
    files: list[tuple[Member, Callable[[], IO[bytes]]]],
    mtime: float,
) -> None:
    """Write the archive of ``definition`` and ``files`` (each a listed member and a
    way to open its bytes) to ``sink`` as a stream (nothing is held whole)."""
    body = json.dumps({"format": FORMAT, **definition}, indent=2, sort_keys=True).encode()
    listed = [
        {"path": DEFINITION, "size": len(body), "sha256": hashlib.sha256(body).hexdigest()},
        *({"path": m.path, "size": m.size, "sha256": m.sha256, "file": m.file} for m, _ in files),
    ]
    manifest = json.dumps({"format": FORMAT, "files": listed}, indent=2).encode()
    # level 1: the files a profile holds are mostly compressed already
    gz = gzip.GzipFile(filename="", mode="wb", fileobj=sink, compresslevel=1, mtime=int(mtime))
    with gz, tarfile.open(fileobj=gz, mode="w|", format=tarfile.PAX_FORMAT) as tar:

        def add(path: str, size: int, data: IO[bytes]) -> None:
            info = tarfile.TarInfo(path)
            info.size, info.mtime, info.mode = size, int(mtime), 0o644
            info.uname = info.gname = "osdepot"
            tar.addfile(info, data)

        add(MANIFEST, len(manifest), io.BytesIO(manifest))
        add(DEFINITION, len(body), io.BytesIO(body))
        for member, opener in files:
            with opener() as data:
                add(member.path, member.size, data)


@dataclass(frozen=True)
class ReadArchive:
    """A verified archive: its profile definition and its listed file members."""

    definition: dict[str, Any]
    members: list[Member]


def read_archive(
    source: RandomAccess, keep: Callable[[Member, Iterator[bytes]], None]
) -> ReadArchive:
    """Read and verify an archive as it streams by; each file member's bytes go to
    ``keep`` (which must consume them), and are verified after it returns. Raises
    ContentError naming the first thing wrong."""
    stream = io.BufferedReader(RandomAccessStream(source), CHUNK)
    try:
        with tarfile.open(fileobj=stream, mode="r|gz") as tar:
            return _read(tar, keep)
    except (tarfile.TarError, OSError, EOFError, ValueError) as exc:
        raise ContentError(
            f"it is not a gzip-compressed tar archive, or it is damaged or cut short ({exc})"
        ) from None


def _read(tar: tarfile.TarFile, keep: Callable[[Member, Iterator[bytes]], None]) -> ReadArchive:
    listed: dict[str, Member] | None = None
    seen: set[str] = set()
    definition: dict[str, Any] | None = None
    for info in tar:
        if len(seen) >= MAX_MEMBERS + 2:
            raise ContentError(f"it holds more than {MAX_MEMBERS} members")
        if listed is None:
            if info.name != MANIFEST or not info.isreg():
                raise ContentError(f"its first member is {info.name!r}, not {MANIFEST}")
            listed = _manifest(_small(tar, info))
            seen.add(MANIFEST)
            continue
        member = listed.get(info.name)
        if member is None or not info.isreg():
            raise ContentError(
                f"it holds {info.name!r}, which its manifest does not list"
                + ("" if info.isreg() else " (and is not a regular file)")
            )
        if info.name in seen:
            raise ContentError(f"it holds {info.name!r} twice")
        seen.add(info.name)
        if info.size != member.size:
            raise ContentError(
                f"{info.name} has {info.size} bytes; the manifest lists {member.size}"
            )
        if info.name == DEFINITION:
            data = _small(tar, info)
            _check(member, hashlib.sha256(data).hexdigest())
            definition = _definition(data)
            continue
        digest = hashlib.sha256()
        f = tar.extractfile(info)
        assert f is not None

        def chunks(f: IO[bytes] = f, digest: Any = digest) -> Iterator[bytes]:
            while chunk := f.read(CHUNK):
                digest.update(chunk)
                yield chunk

        keep(member, chunks())
        _check(member, digest.hexdigest())
    if listed is None:
        raise ContentError(f"it is empty (no {MANIFEST})")
    absent = sorted(set(listed) - seen)
    if absent:
        raise ContentError(f"{absent[0]}, which its manifest lists, is not in it")
    assert definition is not None  # listed always holds profile.json
    return ReadArchive(definition, [m for p, m in listed.items() if p != DEFINITION])


def _small(tar: tarfile.TarFile, info: tarfile.TarInfo) -> bytes:
    if info.size > MAX_JSON:
        raise ContentError(f"{info.name} has {info.size} bytes, more than {MAX_JSON}")
    f = tar.extractfile(info)
    assert f is not None
    return f.read()


def _check(member: Member, actual: str) -> None:
    if actual != member.sha256:
        raise ContentError(
            f"the SHA-256 of {member.path} is {actual}; the manifest lists {member.sha256}"
        )


def _json(data: bytes, what: str) -> dict[str, Any]:
    try:
        doc = strict_json(data)
    except ValueError as exc:
        raise ContentError(f"{what} is not valid JSON ({exc})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ContentError(f"{what} is not of the format {FORMAT}")
    return doc


def _manifest(data: bytes) -> dict[str, Member]:
    doc = _json(data, MANIFEST)
    entries = doc.get("files")
    if not isinstance(entries, list) or len(entries) > MAX_MEMBERS + 1:
        raise ContentError(f"{MANIFEST} lists no files, or more than {MAX_MEMBERS}")
    out: dict[str, Member] = {}
    for e in entries:
        if not isinstance(e, dict):
            raise ContentError(f"{MANIFEST} lists something that is not a file")
        path, size, digest = e.get("path"), e.get("size"), e.get("sha256")
        if not isinstance(path, str) or not (path == DEFINITION or _MEMBER.match(path)):
            raise ContentError(f"{MANIFEST} lists the path {path!r}, which is not allowed")
        if ".." in path.split("/") or path in out:
            raise ContentError(f"{MANIFEST} lists the path {path!r} twice or escaping")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise ContentError(f"{MANIFEST} gives {path} no valid size")
        if not isinstance(digest, str) or not _HEX64.match(digest):
            raise ContentError(f"{MANIFEST} gives {path} no valid SHA-256")
        file = e.get("file") or {}
        if path != DEFINITION and not isinstance(file, dict):
            raise ContentError(f"{MANIFEST} gives {path} no file labels")
        out[path] = Member(path, size, digest, file)
    if DEFINITION not in out:
        raise ContentError(f"{MANIFEST} does not list {DEFINITION}")
    return out


def _definition(data: bytes) -> dict[str, Any]:
    doc = _json(data, DEFINITION)
    for key in ("profile", "osImage"):
        if not isinstance(doc.get(key), dict):
            raise ContentError(f"{DEFINITION} has no {key}")
    return doc
