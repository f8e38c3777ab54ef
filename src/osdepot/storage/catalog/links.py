"""Signed links and the installation-tree index (per stored file)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from osdepot.domain.records import Link, TreeEntry
from osdepot.errors import Missing
from osdepot.storage.catalog.base import Base
from osdepot.storage.schema import files, links, tree_entries

#: rows inserted per statement when a tree is indexed
_BATCH = 2000


class LinksCatalog(Base):
    """Links to files and the trees inside stored ISOs."""

    @staticmethod
    def _link(row: Any) -> Link:
        d = dict(row)
        d["tree"] = bool(d["tree"])
        return Link(**d)

    def add_link(
        self,
        file_id: str,
        tree: bool,
        created_by: str,
        now: float,
        expires_at: float,
        max_links: int = 0,
    ) -> Link | None:
        try:
            with self._write() as c:
                there = c.execute(select(files.c.id).where(files.c.id == file_id)).first()
                if there is None:
                    raise Missing([file_id])
                if max_links:
                    self._take_turns(c)
                    if not self._room_for_link(c, file_id, now, max_links):
                        return None
                new_id = c.execute(
                    insert(links).values(
                        file_id=file_id,
                        tree=tree,
                        created_by=created_by,
                        created_at=now,
                        expires_at=float(int(expires_at)),
                    )
                ).inserted_primary_key
                assert new_id is not None
                row = c.execute(select(links).where(links.c.id == new_id[0])).mappings().one()
        except IntegrityError:  # PostgreSQL: the file's row deleted after the read above
            raise Missing([file_id]) from None
        return self._link(row)

    @staticmethod
    def _room_for_link(c: Any, file_id: str, now: float, max_links: int) -> bool:
        """Whether the file may have one more link: below ``max_links``, after its
        links that ended (expired or revoked) longest ago are removed to make room."""
        held = int(
            c.execute(
                select(func.count()).select_from(links).where(links.c.file_id == file_id)
            ).scalar_one()
        )
        if held < max_links:
            return True
        ended = func.coalesce(links.c.revoked_at, links.c.expires_at)
        dead = c.execute(
            select(links.c.id)
            .where(
                links.c.file_id == file_id,
                or_(links.c.revoked_at.is_not(None), links.c.expires_at <= now),
            )
            .order_by(ended, links.c.id)
            .limit(held - max_links + 1)
        ).all()
        if len(dead) < held - max_links + 1:
            return False
        c.execute(delete(links).where(links.c.id.in_([int(r[0]) for r in dead])))
        return True

    def get_link(self, link_id: int) -> Link | None:
        with self._read_statement() as c:
            row = c.execute(select(links).where(links.c.id == link_id)).mappings().first()
        return self._link(row) if row else None

    def list_links(self, file_id: str) -> list[Link]:
        with self._read_statement() as c:
            rows = c.execute(
                select(links).where(links.c.file_id == file_id).order_by(links.c.id)
            ).mappings()
            return [self._link(r) for r in rows]

    def revoke_link(self, file_id: str, link_id: int, now: float) -> bool:
        with self._write() as c:
            n = c.execute(
                update(links)
                .where(
                    links.c.id == link_id,
                    links.c.file_id == file_id,
                    links.c.revoked_at.is_(None),
                )
                .values(revoked_at=now)
            ).rowcount
        return bool(n == 1)

    def record_link_use(self, link_id: int, now: float) -> None:
        with self._write() as c:
            c.execute(
                update(links)
                .where(links.c.id == link_id)
                .values(uses=links.c.uses + 1, last_used_at=now)
            )

    # -- installation trees ------------------------------------------------------------

    def has_tree(self, file_id: str) -> bool:
        with self._read_statement() as c:
            return (
                c.execute(
                    select(func.count())
                    .select_from(tree_entries)
                    .where(tree_entries.c.file_id == file_id, tree_entries.c.path == "")
                ).scalar_one()
                > 0
            )

    def add_tree(self, file_id: str, entries: Sequence[TreeEntry]) -> None:
        rows = [
            {
                "file_id": file_id,
                "path": e.path,
                "parent": e.parent,
                "is_dir": e.is_dir,
                "size": e.size,
                "extents": e.extents_json(),
            }
            for e in entries
        ]
        try:
            with self._write() as c:
                # the file's row FOR UPDATE (PostgreSQL): another request indexing the
                # same tree is waited for, and then its index found below (two first
                # reads of a tree at once: the second's insert failed on the key)
                there = select(files.c.id).where(files.c.id == file_id).with_for_update()
                if c.execute(there).first() is None:
                    raise Missing([file_id])
                exists = c.execute(
                    select(tree_entries.c.path).where(
                        tree_entries.c.file_id == file_id, tree_entries.c.path == ""
                    )
                ).first()
                if exists is not None:
                    return  # another request indexed it meanwhile
                for i in range(0, len(rows), _BATCH):
                    c.execute(insert(tree_entries), rows[i : i + _BATCH])
        except IntegrityError:  # PostgreSQL: the file's row deleted after the read above
            raise Missing([file_id]) from None

    @staticmethod
    def _entry(row: Any) -> TreeEntry:
        return TreeEntry.from_row(row.path, bool(row.is_dir), int(row.size), row.extents)

    def tree_entry(self, file_id: str, path: str) -> TreeEntry | None:
        with self._read_statement() as c:
            row = c.execute(
                select(tree_entries).where(
                    tree_entries.c.file_id == file_id, tree_entries.c.path == path
                )
            ).first()
        return self._entry(row) if row is not None else None

    def tree_children(self, file_id: str, parent: str) -> list[TreeEntry]:
        with self._read_statement() as c:
            rows = c.execute(
                select(tree_entries)
                .where(
                    tree_entries.c.file_id == file_id,
                    tree_entries.c.parent == parent,
                    tree_entries.c.path != "",
                )
                .order_by(tree_entries.c.path)
                .limit(100_000)
            ).all()
        return [self._entry(r) for r in rows]
