"""Servers to deploy to: BMCs registered by their Redfish URL and credentials (the
password sealed at rest, never answered or logged), the systems each manages as
their Redfish service describes them, and each system's deployment settings
(LXCA's ``/osdeployment/hostSettings``)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from osdepot.domain.deploy import (
    ACTIVE,
    DEPLOY_STATES,
    READY,
    base_url,
    invalid,
    normalise_uuid,
    parse_network,
    parse_storage,
)
from osdepot.domain.jobs import JobStatus
from osdepot.domain.records import Bmc, Host
from osdepot.domain.text import has_control
from osdepot.errors import BmcFailure, Duplicate, Full, InUse, Missing, error
from osdepot.messages import Messages
from osdepot.ports import BmcAccess
from osdepot.services.context import Context
from osdepot.services.secrets import SecretBox

log = logging.getLogger("osdepot.hosts")

#: deployment states during which a host's BMC may not be removed nor its settings
#: deleted
DEPLOYING = ACTIVE
MAX_BMCS = 10_000


@dataclass(frozen=True)
class Registered:
    """A BMC as registered or refreshed, and the systems it manages."""

    bmc: Bmc
    hosts: list[Host]


def bmc_json(b: Bmc, hosts: list[Host]) -> dict[str, Any]:
    """A BMC as osdepot answers it: never its password."""
    return {
        "id": str(b.id),
        "url": b.url,
        "username": b.username,
        "hasPassword": bool(b.password_enc),
        "caCertificate": b.ca_cert,
        "skipCertificateVerification": not b.verify_tls,
        "createdBy": b.created_by,
        "refreshedAt": b.refreshed_at,
        "lastError": b.last_error,
        "systems": [h.uuid for h in hosts if h.bmc_id == b.id],
    }


def _field(body: dict[str, Any], key: str, limit: int, lines: bool = False) -> str:
    value = body.get(key, "")
    if value is None:
        return ""
    if not isinstance(value, str):
        raise invalid(key, f"{key} must be a string.")
    if len(value) > limit or has_control(value, allowed="\r\n" if lines else ""):
        raise invalid(key, f"{key} is longer than {limit} characters or holds control codes.")
    return value


def parse_bmc_id(raw: Any) -> int:
    text = str(raw).strip()
    if not (text.isascii() and text.isdigit()) or len(text) > 12:
        raise error(Messages.NOT_FOUND, what="BMC", name=text[:40], detail="GET /bmcs lists them.")
    return int(text)


def parse_host_uuid(raw: Any) -> str:
    uuid = normalise_uuid(raw)
    if not uuid:
        raise error(
            Messages.NOT_FOUND,
            what="Host",
            name=str(raw)[:40],
            detail="A host is named by its system UUID (32 hexadecimal digits, with or "
            "without dashes); GET /hostPlatforms lists them.",
        )
    return uuid


def _no_bmc(bmc_id: int) -> Exception:
    return error(Messages.NOT_FOUND, what="BMC", name=str(bmc_id), detail="GET /bmcs lists them.")


class Hosts:
    """BMCs, their systems and the systems' deployment settings."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.secrets = SecretBox.of(ctx.settings)

    # -- BMCs ---------------------------------------------------------------------------

    def _read(self, access: BmcAccess) -> list[Host]:
        reader = self.ctx.bmc_reader
        if reader is None:
            raise error(Messages.NOT_SUPPORTED, detail="This server reads no BMCs.")
        return reader.systems(access, self.ctx.clock())

    @staticmethod
    def _refused(exc: BmcFailure, url: str) -> Exception:
        message = {
            "unreachable": Messages.BMC_UNREACHABLE,
            "auth": Messages.BMC_AUTH_FAILED,
        }.get(exc.kind, Messages.BMC_NOT_REDFISH)
        return error(message, url=url, detail=exc.detail)

    async def register(self, body: Any, user: str) -> Registered:
        """Read the BMC's systems with the credentials given and register both; nothing
        is stored when the BMC cannot be read."""
        if not isinstance(body, dict):
            raise invalid("request body", "The body must be a JSON object.")
        raw_url = _field(body, "url", 512)
        if not raw_url:
            raise error(Messages.MISSING_PARAMETER, name="url", detail="The BMC's https:// URL.")
        try:
            url = base_url(raw_url)
        except ValueError as exc:
            raise invalid("url", f"{exc}.") from None
        username = _field(body, "username", 128)
        password = body.get("password")
        if not username or not isinstance(password, str) or not password:
            raise error(
                Messages.MISSING_PARAMETER,
                name="username" if not username else "password",
                detail="A BMC is registered with the user name and password of a Redfish account.",
            )
        if len(password) > 256 or has_control(password):
            raise invalid(
                "password", "The password is longer than 256 characters or holds control codes."
            )
        ca = _field(body, "caCertificate", 64 * 1024, lines=True).strip()
        if ca and "-----BEGIN CERTIFICATE-----" not in ca:
            raise invalid("caCertificate", "caCertificate must be PEM certificate(s).")
        insecure = body.get("skipCertificateVerification", False)
        if not isinstance(insecure, bool):
            raise invalid("skipCertificateVerification", "It must be true or false.")
        if insecure and ca:
            raise invalid(
                "skipCertificateVerification",
                "Give a CA certificate or skip verification, not both.",
            )
        verify: bool | str = ca or (not insecure)
        if len(await self.ctx.run(self.ctx.catalog.list_bmcs)) >= MAX_BMCS:
            raise _bmcs_full()  # before the BMC is asked (counted again when it is added)
        access = BmcAccess(url, username, password, verify, self.ctx.settings.bmc_timeout)
        try:
            systems = await self.ctx.run(self._read, access)
        except BmcFailure as exc:
            raise self._refused(exc, url) from None
        now = self.ctx.clock()
        bmc = Bmc(
            id=0,
            url=url,
            username=username,
            password_enc=self.secrets.seal(password),
            ca_cert=ca,
            verify_tls=not insecure,
            created_by=user,
            created_at=now,
            refreshed_at=now,
        )
        try:
            saved = await self.ctx.run(self.ctx.catalog.add_bmc, bmc, systems, MAX_BMCS)
        except Full:
            raise _bmcs_full() from None
        except Duplicate as dup:
            what = "BMC" if dup.kind == "BMC" else "System"
            raise error(
                Messages.ALREADY_EXISTS,
                what=what,
                name=dup.key,
                detail=(
                    "It is registered already; refresh it (POST /bmcs/{id}/refresh)."
                    if dup.kind == "BMC"
                    else "Another registered BMC manages a system with this UUID."
                ),
            ) from None
        log.info(
            "BMC %s registered by %s: %d systems",
            url,
            user,
            len(systems),
            extra={"event": "bmc", "bmc": url, "systems": len(systems)},
        )
        return Registered(saved, await self.hosts_of(saved.id))

    async def bmc(self, bmc_id: int) -> Bmc:
        found = await self.ctx.run(self.ctx.catalog.get_bmc, bmc_id)
        if found is None:
            raise _no_bmc(bmc_id)
        return found

    async def bmcs(self) -> list[Bmc]:
        return await self.ctx.run(self.ctx.catalog.list_bmcs)

    async def hosts_of(self, bmc_id: int) -> list[Host]:
        return [h for h in await self.hosts() if h.bmc_id == bmc_id]

    async def refresh(self, bmc_id: int) -> Registered:
        """Read the BMC again: its systems as they are now (new ones added, gone ones
        removed, settings kept). A failed read is recorded (lastError) and answered;
        what was known stays."""
        b = await self.bmc(bmc_id)
        verify: bool | str = b.ca_cert or b.verify_tls
        access = BmcAccess(
            b.url,
            b.username,
            self.secrets.open(b.password_enc),
            verify,
            self.ctx.settings.bmc_timeout,
        )
        try:
            systems = await self.ctx.run(self._read, access)
        except BmcFailure as exc:
            await self.ctx.run(
                self.ctx.catalog.refresh_bmc, bmc_id, None, self.ctx.clock(), exc.detail
            )
            raise self._refused(exc, b.url) from None
        try:
            await self.ctx.run(self.ctx.catalog.refresh_bmc, bmc_id, systems, self.ctx.clock(), "")
        except Duplicate as dup:
            raise error(
                Messages.ALREADY_EXISTS,
                what="System",
                name=dup.key,
                detail="Another registered BMC manages a system with this UUID.",
            ) from None
        return Registered(await self.bmc(bmc_id), await self.hosts_of(bmc_id))

    async def deploying(self, host: Host) -> bool:
        """Whether a deployment to the host runs: its state says so and its job is
        Running (a node that died, or stopped, with one leaves the state behind; its
        job is Stopped by then — services/nodes.py, recovery)."""
        if host.deploy_status not in DEPLOYING or host.deploy_job is None:
            return False
        jobs = await self.ctx.run(self.ctx.catalog.list_jobs, [host.deploy_job])
        return bool(jobs) and jobs[0].status is JobStatus.RUNNING

    async def remove(self, bmc_id: int) -> None:
        b = await self.bmc(bmc_id)
        busy = [h.uuid for h in await self.hosts_of(bmc_id) if await self.deploying(h)]
        if busy:
            raise error(
                Messages.IN_USE,
                what="BMC",
                name=b.url,
                detail=f"Its systems {', '.join(busy)} are being deployed.",
            )
        try:
            removed = await self.ctx.run(self.ctx.catalog.delete_bmc, bmc_id)
        except InUse as exc:  # a deployment began after the check above
            raise error(
                Messages.IN_USE,
                what="BMC",
                name=b.url,
                detail=f"Deployment job {exc.job_id} runs on one of its systems.",
            ) from None
        if not removed:  # removed by another request after the check above
            raise _no_bmc(bmc_id)
        log.info("BMC %s removed", b.url, extra={"event": "bmc", "bmc": b.url})

    # -- hosts and their settings --------------------------------------------------------

    async def hosts(self) -> list[Host]:
        return await self.ctx.run(self.ctx.catalog.list_hosts)

    async def host(self, raw_uuid: Any) -> Host:
        uuid = parse_host_uuid(raw_uuid)
        found = await self.ctx.run(self.ctx.catalog.get_host, uuid)
        if found is None:
            raise _no_host(uuid)
        return found

    async def save_settings(self, body: Any) -> list[Host]:
        """POST/PUT /osdeployment/hostSettings: a list of {uuid, networkSettings,
        storageSettings} (or {"hosts": [...]}), all checked before any is stored."""
        items = body.get("hosts") if isinstance(body, dict) else body
        if not isinstance(items, list) or not items:
            raise invalid(
                "request body",
                'The body must be a list of host settings (or {"hosts": [...]}).',
            )
        if len(items) > 1000:
            raise invalid("request body", "At most 1000 hosts' settings at once.")
        checked: list[tuple[Host, dict[str, object], dict[str, object]]] = []
        seen: set[str] = set()
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                raise invalid(f"hosts[{i}]", "Each entry must be a JSON object.")
            for key in ("uuid", "networkSettings", "storageSettings"):
                if key not in item:
                    raise error(
                        Messages.MISSING_PARAMETER,
                        name=f"hosts[{i}].{key}",
                        detail="Each entry takes uuid, networkSettings and storageSettings.",
                    )
            host = await self.host(item["uuid"])
            if host.uuid in seen:
                raise invalid(f"hosts[{i}].uuid", f"The list names host {host.uuid} twice.")
            seen.add(host.uuid)
            network = parse_network(item["networkSettings"], f"hosts[{i}].networkSettings")
            target = parse_storage(item["storageSettings"], f"hosts[{i}].storageSettings")
            checked.append((host, network.json(), dict(target)))
        # all or none: a host removed since it was checked (its BMC refreshed or
        # forgotten) leaves every host's settings as they were
        try:
            await self.ctx.run(
                self.ctx.catalog.set_hosts_settings, [(h.uuid, n, s) for h, n, s in checked]
            )
        except Missing as gone:
            raise _no_host(gone.keys[0]) from None
        stored = [await self.ctx.run(self.ctx.catalog.get_host, h.uuid) for h, _n, _s in checked]
        return [h for h in stored if h is not None]  # (one may have gone since)

    async def delete_settings(self, raw_uuid: Any) -> None:
        host = await self.host(raw_uuid)
        if await self.deploying(host):
            raise error(
                Messages.IN_USE,
                what="Host",
                name=host.uuid,
                detail="It is being deployed with these settings.",
            )
        await self.ctx.run(self.ctx.catalog.set_host_settings, host.uuid, None, None)


def settings_json(h: Host) -> dict[str, Any]:
    """A host's entry of GET /osdeployment/hostSettings."""
    return {
        "uuid": h.uuid,
        "networkSettings": h.network or {},
        "storageSettings": h.storage or {},
    }


def deploy_status_json(h: Host) -> dict[str, Any]:
    state = h.deploy_status if h.deploy_status in DEPLOY_STATES else READY
    return {"id": str(state), "name": DEPLOY_STATES[state], "message": h.deploy_message}


def _bmcs_full() -> Exception:
    return error(
        Messages.LIMIT_REACHED,
        where="The repository",
        count=MAX_BMCS,
        what="BMCs",
        detail="Each BMC's systems are host platforms; forget BMCs no longer used.",
    )


def _no_host(uuid: str) -> Exception:
    return error(
        Messages.NOT_FOUND,
        what="Host",
        name=uuid,
        detail="No registered BMC manages a system with this UUID; GET "
        "/hostPlatforms lists them (register a BMC with POST /bmcs).",
    )
