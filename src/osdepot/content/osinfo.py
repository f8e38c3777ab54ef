"""osinfo-db's ISO rules, read from the places libosinfo reads them, and matched
with osinfo-db's own semantics.

A ``<media><iso>`` rule matches a volume header when every field the rule gives
(volume-id, system-id, publisher-id, application-id) matches the header's field as
a regular expression anchored at the start (Python ``re.match``), and, when the rule
gives a volume-size, the header's volume size in bytes is equal to it.

osinfo-db is optional: without it, recognition from the files on the medium works
alone.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from xml.etree.ElementTree import Element

import defusedxml.ElementTree as SafeET

from osdepot.content.iso9660 import VolumeHeader

log = logging.getLogger("osdepot.osinfo")

_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
_FIELDS = ("volume-id", "system-id", "publisher-id", "application-id")


@dataclass(frozen=True)
class OsEntry:
    id: str
    short_ids: tuple[str, ...]
    name: str
    version: str
    distro: str
    vendor: str
    release_date: str = ""

    @property
    def short_id(self) -> str:
        return self.short_ids[0] if self.short_ids else self.id


@dataclass(frozen=True)
class IsoRule:
    os: OsEntry
    arch: str | None
    patterns: tuple[tuple[str, re.Pattern[str]], ...]
    volume_size: int | None
    live: bool
    installer: bool

    def matches(self, h: VolumeHeader) -> bool:
        if self.volume_size is not None and self.volume_size != h.volume_bytes:
            return False
        values = {
            "volume-id": h.volume_id,
            "system-id": h.system_id,
            "publisher-id": h.publisher_id,
            "application-id": h.application_id,
        }
        return all(p.match(values[f]) is not None for f, p in self.patterns)


def default_paths() -> list[Path]:
    """The folders libosinfo reads, in override order (later wins)."""
    system = os.environ.get("OSINFO_SYSTEM_DIR") or "/usr/share/osinfo"
    config = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return [Path(system), Path("/etc/osinfo"), Path(config) / "osinfo"]


class OsinfoDb:
    def __init__(self, roots: list[Path]) -> None:
        self.roots = [r for r in roots if (r / "os").is_dir()]
        self.rules: list[IsoRule] = []
        self.entries: dict[str, OsEntry] = {}
        self.version = ""
        by_id: dict[str, tuple[OsEntry, list[IsoRule]]] = {}
        for root in self.roots:
            v = root / "VERSION"
            if v.is_file():
                self.version = v.read_text().strip()
            for xml in sorted((root / "os").rglob("*.xml")):
                try:
                    for entry, rules in _parse_os_file(xml):
                        by_id[entry.id] = (entry, rules)
                except Exception as exc:  # one broken file must not hide the others
                    log.warning("osinfo-db: %s skipped: %s", xml, exc)
        for entry, rules in by_id.values():
            self.entries[entry.id] = entry
            self.rules.extend(rules)
        # Index by the first character of each volume-id's literal prefix, so that a
        # header is tried against a few dozen rules instead of three thousand.
        self._by_first: dict[str, list[IsoRule]] = {}
        self._any: list[IsoRule] = []
        for rule in self.rules:
            first = _literal_prefix(dict(rule.patterns).get("volume-id"))[:1]
            if first:
                self._by_first.setdefault(first, []).append(rule)
            else:
                self._any.append(rule)

    @property
    def available(self) -> bool:
        return bool(self.rules)

    def match(self, header: VolumeHeader) -> list[IsoRule]:
        """Every rule that matches; several only where osinfo-db itself is ambiguous."""
        first = header.volume_id[:1]
        candidates = self._by_first.get(first, []) + self._any if first else self._any
        return [r for r in candidates if r.matches(header)]


_META = set(".^$*+?{}[]\\|()")


def _literal_prefix(pattern: re.Pattern[str] | None) -> str:
    """Characters every match of ``pattern`` must start with ('' when unknown)."""
    if pattern is None:
        return ""
    text = pattern.pattern
    depth = 0
    escaped = False
    for ch in text:  # an alternative at the top level may start with anything
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        elif ch == "|" and depth == 0:
            return ""
    out: list[str] = []
    for ch in text.removeprefix("^"):
        if ch in _META:
            if ch in "?*{" and out:
                out.pop()  # the previous character is optional
            break
        out.append(ch)
    return "".join(out)


def _parse_os_file(path: Path) -> list[tuple[OsEntry, list[IsoRule]]]:
    root = SafeET.parse(path).getroot()
    out: list[tuple[OsEntry, list[IsoRule]]] = []
    if root is None:
        return out
    for os_el in root.findall("os"):
        entry = OsEntry(
            id=os_el.get("id", ""),
            short_ids=tuple((s.text or "").strip() for s in os_el.findall("short-id")),
            name=_plain(os_el, "name"),
            version=_plain(os_el, "version"),
            distro=_plain(os_el, "distro"),
            vendor=_plain(os_el, "vendor"),
            release_date=_plain(os_el, "release-date"),
        )
        rules = []
        for media in os_el.findall("media"):
            for iso in media.findall("iso"):
                patterns = []
                for f in _FIELDS:
                    el = iso.find(f)
                    if el is not None and el.text is not None:
                        patterns.append((f, re.compile(el.text)))
                size_el = iso.find("volume-size")
                size = int(size_el.text) if size_el is not None and size_el.text else None
                if not patterns and size is None:
                    continue
                rules.append(
                    IsoRule(
                        os=entry,
                        arch=media.get("arch"),
                        patterns=tuple(patterns),
                        volume_size=size,
                        live=media.get("live") == "true",
                        installer=media.get("installer", "true") != "false",
                    )
                )
        out.append((entry, rules))
    return out


def _plain(el: Element, tag: str) -> str:
    for child in el.findall(tag):
        if child.get(_LANG) is None:
            return (child.text or "").strip()
    return ""


_cache: dict[tuple[str, ...], OsinfoDb] = {}
_lock = threading.Lock()


def load(path: str | None = None) -> OsinfoDb:
    """The osinfo-db at ``path`` (a folder holding ``os/``), else libosinfo's locations.

    Loaded once per process and location; an absent database gives an empty one.
    """
    roots = [Path(path)] if path else default_paths()
    key = tuple(str(r) for r in roots)
    with _lock:
        db = _cache.get(key)
        if db is None:
            db = OsinfoDb(roots)
            _cache[key] = db
            if path and not db.available:
                log.warning("OSDEPOT_OSINFO_PATH=%s holds no osinfo-db (no os/ folder)", path)
        return db
