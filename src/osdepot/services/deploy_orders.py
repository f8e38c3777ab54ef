"""The entries of ``PUT /hostPlatforms``, checked before any deployment starts: the
host (free, with a virtual CD), the profile and its medium (an OS osdepot deploys),
the network settings a static assignment needs, the global credentials, a Windows
domain join, and a customised profile's own unattend and configuration files (and
the macros the unattend file uses). Each becomes an :class:`Order`."""

from __future__ import annotations

import base64
import binascii
import ipaddress
from dataclasses import dataclass, field
from typing import Any

from osdepot.content import unattend
from osdepot.content.custom_settings import check_settings, macro_values, parse_settings
from osdepot.content.esxi_boot import Patch, boot_patches
from osdepot.content.source import ContentError, Source
from osdepot.domain.deploy import (
    ACTIVE,
    FAILED,
    NetworkSettings,
    invalid,
    parse_network,
    parse_storage,
)
from osdepot.domain.images import FAMILIES, ImageType
from osdepot.domain.records import Host, OsImage, Profile, StoredFile
from osdepot.domain.text import has_control
from osdepot.errors import error
from osdepot.messages import Messages
from osdepot.services.context import Context
from osdepot.services.downloads import deleted_meanwhile
from osdepot.services.hosts import Hosts
from osdepot.services.secrets import SecretBox

#: families osdepot deploys, and the credential type each takes
CREDENTIAL = {
    **{f: "LINUX" for f in unattend.RED_HAT},
    "sles": "LINUX",
    "ubuntu": "LINUX",
    "windows": "WINDOWS",
    "esxi": "ESXi",
}
#: the largest unattend or configuration file a deployment reads
MAX_CUSTOM_BYTES = 1 << 20


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
    #: ESXi: the bytes of the view of its ISO whose boot.cfg names the kickstart
    boot_patches: tuple[Patch, ...] = ()


def _credential(settings: dict[str, Any], ctype: str) -> dict[str, Any] | None:
    """The global credential of ``ctype`` (ESXi's may be LXCA's older RHEL/ESXi)."""
    creds = settings["credentials"]
    found = next((c for c in creds if c["type"] == ctype), None)
    if ctype == "ESXi" and not (found and found.get("password_enc")):
        older = next((c for c in creds if c["type"] == "RHEL/ESXi"), None)
        found = older if older and older.get("password_enc") else found
    return found


def _normal(address: str) -> str:
    """An address in one spelling (``fd00:0::9`` is ``fd00::9``); "" if it is none."""
    try:
        return ipaddress.ip_address(address.strip()).compressed
    except ValueError:
        return ""


#: the largest offline domain join blob taken (djoin's are a few kilobytes)
MAX_DOMAIN_BLOB = 64 * 1024


def _offline_join(i: int, blob: Any, family: str) -> str:
    """LXCA's windowsDomainBlob: the provisioning data of an offline domain join
    (``djoin /provision … /printblob``: base64), for a Windows server."""
    name = f"[{i}].windowsDomainBlob"
    if family != "windows":
        raise invalid(name, "Only Windows servers join a domain.")
    text = "".join(blob.split()) if isinstance(blob, str) else ""
    try:
        ok = 0 < len(text) <= MAX_DOMAIN_BLOB and bool(base64.b64decode(text, validate=True))
    except (ValueError, binascii.Error):
        ok = False
    if not ok:
        raise invalid(
            name,
            "windowsDomainBlob must be the base64 provisioning data of an offline domain "
            f"join (djoin /provision … /printblob), at most {MAX_DOMAIN_BLOB} characters.",
        )
    return text


def refused(host: str, detail: str) -> Exception:
    return error(Messages.DEPLOY_REFUSED, host=host, detail=detail)


