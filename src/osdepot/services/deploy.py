"""Deployments (LXCA's ``PUT /hostPlatforms``): a profile installed on a server
through its BMC's Redfish virtual media.

Every entry is checked before any deployment starts. Then, per host, a job (watched
in ``GET /tasks``, cancellable) runs these steps, moving the host through LXCA's
deployment states: validation against the BMC (5), the unattended file rendered
with the host's settings and the global credentials and put on a small volume the
installer finds by its label (8), the install ISO (through a signed link) and that
volume inserted as virtual media (9), a one-time UEFI boot override to the virtual
CD (10), a power-on or restart (11). The installer reports its progress with
``PUT /hostPlatforms/{uuid}`` and the deployment's token (13 preparing, 14
installing, 15 post-installation, 17 completed); a state not left within the
global ``stateTransitionTimeout`` fails the deployment. However it ends —
completed, failed, cancelled — the media are ejected, the links revoked and the
token forgotten.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import ipaddress
import json
import logging
import secrets
from dataclasses import dataclass, field
from typing import Any

from osdepot.content import config_volume, unattend
from osdepot.content.custom_settings import check_settings, macro_values, parse_settings
from osdepot.domain.deploy import (
    ACTIVE,
    BOOT_ORDER,
    COMPLETED,
    DEPLOY_STATES,
    FAILED,
    INSTALLER_FAILED,
    ISO_CREATED,
    ISO_MOUNTED,
    PERCENT,
    REBOOTING,
    STARTING,
    STOPPED,
    VALIDATING,
    NetworkSettings,
    invalid,
    parse_network,
    parse_storage,
)
from osdepot.domain.images import FAMILIES, ImageType
from osdepot.domain.jobs import DEPLOY_PREFIX, JobStatus
from osdepot.domain.records import Host, OsImage, Profile, StoredFile, User
from osdepot.domain.text import has_control
from osdepot.errors import BmcFailure, error
from osdepot.messages import Messages
from osdepot.ports import BmcAccess
from osdepot.services.context import Context
from osdepot.services.deploy_settings import DeploySettings
from osdepot.services.hosts import Hosts, parse_host_uuid
from osdepot.services.links import Links
from osdepot.services.secrets import SecretBox

log = logging.getLogger("osdepot.deploy")

#: families osdepot deploys, and the credential type each takes
CREDENTIAL = {
    **{f: "LINUX" for f in unattend.RED_HAT},
    "sles": "LINUX",
    "ubuntu": "LINUX",
    "windows": "WINDOWS",
}
#: seconds between the checks of a running deployment's state
POLL = 1.0
#: the most hosts one PUT /hostPlatforms may deploy to
MAX_HOSTS = 100
#: the largest unattend or configuration file a deployment reads
MAX_CUSTOM_BYTES = 1 << 20


class DeployFailed(Exception):
    """A step of a deployment failed; the text says which and why."""


@dataclass(frozen=True)
class Order:
    """One checked entry of PUT /hostPlatforms."""

    host: Host
    profile: Profile
    image: OsImage
    iso: StoredFile
    plan: unattend.Plan  # without the token and callback URL yet
    #: the profile's own unattend file, and its configuration settings' macro values
    custom_text: str | None = None
    custom_values: dict[str, str] = field(default_factory=dict)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _refused(host: str, detail: str) -> Exception:
    return error(Messages.DEPLOY_REFUSED, host=host, detail=detail)


class Deployments:
    """Starting deployments, running them, and the installers' status calls."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.secrets = SecretBox.of(ctx.settings)

    # -- starting -----------------------------------------------------------------------

    async def start(self, body: Any, user: User, base: str) -> list[tuple[str, int]]:
        """Check every entry, then start a deployment job per host: (uuid, job id)."""
        if isinstance(body, dict):
            body = [body]
        if not isinstance(body, list) or not body:
            raise invalid("request body", "The body must be a list of deployments.")
        if len(body) > MAX_HOSTS:
            raise invalid("request body", f"At most {MAX_HOSTS} hosts at once.")
        settings = await DeploySettings(self.ctx).stored()
        orders: list[Order] = []
        for i, entry in enumerate(body):
            order = await self._check(i, entry, settings)
            if any(o.host.uuid == order.host.uuid for o in orders):
                raise invalid(f"[{i}].uuid", f"The list names host {order.host.uuid} twice.")
            orders.append(order)
        started: list[tuple[str, int]] = []
        for order in orders:
            started.append((order.host.uuid, await self._launch(order, user, base, settings)))
        return started

    async def _free_host(self, raw_uuid: Any) -> Host:
        """The host, if no deployment to it runs (one its job no longer runs is ended)."""
        hosts = Hosts(self.ctx)
        host = await hosts.host(raw_uuid)
        if await hosts.deploying(host):
            raise _refused(host.uuid, f"A deployment to it is running (job {host.deploy_job})")
        if host.deploy_status in ACTIVE and host.deploy_job is not None:
            # its job ended without it (the node running it stopped or died)
            await self.ctx.run(
                self.ctx.catalog.end_deploy,
                host.uuid,
                host.deploy_job,
                FAILED,
                "The server node running the deployment stopped",
                self.ctx.clock(),
            )
            host = await hosts.host(host.uuid)
        return host

    async def _check(self, i: int, entry: Any, settings: dict[str, Any]) -> Order:
        if not isinstance(entry, dict):
            raise invalid(f"[{i}]", "Each deployment must be a JSON object.")
        for key in ("uuid", "selectedImage"):
            if not entry.get(key):
                raise error(
                    Messages.MISSING_PARAMETER,
                    name=f"[{i}].{key}",
                    detail="A deployment names the host (uuid) and the profile (selectedImage).",
                )
        host = await self._free_host(entry["uuid"])
        if not host.virtual_cd:
            raise _refused(host.uuid, "Its BMC offers no virtual CD or DVD for it")
        profile_id = str(entry["selectedImage"])
        found = await self.ctx.run(self.ctx.catalog.find_profiles, [profile_id])
        if not found:
            raise error(
                Messages.NOT_FOUND,
                what="Profile",
                name=profile_id[:200],
                detail="GET /hostPlatforms lists the profiles available (availableImages).",
            )
        profile = found[0]
        image = await self.ctx.run(self.ctx.catalog.get_image, profile.image_id)
        iso = await self.ctx.run(self.ctx.catalog.get_file, image.file_id) if image else None
        if image is None or iso is None:
            raise error(Messages.NOT_FOUND, what="OS image", name=profile.image_id, detail="")
        family = image.os or ""
        if family not in CREDENTIAL:
            fam = FAMILIES.get(family)
            raise _refused(
                host.uuid,
                f"osdepot does not deploy {fam.display if fam else family or 'this OS'} yet: "
                "its installer finds no unattended file without an edited ISO "
                "(docs/deployment.md)",
            )
        raw_net = entry.get("networkSettings", host.network or {})
        raw_storage = entry.get("storageSettings", host.storage or {"targetDevice": "localdisk"})
        network = parse_network(raw_net, f"[{i}].networkSettings")
        target = parse_storage(raw_storage, f"[{i}].storageSettings")["targetDevice"]
        if target != "localdisk":
            raise invalid(
                f"[{i}].storageSettings.targetDevice",
                "osdepot installs to the local disk (localdisk) only for now.",
            )
        assignment = str(settings["ipAssignment"])
        prefix = self._static(i, network, assignment)
        ctype = CREDENTIAL[family]
        cred = next((c for c in settings["credentials"] if c["type"] == ctype), None)
        if cred is None or not cred.get("password_enc"):
            raise error(
                Messages.MISSING_PARAMETER,
                name=f"credentials ({ctype})",
                detail=f"The global deployment settings hold no {ctype} password; set one "
                "with PUT /osdeployment/globalSettings.",
            )
        key = entry.get("licenseKey") or ""
        if not isinstance(key, str) or len(key) > 64:
            raise invalid(f"[{i}].licenseKey", "licenseKey must be a product key.")
        if not key and family == "windows":
            key = self._global_key(settings, image)
        ad = self._active_directory(i, entry, family, settings)
        plan = unattend.Plan(
            family=family,
            profile=profile.profile or profile.name,
            uuid=host.uuid,
            hostname=network.hostname or f"node-{host.uuid[:8].lower()}",
            ip_assignment=assignment,
            ip_address=network.ip_address,
            prefix=prefix,
            gateway=network.gateway,
            dns=tuple(d for d in (network.dns1, network.dns2) if d),
            mtu=network.mtu,
            vlan_id=network.vlan_id if settings.get("isVLANMode") else 0,
            mac="" if network.selected_mac == "AUTO" else network.selected_mac,
            admin_user=str(cred["name"]),
            admin_password=self.secrets.open(str(cred["password_enc"])),
            license_key=key.upper(),
            callback_url="",
            token="",
            **ad,
        )
        text, values = await self._custom(i, entry, profile)
        if text is not None:
            missing = unattend.undefined(text, values)
            if missing:
                raise error(
                    Messages.MISSING_PARAMETER,
                    name=f"#{missing[0]}#",
                    detail=f"The profile's unattend file uses the macro(s) "
                    f"{', '.join('#' + m + '#' for m in missing)}, which osdepot does not "
                    "define (docs/deployment.md lists the predefined macros).",
                )
        return Order(host, profile, image, iso, plan, text, values)

    async def _custom(
        self, i: int, entry: dict[str, Any], profile: Profile
    ) -> tuple[str | None, dict[str, str]]:
        """The profile's own unattend file (the one ``unattendFileId`` names) and the
        values of its configuration settings' macros (``configFileId``'s file), as
        LXCA requires them: a profile with such files needs them named when it holds
        several, and a named one must be the profile's."""
        held = [await self.ctx.run(self.ctx.catalog.get_file, f) for f in profile.file_ids]
        chosen: dict[ImageType, StoredFile | None] = {}
        for itype, key in (
            (ImageType.UNATTEND, "unattendFileId"),
            (ImageType.CONFIG, "configFileId"),
        ):
            mine = [f for f in held if f is not None and f.image_type is itype]
            named = entry.get(key)
            if named:
                found = next((f for f in mine if f.id == named), None)
                if found is None:
                    raise invalid(
                        f"[{i}].{key}",
                        f"{str(named)[:200]!r} is not a {itype.value} file of profile "
                        f"{profile.id}.",
                    )
                chosen[itype] = found
            elif len(mine) > 1:
                raise error(
                    Messages.MISSING_PARAMETER,
                    name=f"[{i}].{key}",
                    detail=f"Profile {profile.id} holds {len(mine)} {itype.value} files; name one.",
                )
            else:
                chosen[itype] = mine[0] if mine else None
        values: dict[str, str] = {}
        config = chosen[ImageType.CONFIG]
        if config is not None:
            try:
                report = check_settings(parse_settings(await self._text(config)))
            except ValueError as exc:
                raise invalid(f"[{i}].configFileId", f"{config.id}: {exc}") from None
            if report.errors:
                raise invalid(
                    f"[{i}].configFileId",
                    f"The configuration settings {config.id} are not valid: "
                    f"{report.errors[0]['location']}: {report.errors[0]['message']}",
                )
            values = macro_values(report)
        own = chosen[ImageType.UNATTEND]
        return (await self._text(own) if own is not None else None), values

    async def _text(self, f: StoredFile) -> str:
        """A small stored file's text (an unattend or configuration file)."""
        if f.size > MAX_CUSTOM_BYTES:
            raise invalid(f.id, f"{f.id} is larger than {MAX_CUSTOM_BYTES} bytes.")

        def read() -> bytes:
            reader = self.ctx.blobs.reader(f.blob_key)
            try:
                return reader.read_at(0, f.size)
            finally:
                reader.close()

        data = await self.ctx.run(read)
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise invalid(f.id, f"{f.id} is not UTF-8 text.") from None

    @staticmethod
    def _active_directory(
        i: int, entry: dict[str, Any], family: str, settings: dict[str, Any]
    ) -> dict[str, str]:
        """LXCA's windowsDomain, adusername, adpassword: a Windows server joins the
        domain (one of the global settings' allDomains; its OU from there)."""
        domain = entry.get("windowsDomain") or ""
        if entry.get("windowsDomainBlob"):
            raise invalid(
                f"[{i}].windowsDomainBlob",
                "osdepot joins domains with an account "
                "(windowsDomain, adusername, adpassword), not with a blob.",
            )
        if not domain:
            return {}
        if family != "windows" or not isinstance(domain, str):
            raise invalid(f"[{i}].windowsDomain", "Only Windows servers join a domain.")
        known = {d["domainName"].lower(): d for d in settings["activeDirectory"]["allDomains"]}
        if domain.lower() not in known:
            raise invalid(
                f"[{i}].windowsDomain",
                f"{domain[:100]!r} is not one of the global settings' Active Directory domains.",
            )
        user, password = entry.get("adusername"), entry.get("adpassword")
        for key, value in (("adusername", user), ("adpassword", password)):
            if not isinstance(value, str) or not value or len(value) > 256 or has_control(value):
                raise error(
                    Messages.MISSING_PARAMETER,
                    name=f"[{i}].{key}",
                    detail="Joining a domain takes the account's user name and password.",
                )
        d = known[domain.lower()]
        return {
            "ad_domain": d["domainName"],
            "ad_ou": d.get("OU", ""),
            "ad_user": str(user),
            "ad_password": str(password),
        }

    @staticmethod
    def _static(i: int, net: NetworkSettings, assignment: str) -> int | None:
        """The subnet's prefix length of a static assignment (its fields checked)."""
        if assignment == "dhcpv4":
            return None
        name = f"[{i}].networkSettings"
        if not net.ip_address:
            raise error(
                Messages.MISSING_PARAMETER,
                name=f"{name}.ipAddress",
                detail=f"The global settings assign addresses statically ({assignment}).",
            )
        version = ipaddress.ip_address(net.ip_address).version
        if (assignment == "staticv6") != (version == 6):
            raise invalid(
                f"{name}.ipAddress", f"{assignment} takes an IPv{6 if version == 4 else 4} address."
            )
        if version == 4:
            if net.subnet_mask:
                return ipaddress.IPv4Network(f"0.0.0.0/{net.subnet_mask}").prefixlen
            if net.prefix_length and net.prefix_length <= 32:
                return net.prefix_length
            raise error(Messages.MISSING_PARAMETER, name=f"{name}.subnetMask", detail="")
        if not net.prefix_length:
            raise error(Messages.MISSING_PARAMETER, name=f"{name}.prefixLength", detail="")
        return net.prefix_length

    def _global_key(self, settings: dict[str, Any], image: OsImage) -> str:
        """The global license key of the image's Windows release, if there is one."""
        release = {
            "2012": "win2012r1",
            "2012r2": "win2012r2",
            "2016": "win2016r1",
            "2019": "win2019r1",
            "2022": "win2022r1",
        }.get((image.osrelease or image.version or "").lower().replace(" ", ""))
        keys = settings["licenseKeys"].get(release or "", {})
        sealed = keys.get("standardLicenseKey") or keys.get("dataCenterLicenseKey") or ""
        return self.secrets.open(sealed) if sealed else ""

    async def _launch(self, order: Order, user: User, base: str, settings: dict[str, Any]) -> int:
        ctx, now = self.ctx, self.ctx.clock()
        host, profile = order.host, order.profile
        job = await ctx.run(
            ctx.catalog.create_job,
            ImageType.OSPROFILE,
            user.name,
            now,
            None,
            f"{DEPLOY_PREFIX}{profile.id} to {host.name or host.uuid} ({host.uuid})",
        )
        await ctx.run(
            ctx.catalog.claim_job, job.id, JobStatus.PENDING, 0, now, None, profile.id, ctx.node
        )
        token = secrets.token_urlsafe(32)
        began = await ctx.run(
            ctx.catalog.begin_deploy,
            host.uuid,
            job.id,
            profile.id,
            _hash(token),
            now,
            sorted(ACTIVE),
        )
        if not began:  # another request started one in the meantime
            await self._finish_job(job.id, FAILED, order, "A deployment to it is running")
            raise _refused(host.uuid, "A deployment to it is running")
        log.info(
            "deployment of %s to %s started by %s (job %d)",
            profile.id,
            host.uuid,
            user.name,
            job.id,
            extra={"event": "deploy", "host": host.uuid, "profile": profile.id, "job": job.id},
        )
        timeout = float(settings["deploySettings"]["stateTransitionTimeout"])
        ctx.running.start(job.id, self._run(order, job.id, token, user, base, timeout))
        return job.id

    # -- running ------------------------------------------------------------------------

    async def _state(self, order: Order, job: int, state: int, **files: str | None) -> None:
        ctx = self.ctx
        moved = await ctx.run(
            ctx.catalog.deploy_state, order.host.uuid, job, state, "", ctx.clock(), **files
        )
        alive = await ctx.run(ctx.catalog.update_progress, job, 0, PERCENT.get(state, 0))
        if not moved or not alive:
            raise asyncio.CancelledError  # cancelled (perhaps on another node)

    async def _access(self, host: Host) -> BmcAccess:
        bmc = await Hosts(self.ctx).bmc(host.bmc_id)
        verify: bool | str = bmc.ca_cert or bmc.verify_tls
        return BmcAccess(
            bmc.url,
            bmc.username,
            self.secrets.open(bmc.password_enc),
            verify,
            self.ctx.settings.bmc_timeout,
        )

    async def _bmc(self, fn: Any, *args: Any) -> Any:
        try:
            return await self.ctx.run(fn, *args)
        except BmcFailure as exc:
            raise DeployFailed(exc.detail) from None

    async def _run(
        self, order: Order, job: int, token: str, user: User, base: str, timeout: float
    ) -> None:
        ctx, host = self.ctx, order.host
        reader = ctx.bmc_reader
        assert reader is not None
        links: list[tuple[str, int]] = []
        access: BmcAccess | None = None
        try:
            await self._state(order, job, VALIDATING)
            access = await self._access(host)
            systems = await self._bmc(reader.systems, access, ctx.clock())
            now_seen = next((s for s in systems if s.uuid == host.uuid), None)
            if now_seen is None:
                raise DeployFailed("Its BMC no longer reports this system")
            if not now_seen.virtual_cd:
                raise DeployFailed("Its BMC no longer offers a virtual CD for it")

            callback = f"{base.rstrip('/')}/hostPlatforms/{host.uuid}"
            plan = unattend.Plan(
                **{
                    **order.plan.__dict__,
                    "token": token,
                    "callback_url": callback,
                    "ca_pem": "" if ctx.settings.public_url else ctx.server_certificate,
                }
            )
            if order.custom_text is None:
                files = unattend.files(plan)
            else:
                files = unattend.custom_files(
                    plan, order.custom_text, order.custom_values, order.profile.id
                )
            volume = config_volume.build(unattend.LABELS[plan.family], files)
            issued = await Links(ctx).issue(
                user, order.iso, tree=False, lifetime=max(timeout * 20, 86_400), base=base
            )
            links.append((order.iso.id, issued.link.id))
            main = unattend.MAIN_FILE[plan.family]
            await self._state(
                order,
                job,
                ISO_CREATED,
                deploy_media=self.secrets.seal(base64.b64encode(volume).decode("ascii")),
                deploy_unattend=self.secrets.seal(
                    json.dumps({"name": main, "text": files[main].decode()})
                ),
                deploy_links=json.dumps(links),
            )
            media = f"{base.rstrip('/')}/deployments/{token}/config.iso"
            await self._bmc(reader.insert_media, access, host.system_path, [issued.url, media])
            await self._state(order, job, ISO_MOUNTED)
            await self._bmc(reader.boot_once_from_cd, access, host.system_path)
            await self._state(order, job, BOOT_ORDER)
            action = await self._bmc(reader.restart, access, host.system_path)
            log.info("deployment job %d: %s %s", job, action, host.uuid)
            await self._state(order, job, REBOOTING)
            await self._wait(order, job, timeout)
        except asyncio.CancelledError:
            await self._end(order, job, STOPPED, access, links, cancelled=True)
            raise
        except DeployFailed as exc:
            await self._end(order, job, FAILED, access, links, detail=str(exc))
        except Exception as exc:
            log.exception("deployment job %d failed", job)
            await self._end(
                order, job, FAILED, access, links, detail=f"Internal error ({type(exc).__name__})"
            )
        else:
            await self._end(order, job, COMPLETED, access, links)

    async def _wait(self, order: Order, job: int, timeout: float) -> None:
        """Until the installer reports completion, a failure, or stays silent too long."""
        ctx, last = self.ctx, REBOOTING
        while True:
            await asyncio.sleep(POLL)
            host = await ctx.run(ctx.catalog.get_host, order.host.uuid)
            if host is None or host.deploy_job != job:
                raise asyncio.CancelledError
            jobs = await ctx.run(ctx.catalog.list_jobs, [job])
            if not jobs or jobs[0].status is not JobStatus.RUNNING:
                raise asyncio.CancelledError  # cancelled on another node
            state = host.deploy_status
            if state == COMPLETED:
                return
            if state in INSTALLER_FAILED:
                raise DeployFailed(f"The installer reported state {state}: {DEPLOY_STATES[state]}")
            if state != last:
                last = state
                if not await ctx.run(ctx.catalog.update_progress, job, 0, PERCENT.get(state, 0)):
                    raise asyncio.CancelledError
            if ctx.clock() - (host.deploy_state_at or 0) > timeout:
                raise DeployFailed(
                    f"No status from the host for {timeout:g} seconds; it stayed in state "
                    f"{state} ({DEPLOY_STATES.get(state, '?')})"
                )

    async def _end(
        self,
        order: Order,
        job: int,
        state: int,
        access: BmcAccess | None,
        links: list[tuple[str, int]],
        *,
        detail: str = "",
        cancelled: bool = False,
    ) -> None:
        """Eject the media, revoke the links, forget the token, finish the job."""
        ctx, host = self.ctx, order.host
        notes: list[str] = []
        if access is not None and ctx.bmc_reader is not None:
            try:
                await ctx.run(ctx.bmc_reader.eject_media, access, host.system_path)
            except Exception as exc:  # the BMC may be the reason it failed
                notes.append(f"ejecting the media failed: {exc}")
        for file_id, link_id in links:
            await ctx.run(ctx.catalog.revoke_link, file_id, link_id, ctx.clock())
        text = detail or ("Stopped" if cancelled else DEPLOY_STATES[state])
        if notes:
            text += " (" + "; ".join(notes) + ")"
        await ctx.run(ctx.catalog.end_deploy, host.uuid, job, state, text, ctx.clock())
        # a job cancelled with PUT /tasks is Cancelled already; one whose deployment
        # was taken from under it is Stopped here
        await self._finish_job(job, state, order, text)
        log.info(
            "deployment job %d to %s ended: %s",
            job,
            host.uuid,
            text,
            extra={"event": "deploy", "host": host.uuid, "job": job, "state": state},
        )

    async def _finish_job(self, job: int, state: int, order: Order, detail: str) -> None:
        names = {"profile": order.profile.id, "host": order.host.name or order.host.uuid}
        if state == COMPLETED:
            status, msg = JobStatus.COMPLETE, Messages.DEPLOY_COMPLETE.render(names)
            await self.ctx.run(self.ctx.catalog.update_progress, job, 0, 100)
        else:
            status = JobStatus.STOPPED
            msg = Messages.DEPLOY_FAILED.render({**names, "detail": detail or "It failed"})
        await self.ctx.run(
            self.ctx.catalog.finish_job,
            job,
            status,
            self.ctx.clock(),
            msg,
            only_if=(JobStatus.RUNNING,),
        )

    # -- the installer's side -----------------------------------------------------------

    async def host_of(self, token: str) -> Host:
        """The host whose running deployment has this token (the same 404 otherwise)."""
        host = None
        if 20 <= len(token) <= 100:
            host = await self.ctx.run(self.ctx.catalog.host_by_token, _hash(token))
        if host is None:
            raise error(
                Messages.NOT_FOUND,
                what="Deployment",
                name="",
                detail="The token names no running deployment (it ended, or never was).",
            )
        return host

    async def report(self, raw_uuid: str, token: str, body: Any) -> Host:
        """PUT /hostPlatforms/{uuid} from the installer: {"deployStatus": {"id": N}}."""
        host = await self.host_of(token)
        if host.uuid != parse_host_uuid(raw_uuid):
            raise error(Messages.AUTH_REQUIRED)
        return await self._record(host, body, "the installer")

    async def report_by(self, raw_uuid: str, user: str, body: Any) -> Host:
        """The same, by an administrator, for a host whose deployment runs."""
        hosts = Hosts(self.ctx)
        host = await hosts.host(raw_uuid)
        if not await hosts.deploying(host):
            raise _refused(host.uuid, "No deployment to it is running")
        return await self._record(host, body, user)

    async def _record(self, host: Host, body: Any, who: str) -> Host:
        status = body.get("deployStatus") if isinstance(body, dict) else None
        raw = status.get("id") if isinstance(status, dict) else None
        text = str(raw).strip() if isinstance(raw, int | str) and not isinstance(raw, bool) else ""
        if not (text.isascii() and text.isdigit() and int(text) in DEPLOY_STATES):
            raise invalid(
                "deployStatus.id", "deployStatus.id must be one of LXCA's states, 0 to 27."
            )
        state = int(text)
        if state < STARTING + 1 or state == STOPPED:
            raise invalid("deployStatus.id", f"An installer cannot report state {state}.")
        message = status.get("message", "") if isinstance(status, dict) else ""
        message = message[:500] if isinstance(message, str) else ""
        assert host.deploy_job is not None
        await self.ctx.run(
            self.ctx.catalog.deploy_state,
            host.uuid,
            host.deploy_job,
            state,
            message,
            self.ctx.clock(),
        )
        log.info("deployment of %s: %s reports state %d", host.uuid, who, state)
        found = await self.ctx.run(self.ctx.catalog.get_host, host.uuid)
        assert found is not None
        return found

    async def media(self, token: str, name: str) -> tuple[bytes, str]:
        """A running deployment's configuration volume or unattended file."""
        host = await self.host_of(token)
        files = await self.ctx.run(self.ctx.catalog.deploy_files, host.uuid)
        if name == "config.iso" and files.get("deploy_media"):
            return base64.b64decode(
                self.secrets.open(str(files["deploy_media"]))
            ), "application/octet-stream"
        if files.get("deploy_unattend"):
            doc = json.loads(self.secrets.open(str(files["deploy_unattend"])))
            if name == doc["name"]:
                return doc["text"].encode(), "text/plain; charset=utf-8"
        raise error(Messages.NOT_FOUND, what="File", name=name[:100], detail="")
