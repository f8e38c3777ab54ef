"""An installation medium checked against its own metadata.

Media declare checksums of (some of) their files: RHEL-like trees in ``.treeinfo``
(``[checksums]``, ``sha256:…``), SUSE in ``CHECKSUMS`` / ``SHA256SUMS``, Ubuntu and
Debian in ``md5sum.txt`` / ``SHA256SUMS``; RPM repositories in
``repodata/repomd.xml`` (the checksum of each metadata file); ESXi's ``boot.cfg``
names the modules the installer loads. :func:`verify_medium` reads exactly the files
declared, hashes them, and raises :class:`ContentError` naming the first file that
does not match, or that the installer needs and is not on the medium.

What must exist: the files ``.treeinfo`` names for the installer (kernel, initrd,
stage 2) and the files of its ``[checksums]`` (but ``images/boot.iso``, the tree's
network-install image, which DVDs built from the tree leave out), the metadata
files a ``repomd.xml`` points at, and the modules of ``boot.cfg``. A file listed by
a whole-medium checksum list (``md5sum.txt``, ``SHA256SUMS``, ``CHECKSUMS``) that is
not found is counted, not refused: those lists name every file, and a name this
reader cannot resolve must not turn a sound medium away.

The work is bounded by the medium: each file is hashed once whatever the number of
lists naming it (for every algorithm they use, in one pass), and a medium whose lists
declare more bytes than it holds is refused.
"""

from __future__ import annotations

import configparser
import hashlib
import hmac
import re
from dataclasses import dataclass, field

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from osdepot.content.media.model import Medium, check_lines
from osdepot.content.source import ContentError, FileData

#: bytes hashed per read
CHUNK = 4 << 20
#: the most entries read from one checksum list, and the most bytes of a list
MAX_ENTRIES = 500_000
MAX_LIST_BYTES = 64 << 20

_ALGORITHMS = {"sha256": 64, "sha512": 128, "sha1": 40, "md5": 32}
#: files a tree's .treeinfo may name that a medium built from the tree leaves out
_NOT_ON_MEDIA = frozenset({"images/boot.iso"})


@dataclass
class Declared:
    """What the medium's metadata says of one of its files."""

    path: str
    #: algorithm → (hex digest, the list that declared it)
    digests: dict[str, tuple[str, str]] = field(default_factory=dict)
    #: the list that requires it to exist ("" when only a whole-medium list names it)
    required_by: str = ""
    #: a whole-medium list that names it
    listed_by: str = ""


@dataclass
class Verified:
    """What :func:`verify_medium` checked."""

    sources: list[str] = field(default_factory=list)
    files: int = 0
    bytes: int = 0
    #: files named by a whole-medium list that were not found
    not_found: int = 0

    def as_json(self) -> dict[str, object]:
        return {
            "sources": self.sources,
            "files": self.files,
            "bytes": self.bytes,
            "listedNotFound": self.not_found,
        }


def _norm(path: str) -> str:
    path = path.strip().replace("\\", "/")
    while path.startswith("./"):
        path = path[2:]
    return path.lstrip("/")


class _Declarations:
    def __init__(self) -> None:
        self.files: dict[str, Declared] = {}
        self.sources: list[str] = []
        self.entries = 0

    def _get(self, path: str) -> Declared:
        key = _norm(path)
        if not key or ".." in key.split("/"):
            raise ContentError(
                f"its metadata names {path!r}, which is not a path on the medium",
                found="damaged installation metadata",
            )
        self.entries += 1
        if self.entries > MAX_ENTRIES:
            raise ContentError(
                f"its checksum lists name more than {MAX_ENTRIES} files",
                found="oversized installation metadata",
            )
        d = self.files.get(key)
        if d is None:
            d = self.files[key] = Declared(key)
        return d

    def digest(self, path: str, algorithm: str, value: str, source: str, *, whole: bool) -> None:
        value = value.strip().lower()
        if len(value) != _ALGORITHMS[algorithm] or not re.fullmatch(r"[0-9a-f]+", value):
            raise ContentError(
                f"its {source} gives {path} a malformed {algorithm.upper()} value {value!r}",
                found="damaged installation metadata",
            )
        d = self._get(path)
        before = d.digests.get(algorithm)
        if before is not None and before[0] != value:
            raise ContentError(
                f"{d.path}: its {source} and {before[1]} give it different "
                f"{algorithm.upper()} values — the medium's metadata contradicts itself",
                found="damaged installation metadata",
            )
        d.digests[algorithm] = (value, source)
        if whole:
            d.listed_by = d.listed_by or source
        else:
            d.required_by = d.required_by or source

    def require(self, path: str, source: str) -> None:
        d = self._get(path)
        d.required_by = d.required_by or source


