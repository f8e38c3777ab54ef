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
import contextlib
import hashlib
import json
import logging
import secrets
from typing import Any

from osdepot.content import config_volume, unattend
from osdepot.content.esxi_boot import Patch, PatchedReader
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
    invalid,
)
from osdepot.domain.images import ImageType
from osdepot.domain.jobs import DEPLOY_PREFIX, JobStatus
from osdepot.domain.records import Host, User
from osdepot.domain.text import decimal, shown
from osdepot.errors import BmcFailure, Missing, OsdepotError, error
from osdepot.messages import Messages
from osdepot.ports import BmcAccess
from osdepot.services.admission import admission
from osdepot.services.context import Context, catalog_words, to_the_end
from osdepot.services.deploy_orders import Order, OrderChecks, refused
from osdepot.services.deploy_settings import DeploySettings
from osdepot.services.downloads import Downloads, Opened, open_blob
from osdepot.services.hosts import Hosts, parse_host_uuid
from osdepot.services.job_end import record_end
from osdepot.services.job_quota import make_room_for_jobs
from osdepot.services.links import Links
from osdepot.services.secrets import SecretBox

log = logging.getLogger("osdepot.deploy")

#: seconds between the checks of a running deployment's state
POLL = 1.0
#: the most hosts one PUT /hostPlatforms may deploy to
MAX_HOSTS = 100
#: the name of an ESXi deployment's view of its ISO (content/esxi_boot.py)
INSTALL_VIEW = "install.iso"


