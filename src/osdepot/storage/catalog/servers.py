"""Remote file-server profiles."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from osdepot.domain.jobs import OPEN
from osdepot.domain.records import (
    RemoteServer,
)
from osdepot.errors import Duplicate, InUse
from osdepot.storage.catalog.base import Base
from osdepot.storage.schema import (
    jobs,
    remote_servers,
)


class ServersCatalog(Base):
    """The servers part of :class:`osdepot.storage.catalog.SqlCatalog`."""

    # -- remote file servers -------------------------------------------------------

    @staticmethod
    def _server(row: Any) -> RemoteServer:
        d = dict(row)
        d["verify_tls"] = bool(d["verify_tls"])
        return RemoteServer(**d)

    def add_server(self, server: RemoteServer, most: int = 0) -> RemoteServer:
        values = {k: v for k, v in server.__dict__.items() if k != "id"}
        try:
            with self._write() as c:
                self._room(c, select(func.count()).select_from(remote_servers), most)
                new_id = c.execute(insert(remote_servers).values(**values)).inserted_primary_key
        except IntegrityError:
            raise Duplicate("server", server.display_name) from None
        assert new_id is not None
        found = self.get_server(int(new_id[0]))
        assert found is not None
        return found

    def update_server(self, server: RemoteServer, expected: RemoteServer | None = None) -> bool:
        values = {k: v for k, v in server.__dict__.items() if k not in ("id", "created_at")}
        same = [remote_servers.c.id == server.id]
        if expected is not None:  # compare and set: every column as it was read
            same += [remote_servers.c[k] == v for k, v in expected.__dict__.items()]
        try:
            with self._write() as c:
                n = c.execute(update(remote_servers).where(*same).values(**values)).rowcount
        except IntegrityError:
            raise Duplicate("server", server.display_name) from None
        return bool(n == 1)

    def pin_host_key(self, server_id: int, host_key: str) -> bool:
        """Pin an SSH host key on first use (only while none is pinned)."""
        with self._write() as c:
            n = c.execute(
                update(remote_servers)
                .where(remote_servers.c.id == server_id, remote_servers.c.host_key == "")
                .values(host_key=host_key)
            ).rowcount
        return n == 1

    def get_server(self, server_id: int) -> RemoteServer | None:
        with self._read_statement() as c:
            row = (
                c.execute(select(remote_servers).where(remote_servers.c.id == server_id))
                .mappings()
                .first()
            )
        return self._server(row) if row else None

    def list_servers(self) -> list[RemoteServer]:
        with self._read_statement() as c:
            rows = c.execute(select(remote_servers).order_by(remote_servers.c.id)).mappings()
            return [self._server(r) for r in rows]

    def delete_server(self, server_id: int) -> bool:
        """Delete a profile unless an open job pulls from it (then raise InUse)."""
        with self._write() as c:
            busy = c.execute(
                select(jobs.c.id).where(
                    jobs.c.server_id == server_id,
                    jobs.c.status.in_([s.value for s in OPEN]),
                )
            ).first()
            if busy is not None:
                raise InUse(int(busy[0]))
            n = c.execute(delete(remote_servers).where(remote_servers.c.id == server_id)).rowcount
        return n == 1