def _text(m: Medium, path: str) -> tuple[str, str] | None:
    f = m.open(path)
    if f is None:
        return None
    if f.size > MAX_LIST_BYTES:
        raise ContentError(
            f"its {path} is {f.size} bytes, more than a checksum list can be",
            found="oversized installation metadata",
        )
    return f.name, f.read().decode("utf-8", "replace")


def _treeinfo(m: Medium, decl: _Declarations) -> list[str]:
    """The .treeinfo's checksums and the files it names; the repositories it names."""
    got = _text(m, ".treeinfo")
    if got is None:
        return [""]
    decl.sources.append(".treeinfo")
    check_lines(got[1], ".treeinfo")
    cp = configparser.RawConfigParser(strict=False, interpolation=None)
    try:
        cp.read_string(got[1])
    except configparser.Error:
        return [""]  # recognition already read it; nothing more to check here
    if cp.has_section("checksums"):
        for path, value in cp.items("checksums"):
            algorithm, _, digest = value.partition(":")
            if algorithm.strip().lower() not in _ALGORITHMS:
                continue  # an algorithm this check does not know is left alone
            if _norm(path) in _NOT_ON_MEDIA and not m.exists(path):
                continue
            decl.digest(path, algorithm.strip().lower(), digest, ".treeinfo", whole=False)
    for section in cp.sections():
        if section.startswith("images-") or section == "stage2":
            for key, path in cp.items(section):
                # What the installer loads: the kernel, the initrd, stage 2.
                if key in ("mainimage", "kernel", "initrd") and path.strip():
                    decl.require(path, ".treeinfo")
    repos = [""]
    for section in cp.sections():
        if section.startswith("variant-") and cp.has_option(section, "repository"):
            repo = _norm(cp.get(section, "repository"))
            # A compose tree's variants may live beside it ("../../AppStream/…"); a
            # medium's own repositories are below its root.
            if repo and repo != "." and ".." not in repo.split("/") and repo not in repos:
                repos.append(repo)
    return repos


def _repomd(m: Medium, decl: _Declarations, repo: str) -> None:
    """The metadata files a repository's repomd.xml points at, with their checksums."""
    where = f"{repo}/repodata/repomd.xml" if repo else "repodata/repomd.xml"
    got = _text(m, where)
    if got is None:
        if repo:
            raise ContentError(
                f"{where}: its .treeinfo names the repository {repo}, which has no "
                "repodata on the medium — the ISO is damaged or incomplete",
                found="an incomplete installation medium",
            )
        return
    decl.sources.append(where)
    try:
        root = SafeET.fromstring(got[1])
    except (SafeET.ParseError, DefusedXmlException) as exc:
        raise ContentError(
            f"{where} is not well-formed XML ({exc}) — the ISO is damaged",
            found="damaged installation metadata",
        ) from None
    for data in root:
        if not data.tag.endswith("data"):
            continue
        href = checksum = kind = None
        for child in data:
            tag = child.tag.rsplit("}", 1)[-1]
            if tag == "location":
                href = child.get("href")
            elif tag == "checksum":
                checksum, kind = (child.text or "").strip(), (child.get("type") or "").lower()
        if not href:
            continue
        path = f"{repo}/{href}" if repo else href
        kind = "sha1" if kind == "sha" else kind
        if checksum and kind in _ALGORITHMS:
            decl.digest(path, kind, checksum, where, whole=False)
        else:
            decl.require(path, where)


#: ``<hex> [*]<path>``, matched against a stripped line (fullmatch): no lazy part
#: before an optional tail, which took the square of a crafted line's length with the GIL
#: held (a line of 40,000 spaces: 8 s; checksum lists may be 64 MiB).
_SUM_LINE = re.compile(r"([0-9a-fA-F]{32,128})\s+\*?(.+)")