class DeployFailed(Exception):
    """A step of a deployment failed; the text says which and why."""


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


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
        checks = OrderChecks(self.ctx)
        orders: list[Order] = []
        for i, entry in enumerate(body):
            order = await checks.check(i, entry, settings)
            if any(o.host.uuid == order.host.uuid for o in orders):
                raise invalid(f"[{i}].uuid", f"The list names host {order.host.uuid} twice.")
            orders.append(order)
        await checks.addresses(orders, settings)
        await self.ctx.run(make_room_for_jobs, self.ctx, user.name, len(orders))
        jobs: list[int] = []
        tokens = [secrets.token_urlsafe(32) for _ in orders]
        try:
            for order in orders:
                jobs.append(await self._new_job(order, user))
        except BaseException:  # refused (the user's open jobs), or the catalog failed
            await self._stop(orders, jobs, "Not started: the request was refused")
            raise
        try:
            await self._begin(orders, jobs, tokens)
        except OsdepotError:
            raise  # a refusal: each job Stopped with its reason
        except BaseException:  # the catalog failed
            await self._stop(orders, jobs, "Not started: the request failed")
            raise
        timeout = float(settings["deploySettings"]["stateTransitionTimeout"])
        ctx = self.ctx
        for order, job, token in zip(orders, jobs, tokens, strict=True):
            log.info(
                "deployment of %s to %s started by %s (job %d)",
                order.profile.id,
                order.host.uuid,
                user.name,
                job,
                extra={
                    "event": "deploy",
                    "host": order.host.uuid,
                    "profile": order.profile.id,
                    "job": job,
                },
            )
            ctx.running.start(job, self._run(order, job, token, user, base, timeout))
        return [(order.host.uuid, job) for order, job in zip(orders, jobs, strict=True)]

    async def _new_job(self, order: Order, user: User) -> int:
        """The order's job, claimed (Running) for this node."""
        ctx, now = self.ctx, self.ctx.clock()
        host, profile = order.host, order.profile
        job = await ctx.run(
            ctx.catalog.create_job,
            ImageType.OSPROFILE,
            user.name,
            now,
            None,
            f"{DEPLOY_PREFIX}{profile.id} to {host.name or host.uuid} ({host.uuid})",
            admission(ctx, user, ImageType.OSPROFILE, jobs=1),
        )
        await ctx.run(
            ctx.catalog.claim_job, job.id, JobStatus.PENDING, 0, now, None, profile.id, ctx.node
        )
        return job.id

    async def _begin(self, orders: list[Order], jobs: list[int], tokens: list[str]) -> None:
        """Every order's host marked as deploying, or none (each job then Stopped, and
        the request refused): a deployment never starts on some hosts of a request
        that is answered as refused."""
        ctx = self.ctx
        starts = [
            (o.host.uuid, job, o.profile.id, _hash(token))
            for o, job, token in zip(orders, jobs, tokens, strict=True)
        ]
        try:
            refusals = await ctx.run(ctx.catalog.begin_deploys, starts, ctx.clock(), sorted(ACTIVE))
        except Missing as gone:  # deleted after the orders' checks
            for order, job in zip(orders, jobs, strict=True):
                await self._finish_job(job, FAILED, order, "The profile was deleted")
            raise error(
                Messages.NOT_FOUND,
                what="Profile",
                name=gone.keys[0],
                detail="It was deleted just now; nothing was deployed.",
            ) from None
        if not refusals:
            return

        def why(host: str) -> str:
            if refusals[host] == "busy":
                return "A deployment to it is running"  # another request started one
            return "Its BMC no longer reports it"  # (refreshed without it, or removed)

        first = next(iter(refusals))
        for order, job in zip(orders, jobs, strict=True):
            host = order.host.uuid
            detail = (
                why(host) if host in refusals else f"Not started: {first} cannot be deployed now"
            )
            await self._finish_job(job, FAILED, order, detail)
        raise refused(first, why(first))

    async def _stop(self, orders: list[Order], jobs: list[int], detail: str) -> None:
        """The jobs made for a request that did not start, Stopped (as far as the
        catalog lets: it may be what failed)."""
        with contextlib.suppress(Exception):
            for order, job in zip(orders, jobs, strict=False):
                await self._finish_job(job, FAILED, order, detail)

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
        """A BMC's answer; a cancel meanwhile is taken once the BMC has answered, so that
        the cleanup (ejecting the media) comes after what was asked of it."""
        try:
            return await to_the_end(self.ctx.run(fn, *args))
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
            here = f"{base.rstrip('/')}/deployments/{token}"
            served: dict[str, Any] = {}
            if order.boot_patches:  # ESXi: the view of its ISO that names the kickstart
                install = f"{here}/{INSTALL_VIEW}"
                served = {
                    "iso": order.iso.id,
                    "patches": [
                        [p.offset, base64.b64encode(p.data).decode("ascii")]
                        for p in order.boot_patches
                    ],
                }
            else:
                issued = await Links(ctx).issue(
                    user, order.iso, tree=False, lifetime=max(timeout * 20, 86_400), base=base
                )
                links.append((order.iso.id, issued.link.id))
                install = issued.url
            main = unattend.main_file(plan)
            await self._state(
                order,
                job,
                ISO_CREATED,
                deploy_media=self.secrets.seal(base64.b64encode(volume).decode("ascii")),
                deploy_unattend=self.secrets.seal(
                    json.dumps({"name": main, "text": files[main].decode(), **served})
                ),
                deploy_links=json.dumps(links),
            )
            media = f"{here}/config.iso"
            await self._bmc(reader.insert_media, access, host.system_path, [install, media])
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
        except OsdepotError as exc:
            # a refusal on the way: its medium deleted once the deployment was cancelled
            # on another node, the medium's links at their limit, …: said, no traceback
            said = exc.render()
            text = f"{said['text']} {said['explanation']}".strip()
            log.warning("deployment job %d: %s", job, text)
            await self._end(order, job, FAILED, access, links, detail=text)
        except Exception as exc:
            if ctx.unreachable(exc):
                # PostgreSQL restarting, the network: said in a line, not a traceback
                words = catalog_words(exc)
                log.warning("deployment job %d: the catalog cannot be reached (%s)", job, words)
                detail = f"The repository catalog could not be reached ({words})"
            else:
                log.exception("deployment job %d failed", job)
                detail = f"Internal error ({type(exc).__name__})"
            await self._end(order, job, FAILED, access, links, detail=detail)
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
        text = detail or ("Stopped" if cancelled else DEPLOY_STATES[state])
        if notes:
            text += " (" + "; ".join(notes) + ")"
        now = ctx.clock()

        def write() -> None:  # each step may be repeated: the catalog may be restarting
            for file_id, link_id in links:
                ctx.catalog.revoke_link(file_id, link_id, now)
            ctx.catalog.end_deploy(host.uuid, job, state, text, now)
            # a job cancelled with PUT /tasks is Cancelled already; one whose deployment
            # was taken from under it is Stopped here
            self._job_ended(job, state, order, text, now)

        await record_end(ctx, job, write)
        log.info(
            "deployment job %d to %s ended: %s",
            job,
            host.uuid,
            text,
            extra={"event": "deploy", "host": host.uuid, "job": job, "state": state},
        )

    async def _finish_job(self, job: int, state: int, order: Order, detail: str) -> None:
        await self.ctx.run(self._job_ended, job, state, order, detail, self.ctx.clock())

    def _job_ended(self, job: int, state: int, order: Order, detail: str, now: float) -> None:
        """The job Complete or Stopped with its message, if still Running (blocking)."""
        names = {"profile": order.profile.id, "host": order.host.name or order.host.uuid}
        if state == COMPLETED:
            status, msg = JobStatus.COMPLETE, Messages.DEPLOY_COMPLETE.render(names)
            self.ctx.catalog.update_progress(job, 0, 100)
        else:
            status = JobStatus.STOPPED
            msg = Messages.DEPLOY_FAILED.render({**names, "detail": detail or "It failed"})
        self.ctx.catalog.finish_job(job, status, now, msg, only_if=(JobStatus.RUNNING,))

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
            raise refused(host.uuid, "No deployment to it is running")
        return await self._record(host, body, user)

    async def _record(self, host: Host, body: Any, who: str) -> Host:
        status = body.get("deployStatus") if isinstance(body, dict) else None
        raw = status.get("id") if isinstance(status, dict) else None
        text = str(raw).strip() if isinstance(raw, int | str) and not isinstance(raw, bool) else ""
        state = decimal(text, 3)
        if state is None or state not in DEPLOY_STATES:
            raise invalid(
                "deployStatus.id", "deployStatus.id must be one of LXCA's states, 0 to 27."
            )
        if state < STARTING + 1 or state == STOPPED:
            raise invalid("deployStatus.id", f"An installer cannot report state {state}.")
        message = status.get("message", "") if isinstance(status, dict) else ""
        # written by the host being installed: kept printable (shown to the CLI's terminal)
        message = shown(message, 500) if isinstance(message, str) else ""
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

    async def install_view(self, token: str) -> Opened:
        """A running ESXi deployment's view of its ISO: the ISO's bytes but for its
        boot.cfg files, which name the kickstart (content/esxi_boot.py)."""
        host = await self.host_of(token)
        files = await self.ctx.run(self.ctx.catalog.deploy_files, host.uuid)
        sealed = files.get("deploy_unattend")
        doc = json.loads(self.secrets.open(str(sealed))) if sealed else {}
        if not doc.get("patches"):
            raise error(Messages.NOT_FOUND, what="File", name=INSTALL_VIEW, detail="")
        downloads = Downloads(self.ctx)
        f = await downloads.stored_file(str(doc["iso"]))
        patches = [Patch(int(o), base64.b64decode(d)) for o, d in doc["patches"]]
        inner = await open_blob(self.ctx, f)
        try:
            view = PatchedReader(inner, patches)
        except ValueError:
            inner.close()
            raise
        # its own validator: the ISO's bytes (SHA-256) and what is laid over them
        over = hashlib.sha256(json.dumps(doc["patches"]).encode()).hexdigest()[:16]
        return Opened(view, f.name, f.size, "", f'"{f.sha256[:32]}-{over}"', f.imported_at)
