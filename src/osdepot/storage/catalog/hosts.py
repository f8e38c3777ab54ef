"""BMCs, the systems they manage (hosts) and named settings documents."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from osdepot.domain.records import Bmc, Host
from osdepot.errors import Duplicate
from osdepot.storage.catalog.base import Base
from osdepot.storage.schema import bmcs, hosts, settings

#: the columns a refresh of a BMC rewrites (settings and deployment state stay)
_DESCRIBED = ("system_path", "name", "manufacturer", "model", "serial", "power_state")


class HostsCatalog(Base):
    """The BMC and host part of :class:`osdepot.storage.catalog.SqlCatalog`."""

    @staticmethod
    def _bmc(row: Any) -> Bmc:
        d = dict(row)
        d["verify_tls"] = bool(d["verify_tls"])
        return Bmc(**d)

    @staticmethod
    def _host(row: Any) -> Host:
        d = dict(row)
        d["macs"] = tuple(json.loads(d["macs"] or "[]"))
        d["virtual_cd"] = bool(d["virtual_cd"])
        d["network"] = json.loads(d["network"]) if d["network"] else None
        d["storage"] = json.loads(d["storage"]) if d["storage"] else None
        return Host(**d)

    def add_bmc(self, bmc: Bmc, systems: Sequence[Host]) -> Bmc:
        """Insert a BMC with the systems it manages, in one transaction.
        errors.Duplicate("BMC", url) when the URL is registered; ("host", uuid) when one
        of its systems is registered through another BMC."""
        values = {k: v for k, v in bmc.__dict__.items() if k != "id"}
        try:
            with self._write() as c:
                new_id = int(c.execute(insert(bmcs).values(**values)).inserted_primary_key[0])  # type: ignore[index]
                self._put_hosts(c, new_id, systems)
        except _HostTaken as taken:
            raise Duplicate("host", taken.uuid) from None
        except IntegrityError:
            raise Duplicate("BMC", bmc.url) from None
        found = self.get_bmc(new_id)
        assert found is not None
        return found

    def _put_hosts(self, c: Any, bmc_id: int, systems: Sequence[Host]) -> None:
        """The BMC's systems as ``systems`` says: new ones added, described ones
        updated (their settings and deployment state kept), gone ones removed."""
        known = {r.uuid: r.bmc_id for r in c.execute(select(hosts.c.uuid, hosts.c.bmc_id)).all()}
        for h in systems:
            owner = known.get(h.uuid)
            if owner is not None and owner != bmc_id:
                raise _HostTaken(h.uuid)
            described = {k: getattr(h, k) for k in _DESCRIBED}
            described.update(
                macs=json.dumps(list(h.macs)),
                virtual_cd=h.virtual_cd,
                refreshed_at=h.refreshed_at,
            )
            if owner is None:
                c.execute(insert(hosts).values(uuid=h.uuid, bmc_id=bmc_id, **described))
            else:
                c.execute(update(hosts).where(hosts.c.uuid == h.uuid).values(**described))
        gone = [u for u, owner in known.items() if owner == bmc_id]
        current = {h.uuid for h in systems}
        for uuid in gone:
            if uuid not in current:
                c.execute(delete(hosts).where(hosts.c.uuid == uuid))

    def refresh_bmc(
        self, bmc_id: int, systems: Sequence[Host] | None, now: float, last_error: str
    ) -> bool:
        """Record a read of the BMC: its systems (None: the read failed, keep them) and
        the error ("" when it worked). False when the BMC is gone."""
        try:
            with self._write() as c:
                n = c.execute(
                    update(bmcs)
                    .where(bmcs.c.id == bmc_id)
                    .values(refreshed_at=now, last_error=last_error)
                ).rowcount
                if n and systems is not None:
                    self._put_hosts(c, bmc_id, systems)
        except _HostTaken as taken:
            raise Duplicate("host", taken.uuid) from None
        return bool(n)

    def get_bmc(self, bmc_id: int) -> Bmc | None:
        with self._read_statement() as c:
            row = c.execute(select(bmcs).where(bmcs.c.id == bmc_id)).mappings().first()
        return self._bmc(row) if row else None

    def list_bmcs(self) -> list[Bmc]:
        with self._read_statement() as c:
            return [self._bmc(r) for r in c.execute(select(bmcs).order_by(bmcs.c.id)).mappings()]

    def delete_bmc(self, bmc_id: int) -> bool:
        """Remove a BMC and its systems (with their settings)."""
        with self._write() as c:
            c.execute(delete(hosts).where(hosts.c.bmc_id == bmc_id))
            return bool(c.execute(delete(bmcs).where(bmcs.c.id == bmc_id)).rowcount)

    def list_hosts(self) -> list[Host]:
        with self._read_statement() as c:
            rows = c.execute(select(hosts).order_by(hosts.c.name, hosts.c.uuid)).mappings()
            return [self._host(r) for r in rows]

    def get_host(self, uuid: str) -> Host | None:
        with self._read_statement() as c:
            row = c.execute(select(hosts).where(hosts.c.uuid == uuid)).mappings().first()
        return self._host(row) if row else None

    def set_host_settings(
        self, uuid: str, network: dict[str, Any] | None, storage: dict[str, Any] | None
    ) -> bool:
        """Store (or with None, None: clear) a host's deployment settings."""
        with self._write() as c:
            n = c.execute(
                update(hosts)
                .where(hosts.c.uuid == uuid)
                .values(
                    network=None if network is None else json.dumps(network),
                    storage=None if storage is None else json.dumps(storage),
                )
            ).rowcount
        return bool(n)

    def get_setting(self, name: str) -> dict[str, Any] | None:
        with self._read_statement() as c:
            raw = c.execute(select(settings.c.value).where(settings.c.name == name)).scalar()
        return json.loads(raw) if raw else None

    def put_setting(self, name: str, value: dict[str, Any], now: float) -> None:
        text = json.dumps(value, sort_keys=True)
        for _ in range(2):  # the first write of a name may race another node's
            try:
                with self._write() as c:
                    n = c.execute(
                        update(settings)
                        .where(settings.c.name == name)
                        .values(value=text, updated_at=now)
                    ).rowcount
                    if not n:
                        c.execute(insert(settings).values(name=name, value=text, updated_at=now))
                return
            except IntegrityError:
                continue


class _HostTaken(Exception):
    def __init__(self, uuid: str) -> None:
        super().__init__(uuid)
        self.uuid = uuid