def _sum_list(m: Medium, decl: _Declarations, path: str, algorithm: str | None) -> None:
    """``md5sum.txt`` / ``SHA256SUMS`` / ``CHECKSUMS``: ``<hex>  <path>`` lines."""
    got = _text(m, path)
    if got is None:
        return
    decl.sources.append(path)
    base = path.rsplit("/", 1)[0] + "/" if "/" in path else ""
    for line in got[1].splitlines():
        match = _SUM_LINE.fullmatch(line.strip())
        if match is None:
            continue
        value, name = match.group(1), match.group(2)
        algo = algorithm or next((a for a, n in _ALGORITHMS.items() if n == len(value)), None)
        if algo is None or len(value) != _ALGORITHMS[algo]:
            continue
        target = _norm(name)
        if target in ("", path) or target.endswith((".asc", ".gpg")):
            continue  # the list itself, its signature
        decl.digest(base + target, algo, value, path, whole=True)


def _esxi(m: Medium, decl: _Declarations) -> None:
    """The kernel and modules ESXi's boot.cfg loads."""
    for where in ("boot.cfg", "efi/boot/boot.cfg"):
        got = _text(m, where)
        if got is None:
            continue
        decl.sources.append(where)
        for line in got[1].splitlines():
            key, _, value = line.partition("=")
            if key.strip() not in ("kernel", "modules"):
                continue
            for module in value.split("---"):
                name = module.strip().split()[0] if module.strip() else ""
                if name:
                    decl.require(name, where)
        return


def declared(m: Medium) -> _Declarations:
    """Everything the medium's metadata declares about its files."""
    decl = _Declarations()
    for repo in _treeinfo(m, decl):
        _repomd(m, decl, repo)
    _sum_list(m, decl, "CHECKSUMS", None)
    _sum_list(m, decl, "SHA256SUMS", "sha256")
    _sum_list(m, decl, "md5sum.txt", "md5")
    _esxi(m, decl)
    return decl


def _hash(f: FileData, algorithms: list[str]) -> dict[str, str]:
    hashers = {a: hashlib.new(a) for a in algorithms}
    offset = 0
    while offset < f.size:
        chunk = f.read(offset, min(CHUNK, f.size - offset))
        if not chunk:
            break
        for h in hashers.values():
            h.update(chunk)
        offset += len(chunk)
    return {a: h.hexdigest() for a, h in hashers.items()}


_NAMES = {"sha256": "SHA-256", "sha512": "SHA-512", "sha1": "SHA-1", "md5": "MD5"}


def verify_medium(m: Medium) -> Verified:
    """Check every file the medium's metadata declares (see the module's docstring)."""
    decl = declared(m)
    report = Verified(sources=decl.sources)
    todo: list[tuple[Declared, FileData, tuple[int, int]]] = []
    #: algorithms wanted per stored extent: names that share one are hashed once
    wanted: dict[tuple[int, int], set[str]] = {}
    total = 0
    for d in sorted(decl.files.values(), key=lambda d: d.path):
        f = m.open(d.path)
        if f is None:
            if d.required_by:
                raise ContentError(
                    f"{d.path}: the medium's {d.required_by} names it, but it is not on "
                    "the medium — the ISO is damaged or incomplete",
                    found="an incomplete installation medium",
                )
            report.not_found += 1
            continue
        key = (f.extents[0].offset, f.size) if f.extents else (-1, 0)
        if key not in wanted:
            wanted[key] = set()
            total += f.size
        wanted[key].update(d.digests)
        todo.append((d, f, key))
    if total > m.iso.src.size:
        raise ContentError(
            f"its checksum lists declare {total} bytes of files, more than the "
            f"{m.iso.src.size} bytes the medium holds",
            found="damaged installation metadata",
        )
    hashed: dict[tuple[int, int], dict[str, str]] = {}
    for d, f, key in todo:
        report.files += 1
        if not d.digests:
            continue
        if key not in hashed:
            hashed[key] = _hash(f, sorted(wanted[key]))
            report.bytes += f.size
        actual = hashed[key]
        for algorithm, (want, source) in sorted(d.digests.items()):
            if not hmac.compare_digest(actual[algorithm], want):
                raise ContentError(
                    f"{d.path}: {_NAMES[algorithm]} does not match the medium's {source} "
                    "— the ISO is damaged",
                    found="a damaged installation medium",
                )
    return report
