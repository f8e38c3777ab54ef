"""BMCs, the systems they manage (hosts) and named settings documents."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from osdepot.domain.jobs import JobStatus
from osdepot.domain.records import Bmc, Host
from osdepot.errors import Duplicate, InUse, Missing
from osdepot.storage.catalog.base import Base
from osdepot.storage.schema import bmcs, hosts, jobs, profiles, settings

#: the hosts' columns a Host holds (not the running deployment's token and files)
_HOST = [hosts.c[f.name] for f in dataclasses.fields(Host)]
#: the columns a refresh of a BMC rewrites (settings and deployment state stay)
_DESCRIBED = ("system_path", "name", "manufacturer", "model", "serial", "power_state")


class _NoneBegun(Exception):
    """Rolls back a start of deployments that cannot begin on every host."""

    def __init__(self, refused: dict[str, str]) -> None:
        super().__init__(refused)
        self.refused = refused


class HostsCatalog(Base):
    """The BMC and host part of :class:`osdepot.storage.catalog.SqlCatalog`.

    (*) Every transaction that changes or locks several hosts' rows takes them in one
    order, by uuid: in the orders of two requests, each would hold a row the other
    waits for (PostgreSQL: a deadlock, one of them ended)."""

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

    def add_bmc(self, bmc: Bmc, systems: Sequence[Host], most: int = 0) -> Bmc:
        """Insert a BMC with the systems it manages, in one transaction.
        errors.Duplicate("BMC", url) when the URL is registered; ("host", uuid) when one
        of its systems is registered through another BMC; errors.Full when ``most``
        BMCs are registered."""
        values = {k: v for k, v in bmc.__dict__.items() if k != "id"}
        try:
            with self._write() as c:
                self._room(c, select(func.count()).select_from(bmcs), most)
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
        updated (their settings and deployment state kept), gone ones removed — but for
        one a deployment runs to (its job Running), kept until a read after it ends."""
        known = {r.uuid: r.bmc_id for r in c.execute(select(hosts.c.uuid, hosts.c.bmc_id)).all()}
        for h in sorted(systems, key=lambda system: system.uuid):  # by uuid (*)
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
                # Another BMC's add or refresh may insert the same system meanwhile
                # (PostgreSQL: after ``known`` was read); its key then fails here, in a
                # savepoint so that the BMC's own insert is told apart from it.
                try:
                    with c.begin_nested():
                        c.execute(insert(hosts).values(uuid=h.uuid, bmc_id=bmc_id, **described))
                except IntegrityError:
                    raise _HostTaken(h.uuid) from None
            else:
                c.execute(update(hosts).where(hosts.c.uuid == h.uuid).values(**described))
        current = {h.uuid for h in systems}
        gone = [u for u, owner in known.items() if owner == bmc_id and u not in current]
        if gone:
            deploying = {
                r[0]
                for r in c.execute(
                    select(hosts.c.uuid)
                    .select_from(hosts.join(jobs, jobs.c.id == hosts.c.deploy_job))
                    .where(hosts.c.uuid.in_(gone), jobs.c.status == JobStatus.RUNNING.value)
                )
            }
            left = [u for u in gone if u not in deploying]
            c.execute(delete(hosts).where(hosts.c.uuid.in_(left)))

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
        """Remove a BMC and its systems (with their settings), unless a deployment to one
        of them runs (its job Running): then raise InUse, in the same transaction as
        the deletion (a check before it could be overtaken by a deployment starting)."""
        with self._write() as c:
            # its systems' rows first, FOR UPDATE (PostgreSQL): a deployment beginning
            # on one (begin_deploys) is waited for and then seen below, or finds its
            # host gone
            c.execute(
                select(hosts.c.uuid)
                .where(hosts.c.bmc_id == bmc_id)
                .order_by(hosts.c.uuid)  # by uuid (*)
                .with_for_update()
            )
            running = c.execute(
                select(jobs.c.id)
                .select_from(hosts.join(jobs, jobs.c.id == hosts.c.deploy_job))
                .where(hosts.c.bmc_id == bmc_id, jobs.c.status == JobStatus.RUNNING.value)
            ).first()
            if running is not None:
                raise InUse(int(running[0]))
            c.execute(delete(hosts).where(hosts.c.bmc_id == bmc_id))
            return bool(c.execute(delete(bmcs).where(bmcs.c.id == bmc_id)).rowcount)

    def list_hosts(self) -> list[Host]:
        with self._read_statement() as c:
            rows = c.execute(select(*_HOST).order_by(hosts.c.name, hosts.c.uuid)).mappings()
            return [self._host(r) for r in rows]

    def get_host(self, uuid: str) -> Host | None:
        with self._read_statement() as c:
            row = c.execute(select(*_HOST).where(hosts.c.uuid == uuid)).mappings().first()
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

    def set_hosts_settings(
        self, items: Sequence[tuple[str, dict[str, Any], dict[str, Any]]]
    ) -> None:
        """Store the deployment settings of several hosts (uuid, network, storage), in
        one transaction: errors.Missing naming the hosts not registered (and nothing
        stored) when any is not."""
        with self._write() as c:
            gone = {
                uuid
                for uuid, network, storage in sorted(items, key=lambda item: item[0])  # (*)
                if not c.execute(
                    update(hosts)
                    .where(hosts.c.uuid == uuid)
                    .values(network=json.dumps(network), storage=json.dumps(storage))
                ).rowcount
            }
            if gone:
                raise Missing([uuid for uuid, _n, _s in items if uuid in gone])  # (rolled back)

    # -- deployments ------------------------------------------------------------------

    def begin_deploys(
        self, starts: Sequence[tuple[str, int, str, str]], now: float, busy: Sequence[int]
    ) -> dict[str, str]:
        """Mark each host (uuid, job id, profile, token hash) as deploying (state 4)
        for its job, in one transaction: all of them, or none. Returns the hosts that
        could not be (and then none was), each with why: "busy" when its state is one
        of ``busy`` (a deployment runs), "gone" when it is not registered. Raises
        Missing naming the profiles gone (none begun): their rows are read FOR SHARE
        (on PostgreSQL), so that a deletion of one either waits for this transaction
        and then sees the deployment (``delete_objects`` refuses), or has deleted it
        first."""
        try:
            with self._write() as c:
                names = sorted({profile for _u, _j, profile, _t in starts})
                found = {
                    r[0]
                    for r in c.execute(
                        select(profiles.c.id)
                        .where(profiles.c.id.in_(names))
                        .with_for_update(read=True)
                    )
                }
                if len(found) < len(names):
                    raise Missing([p for p in names if p not in found])
                refused: dict[str, str] = {}
                for uuid, job_id, profile, token_hash in sorted(starts):  # by uuid (*)
                    n = c.execute(
                        update(hosts)
                        .where(hosts.c.uuid == uuid, hosts.c.deploy_status.not_in(list(busy)))
                        .values(
                            deploy_status=4,
                            deploy_message="",
                            deploy_job=job_id,
                            deploy_profile=profile,
                            deploy_token_hash=token_hash,
                            deploy_state_at=now,
                            deploy_media=None,
                            deploy_unattend=None,
                            deploy_links=None,
                        )
                    ).rowcount
                    if not n:
                        there = c.execute(select(hosts.c.uuid).where(hosts.c.uuid == uuid))
                        refused[uuid] = "busy" if there.first() else "gone"
                if refused:
                    raise _NoneBegun(refused)  # (the transaction is rolled back)
        except _NoneBegun as none:
            return none.refused
        return {}

    def deploy_state(
        self,
        uuid: str,
        job_id: int,
        state: int,
        message: str,
        now: float,
        **files: str | None,
    ) -> bool:
        """Move ``job_id``'s deployment to ``state`` (and keep ``deploy_media``,
        ``deploy_unattend``, ``deploy_links`` when given); False when the host is no
        longer deploying for that job."""
        values: dict[str, Any] = {
            "deploy_status": state,
            "deploy_message": message,
            "deploy_state_at": now,
        }
        values.update({k: v for k, v in files.items() if k in _DEPLOY_FILES})
        with self._write() as c:
            n = c.execute(
                update(hosts)
                .where(hosts.c.uuid == uuid, hosts.c.deploy_job == job_id)
                .values(**values)
            ).rowcount
        return bool(n)

    def end_deploy(self, uuid: str, job_id: int, state: int, message: str, now: float) -> bool:
        """End ``job_id``'s deployment in ``state``: its token, files and links forgotten."""
        with self._write() as c:
            n = c.execute(
                update(hosts)
                .where(hosts.c.uuid == uuid, hosts.c.deploy_job == job_id)
                .values(
                    deploy_status=state,
                    deploy_message=message,
                    deploy_state_at=now,
                    deploy_token_hash=None,
                    deploy_media=None,
                    deploy_unattend=None,
                    deploy_links=None,
                )
            ).rowcount
        return bool(n)

    def deploy_files(self, uuid: str) -> dict[str, str | None]:
        """The running deployment's sealed files and links (deploy_media, …)."""
        cols = [hosts.c[k] for k in _DEPLOY_FILES]
        with self._read_statement() as c:
            row = c.execute(select(*cols).where(hosts.c.uuid == uuid)).mappings().first()
        return dict(row) if row else {}

    def host_by_token(self, token_hash: str) -> Host | None:
        with self._read_statement() as c:
            row = (
                c.execute(select(*_HOST).where(hosts.c.deploy_token_hash == token_hash))
                .mappings()
                .first()
            )
        return self._host(row) if row else None

    def get_setting(self, name: str) -> dict[str, Any] | None:
        with self._read_statement() as c:
            raw = c.execute(select(settings.c.value).where(settings.c.name == name)).scalar()
        return json.loads(raw) if raw else None

    def change_setting(
        self,
        name: str,
        change: Callable[[dict[str, Any] | None], dict[str, Any]],
        now: float,
    ) -> dict[str, Any]:
        """Store ``change(stored document or None)`` under ``name``, the read and the
        write in one transaction (the row read FOR UPDATE on PostgreSQL; SQLite's
        writes take turns), so that two changes at once each start from the other's
        result. ``change`` may run twice (a first write racing another node's) and
        may raise, which stores nothing. Returns what was stored."""
        try:
            return self._change_setting(name, change, now)
        except IntegrityError:  # the first write of the name raced another's: again
            return self._change_setting(name, change, now)

    def _change_setting(
        self,
        name: str,
        change: Callable[[dict[str, Any] | None], dict[str, Any]],
        now: float,
    ) -> dict[str, Any]:
        with self._write() as c:
            raw = c.execute(
                select(settings.c.value).where(settings.c.name == name).with_for_update()
            ).scalar()
            value = change(json.loads(raw) if raw else None)
            text = json.dumps(value, sort_keys=True)
            if raw is not None:
                c.execute(
                    update(settings)
                    .where(settings.c.name == name)
                    .values(value=text, updated_at=now)
                )
            else:
                c.execute(insert(settings).values(name=name, value=text, updated_at=now))
        return value


_DEPLOY_FILES = ("deploy_media", "deploy_unattend", "deploy_links")


class _HostTaken(Exception):
    def __init__(self, uuid: str) -> None:
        super().__init__(uuid)
        self.uuid = uuid