class OrderChecks:
    """Checks one entry of PUT /hostPlatforms into an :class:`Order`."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.secrets = SecretBox.of(ctx.settings)

    async def _free_host(self, raw_uuid: Any) -> Host:
        """The host, if no deployment to it runs (one its job no longer runs is ended)."""
        hosts = Hosts(self.ctx)
        host = await hosts.host(raw_uuid)
        if await hosts.deploying(host):
            raise refused(host.uuid, f"A deployment to it is running (job {host.deploy_job})")
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

    async def check(self, i: int, entry: Any, settings: dict[str, Any]) -> Order:
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
            raise refused(host.uuid, "Its BMC offers no virtual CD or DVD for it")
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
            raise refused(
                host.uuid,
                f"osdepot does not deploy {fam.display if fam else family or 'this OS'} yet: "
                "its installer finds no unattended file without an edited ISO "
                "(docs/deployment.md)",
            )
        raw_net = entry.get("networkSettings", host.network or {})
        raw_storage = entry.get("storageSettings", host.storage or {"targetDevice": "localdisk"})
        network = parse_network(raw_net, f"[{i}].networkSettings")
        target = parse_storage(raw_storage, f"[{i}].storageSettings")["targetDevice"]
        if target != "localdisk" and family == "windows":
            raise invalid(
                f"[{i}].storageSettings.targetDevice",
                "Windows Setup is told to install on disk 0: deploy Windows with localdisk.",
            )
        assignment = str(settings["ipAssignment"])
        prefix = self._static(i, network, assignment)
        ctype = CREDENTIAL[family]
        cred = _credential(settings, ctype)
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
            target=target,
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
        boot: tuple[Patch, ...] = ()
        if family == "esxi":
            self._esxi_settings(i, plan)
            boot = await self._esxi_boot(host, iso)
        return Order(host, profile, image, iso, plan, text, values, boot)

    async def addresses(self, orders: list[Order], settings: dict[str, Any]) -> None:
        """The duplicate-IP check (``deploySettings.ipDuplicationCheckEnabled``): no two
        entries, nor another host's stored settings, name the same static address, and
        nothing answers a ping at it (osdepot.bmc.probe)."""
        if not settings.get("deploySettings", {}).get("ipDuplicationCheckEnabled", True):
            return
        seen: dict[str, int] = {}
        for i, o in enumerate(orders):
            if not o.plan.static:
                continue
            ip = _normal(o.plan.ip_address)
            if ip in seen:
                raise invalid(
                    f"[{i}].networkSettings.ipAddress",
                    f"{ip} is given to host {orders[seen[ip]].host.uuid} too.",
                )
            seen[ip] = i
        if not seen:
            return
        mine = {o.host.uuid for o in orders}
        for h in await self.ctx.run(self.ctx.catalog.list_hosts):
            theirs = _normal(str((h.network or {}).get("ipAddress") or ""))
            if h.uuid not in mine and theirs in seen:
                raise refused(
                    orders[seen[theirs]].host.uuid,
                    f"Its address {theirs} is in the stored settings of host "
                    f"{h.name or h.uuid} ({h.uuid}); change one of them, or turn the check "
                    "off (deploySettings.ipDuplicationCheckEnabled)",
                )
        # a host's own address (its stored settings'): the answer may be its running
        # OS, about to be replaced — a re-installation is not refused for it
        own = {_normal(str((o.host.network or {}).get("ipAddress") or "")) for o in orders}
        probed = sorted(set(seen) - own)
        if self.ctx.address_probe is not None and probed:
            used = await self.ctx.run(self.ctx.address_probe, probed)
            if used:
                ip = sorted(used)[0]
                raise refused(
                    orders[seen[ip]].host.uuid,
                    f"Something on the network answers pings at its address {ip}; choose a free "
                    "address, or turn the check off (deploySettings.ipDuplicationCheckEnabled)",
                )

    @staticmethod
    def _esxi_settings(i: int, plan: unattend.Plan) -> None:
        """What ESXi's kickstart cannot say: an IPv6 address; a key of another form."""
        if plan.static and ":" in plan.ip_address:
            raise invalid(
                f"[{i}].networkSettings.ipAddress",
                "ESXi's kickstart sets an IPv4 management address only; use an IPv4 "
                "address or DHCP.",
            )
        if plan.license_key:
            try:
                unattend.esxi_kickstart(plan)
            except ValueError as exc:
                raise invalid(f"[{i}].licenseKey", str(exc)) from None

    async def _esxi_boot(self, host: Host, iso: StoredFile) -> tuple[Patch, ...]:
        """The view of the ESXi medium whose boot.cfg files name the kickstart (read
        from the medium now: a medium that cannot take it is refused at once)."""

        def read() -> tuple[Patch, ...]:
            with Source(self.ctx.blobs.reader(iso.blob_key)) as src:
                return tuple(boot_patches(src))

        try:
            return await self.ctx.run(read)
        except FileNotFoundError:
            raise deleted_meanwhile(iso) from None
        except ContentError as exc:
            raise refused(
                host.uuid,
                f"Its ESXi medium {iso.name} cannot be given the kickstart's boot option: "
                f"{exc.detail}",
            ) from None

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

        try:
            data = await self.ctx.run(read)
        except FileNotFoundError:
            raise deleted_meanwhile(f) from None
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
        blob = entry.get("windowsDomainBlob") or ""
        if blob:
            return {"ad_blob": _offline_join(i, blob, family)}
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
