"""OS deployment as LXCA describes it: the deployment states a host goes through, and
the checks of the settings a deployment takes (a host's network and storage settings,
the global settings). Pure functions: a value that is not valid raises
``FQXHMFC9010J`` naming the field (``networkSettings.gateway``) and saying why."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from osdepot.domain.text import has_control, strict_json
from osdepot.errors import error
from osdepot.messages import Messages

#: LXCA's deployment states (PUT /hostPlatforms/{uuid}, ``deployStatus.id``)
DEPLOY_STATES: dict[int, str] = {
    0: "Ready",
    1: "Not Ready",
    2: "Unknown OS Deploy Status",
    3: "No OS being deployed",
    4: "OS Deployment Starting",
    5: "Pre-deployment Validation",
    6: "Node Created",
    7: "Node Updated",
    8: "Bootable ISO Created",
    9: "Bootable ISO Mounted",
    10: "Boot Order Sequence Modified",
    11: "Node Rebooting",
    12: "Node Restarted",
    13: "Preparing Server for OS installation",
    14: "Installing OS",
    15: "Post-Installation Processing",
    16: "Starting newly installed OS",
    17: "OS Installation Completed",
    18: "OS Discovery Started",
    19: "Post-Deployment Cleanup Started",
    20: "OS Deployment Failed",
    21: "OS Deployment Stopped",
    22: "Failed Preparing Server for OS Installation - storage failure",
    23: "Failed Preparing Server for OS Installation - unsupported USB storage failure",
    24: "Failed Preparing Server for OS Installation - unsupported SAN detected failure",
    25: "Failed Preparing Server for OS Installation - Windows partition failure",
    26: "Active directory join failed",
    27: "Active directory join succeeded",
}
READY = 0
STARTING, VALIDATING, ISO_CREATED, ISO_MOUNTED, BOOT_ORDER, REBOOTING = 4, 5, 8, 9, 10, 11
COMPLETED, FAILED, STOPPED = 17, 20, 21
#: states during which a deployment runs: another to the same host is refused, and its
#: host's settings and BMC stay
ACTIVE = frozenset(range(STARTING, COMPLETED))
#: states an installer reports when it failed
INSTALLER_FAILED = frozenset({FAILED, 22, 23, 24, 25, 26})
#: a running deployment's job percentage by state
PERCENT = {4: 2, 5: 5, 6: 8, 7: 10, 8: 15, 9: 25, 10: 30, 11: 35, 12: 40, 13: 45, 14: 55,
           15: 85, 16: 95, 17: 100}  # fmt: skip

#: storageSettings.targetDevice values (compared without case)
TARGET_DEVICES = ("localdisk", "usbdisk", "m2disk", "sandisk")
IP_ASSIGNMENTS = ("dhcpv4", "staticv4", "staticv6")
#: credentials[].type: LXCA's, and its deprecated "RHEL/ESXi" (both Linux and ESXi)
CREDENTIAL_TYPES = ("LINUX", "WINDOWS", "ESXi", "RHEL/ESXi")
#: licenseKeys: the Windows releases LXCA keeps keys for
LICENSE_RELEASES = ("win2012r1", "win2012r2", "win2016r1", "win2019r1", "win2022r1")
LICENSE_KINDS = ("dataCenterLicenseKey", "standardLicenseKey")
_PRODUCT_KEY = re.compile(r"^[A-Z0-9]{5}(?:-[A-Z0-9]{5}){4}$")
_LABEL = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")
_MAC = re.compile(r"^[0-9A-Fa-f]{2}(?:[:-][0-9A-Fa-f]{2}){5}$")
#: seconds a deployment may stay in one state (deploySettings.stateTransitionTimeout)
DEFAULT_STATE_TIMEOUT = 3600
STATE_TIMEOUT_RANGE = (10, 86_400)


def invalid(name: str, detail: str) -> Exception:
    return error(Messages.INVALID_VALUE, name=name, detail=detail)


def _object(value: Any, name: str) -> dict[str, Any]:
    if isinstance(value, str) and value.strip().startswith("{"):
        try:  # the Ruby client's schema: some as strings
            value = strict_json(value)
        except ValueError as exc:
            raise invalid(name, f"{name} is a text that is no JSON object ({exc}).") from None
    if not isinstance(value, dict):
        raise invalid(name, f"{name} must be a JSON object.")
    return value


def _string(body: dict[str, Any], key: str, name: str, limit: int = 255) -> str:
    value = body.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise invalid(name, f"{name} must be a string.")
    if len(value) > limit or has_control(value):
        raise invalid(name, f"{name} is longer than {limit} characters or holds control codes.")
    return value.strip()


def _integer(body: dict[str, Any], key: str, name: str, low: int, high: int) -> int | None:
    """An integer field, given as a number or as a string of digits (the Ruby client's
    schema sends prefixLength and vlanId as strings); None when absent or empty."""
    value = body.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise invalid(name, f"{name} must be a whole number from {low} to {high}.")
    if isinstance(value, str):
        text = value.strip()
        if not (text.isascii() and text.isdigit() and len(text) <= 6):
            raise invalid(name, f"{name} must be a whole number from {low} to {high}.")
        value = int(text)
    if not isinstance(value, int) or not low <= value <= high:
        raise invalid(name, f"{name} must be a whole number from {low} to {high}.")
    return value


def _boolean(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise invalid(name, f"{name} must be true or false.")


def _ip(body: dict[str, Any], key: str, name: str) -> str:
    text = _string(body, key, name, 64)
    if not text:
        return ""
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise invalid(name, f"{text!r} is not an IPv4 or IPv6 address.") from None


def base_url(raw: str) -> str:
    """``https://host[:port]`` of a BMC URL given with or without ``/redfish/v1``;
    ValueError saying why when it is not an http(s) URL of a host."""
    text = raw.strip()
    if "://" not in text:
        text = "https://" + text
    parts = urlsplit(text)
    if parts.scheme not in ("https", "http"):
        raise ValueError(f"{raw!r} is not an https:// (or http://) URL")
    if not parts.hostname or parts.username or parts.password:
        raise ValueError(f"{raw!r} names no host (and may not carry a user or password)")
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"{raw!r} has a port that is not one") from None
    path = parts.path.rstrip("/")
    if path not in ("", "/redfish/v1", "/redfish"):
        raise ValueError(f"{raw!r} has a path other than /redfish/v1")
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{parts.scheme}://{host.lower()}" + (f":{port}" if port else "")


def hostname_ok(name: str) -> bool:
    """RFC 1123: dot-separated labels of letters, digits and inner hyphens, at most 63
    characters each and 253 in all."""
    return 0 < len(name) <= 253 and all(_LABEL.match(p) for p in name.split("."))


def normalise_uuid(raw: Any) -> str:
    """A system UUID as LXCA writes it (32 upper-case hex digits), from that form or
    the dashed one Redfish uses; "" when ``raw`` is neither."""
    text = str(raw).strip().replace("-", "").upper() if isinstance(raw, str) else ""
    return text if len(text) == 32 and all(c in "0123456789ABCDEF" for c in text) else ""


@dataclass(frozen=True)
class NetworkSettings:
    """A host's network settings after the operating system is installed."""

    hostname: str = ""
    ip_address: str = ""
    subnet_mask: str = ""
    prefix_length: int | None = None
    gateway: str = ""
    dns1: str = ""
    dns2: str = ""
    mtu: int = 1500
    vlan_id: int = 0
    selected_mac: str = "AUTO"

    def json(self) -> dict[str, Any]:
        return {
            "hostname": self.hostname,
            "ipAddress": self.ip_address,
            "subnetMask": self.subnet_mask,
            "prefixLength": self.prefix_length if self.prefix_length is not None else 0,
            "gateway": self.gateway,
            "dns1": self.dns1,
            "dns2": self.dns2,
            "mtu": self.mtu,
            "vlanId": self.vlan_id,
            "selectedMAC": self.selected_mac,
        }


def parse_network(value: Any, name: str = "networkSettings") -> NetworkSettings:
    """Check a networkSettings object: addresses that are addresses, a subnet mask that
    is one, a prefix length that fits the address, a gateway inside the host's subnet,
    an RFC 1123 hostname, MTU 576–9216, VLAN 0–4094, a MAC or AUTO."""
    body = _object(value, name)
    host = _string(body, "hostname", f"{name}.hostname", 253)
    if host and not hostname_ok(host):
        raise invalid(
            f"{name}.hostname",
            f"{host!r} is not a host name: labels of letters, digits and inner hyphens, "
            "at most 63 characters each and 253 in all.",
        )
    address = _ip(body, "ipAddress", f"{name}.ipAddress")
    gateway = _ip(body, "gateway", f"{name}.gateway")
    dns1 = _ip(body, "dns1", f"{name}.dns1")
    dns2 = _ip(body, "dns2", f"{name}.dns2")
    mask = _string(body, "subnetMask", f"{name}.subnetMask", 64)
    prefix = _integer(body, "prefixLength", f"{name}.prefixLength", 0, 128)
    if mask:
        try:
            net = ipaddress.IPv4Network(f"0.0.0.0/{mask}")
        except ValueError:
            raise invalid(
                f"{name}.subnetMask", f"{mask!r} is not a subnet mask (255.255.255.0, say)."
            ) from None
        if net.prefixlen == 0:
            raise invalid(f"{name}.subnetMask", "A subnet mask of 0.0.0.0 leaves no subnet.")
    v6 = bool(address) and ipaddress.ip_address(address).version == 6
    if address and gateway:
        if ipaddress.ip_address(gateway).version != ipaddress.ip_address(address).version:
            raise invalid(f"{name}.gateway", "The gateway and the address are of two IP versions.")
        # the subnet: an IPv6 address's prefix length; an IPv4 address's subnet mask
        # (LXCA's prefixLength is IPv6's: pylxca's own example sends 64 with an IPv4
        # address and a mask), or a prefix length of at most 32 without one
        bits: int | None = prefix
        if not v6:
            bits = ipaddress.IPv4Network(f"0.0.0.0/{mask}").prefixlen if mask else None
            if bits is None and prefix is not None and prefix <= 32:
                bits = prefix
        if bits:
            subnet = ipaddress.ip_network(f"{address}/{bits}", strict=False)
            if ipaddress.ip_address(gateway) not in subnet:
                raise invalid(
                    f"{name}.gateway", f"The gateway {gateway} is outside the subnet {subnet}."
                )
    mtu = _integer(body, "mtu", f"{name}.mtu", 576, 9216)
    vlan = _integer(body, "vlanId", f"{name}.vlanId", 0, 4094)
    mac = _string(body, "selectedMAC", f"{name}.selectedMAC", 32) or _string(
        body, "selectedMac", f"{name}.selectedMac", 32
    )
    if mac and mac.upper() != "AUTO" and not _MAC.match(mac):
        raise invalid(f"{name}.selectedMAC", f"{mac!r} is neither AUTO nor a MAC address.")
    return NetworkSettings(
        hostname=host,
        ip_address=address,
        subnet_mask=mask,
        prefix_length=prefix,
        gateway=gateway,
        dns1=dns1,
        dns2=dns2,
        mtu=1500 if mtu is None else mtu,
        vlan_id=vlan or 0,
        selected_mac="AUTO" if not mac or mac.upper() == "AUTO" else mac.lower().replace("-", ":"),
    )


def parse_storage(value: Any, name: str = "storageSettings") -> dict[str, str]:
    """Check a storageSettings object: a targetDevice of TARGET_DEVICES."""
    body = _object(value, name)
    device = _string(body, "targetDevice", f"{name}.targetDevice", 32).lower()
    if device not in TARGET_DEVICES:
        raise invalid(
            f"{name}.targetDevice",
            f"The target device must be one of {', '.join(TARGET_DEVICES)}"
            + (f", not {device!r}." if device else "; none was given."),
        )
    return {"targetDevice": device}


@dataclass(frozen=True)
class Credential:
    """One credentials[] entry as given: the password only when passwordChanged."""

    type: str
    name: str
    password: str | None  # None: keep what is stored


@dataclass(frozen=True)
class GlobalSettings:
    """PUT /osdeployment/globalSettings, checked. Secrets as given: license keys ""
    (keep the stored key) or None (clear it) or a key; a credential's password None
    unless passwordChanged."""

    active_directory: dict[str, Any]
    credentials: tuple[Credential, ...]
    ip_assignment: str
    vlan_mode: bool
    license_keys: dict[str, dict[str, str | None]]
    ip_duplication_check: bool
    state_timeout: int


def _credentials(value: Any) -> tuple[Credential, ...]:
    if not isinstance(value, list) or len(value) > len(CREDENTIAL_TYPES):
        raise invalid("credentials", "credentials must be a list of at most one entry per type.")
    out: list[Credential] = []
    for i, raw in enumerate(value):
        name = f"credentials[{i}]"
        item = _object(raw, name)
        ctype = _string(item, "type", f"{name}.type", 16)
        match = next((t for t in CREDENTIAL_TYPES if t.lower() == ctype.lower()), None)
        if match is None:
            raise invalid(f"{name}.type", f"The type must be one of {', '.join(CREDENTIAL_TYPES)}.")
        if any(c.type == match for c in out):
            raise invalid(f"{name}.type", f"credentials name the type {match} twice.")
        user = _string(item, "name", f"{name}.name", 64) or (
            "Administrator" if match == "WINDOWS" else "root"
        )
        changed = _boolean(item.get("passwordChanged", False), f"{name}.passwordChanged")
        password: str | None = None
        if changed:
            given = item.get("password")
            if not isinstance(given, str) or not given:
                raise invalid(
                    f"{name}.password", "passwordChanged is true, so a password must be given."
                )
            if len(given) > 256 or has_control(given):
                raise invalid(
                    f"{name}.password",
                    "The password is longer than 256 characters or holds control codes.",
                )
            password = given
        out.append(Credential(match, user, password))
    return tuple(out)


def _license_keys(value: Any) -> dict[str, dict[str, str | None]]:
    body = _object(value, "licenseKeys")
    out: dict[str, dict[str, str | None]] = {}
    for release, keys in body.items():
        if release not in LICENSE_RELEASES:
            raise invalid(
                "licenseKeys",
                f"{str(release)[:40]!r} is not one of {', '.join(LICENSE_RELEASES)}.",
            )
        entry = _object(keys, f"licenseKeys.{release}")
        out[release] = {}
        for kind in LICENSE_KINDS:
            field = f"licenseKeys.{release}.{kind}"
            raw = entry.get(kind, "")
            if raw is None:
                out[release][kind] = None
                continue
            key = _string(entry, kind, field, 64).upper()
            if key and not _PRODUCT_KEY.match(key):
                raise invalid(field, "A product key is five groups of five letters or digits.")
            out[release][kind] = key
    return out


def _active_directory(value: Any) -> dict[str, Any]:
    body = _object(value, "activeDirectory")
    domains = body.get("allDomains", [])
    if not isinstance(domains, list) or len(domains) > 100:
        raise invalid("activeDirectory.allDomains", "allDomains must be a list of 100 at most.")
    out = []
    for i, raw in enumerate(domains):
        name = f"activeDirectory.allDomains[{i}]"
        item = _object(raw, name)
        domain = _string(item, "domainName", f"{name}.domainName", 253)
        if not hostname_ok(domain):
            raise invalid(f"{name}.domainName", f"{domain!r} is not a domain name.")
        out.append(
            {
                "id": _string(item, "id", f"{name}.id", 64) or str(i + 1),
                "domainName": domain,
                "OU": _string(item, "OU", f"{name}.OU", 1024),
            }
        )
    default = _string(body, "defaultDomain", "activeDirectory.defaultDomain", 253)
    if default and not hostname_ok(default):
        raise invalid("activeDirectory.defaultDomain", f"{default!r} is not a domain name.")
    return {"allDomains": out, "defaultDomain": default}


#: what PUT /osdeployment/globalSettings must carry (pylxca and the Ruby client send them)
GLOBAL_REQUIRED = ("activeDirectory", "credentials", "ipAssignment", "isVLANMode", "licenseKeys")


def parse_global(value: Any, current_timeout: int = DEFAULT_STATE_TIMEOUT) -> GlobalSettings:
    body = _object(value, "request body")
    wrapped = body.get("globalSetting")
    if isinstance(wrapped, dict) and not any(k in body for k in GLOBAL_REQUIRED):
        # the whole answer of GET sent back (LXCA's clients send its fields bare)
        body = {**wrapped, "deploySettings": body.get("deploySettings")}
    missing = [k for k in GLOBAL_REQUIRED if k not in body]
    if missing:
        raise error(
            Messages.MISSING_PARAMETER,
            name=missing[0],
            detail=f"PUT /osdeployment/globalSettings takes {', '.join(GLOBAL_REQUIRED)}.",
        )
    assignment = _string(body, "ipAssignment", "ipAssignment", 16).lower()
    if assignment not in IP_ASSIGNMENTS:
        raise invalid("ipAssignment", f"ipAssignment must be one of {', '.join(IP_ASSIGNMENTS)}.")
    deploy = body.get("deploySettings")
    check, timeout = True, current_timeout
    if deploy not in (None, ""):
        d = _object(deploy, "deploySettings")
        if "ipDuplicationCheckEnabled" in d:
            check = _boolean(
                d["ipDuplicationCheckEnabled"], "deploySettings.ipDuplicationCheckEnabled"
            )
        low, high = STATE_TIMEOUT_RANGE
        given = _integer(
            d, "stateTransitionTimeout", "deploySettings.stateTransitionTimeout", low, high
        )
        timeout = timeout if given is None else given
    return GlobalSettings(
        active_directory=_active_directory(body["activeDirectory"]),
        credentials=_credentials(body["credentials"]),
        ip_assignment=assignment,
        vlan_mode=_boolean(body["isVLANMode"], "isVLANMode"),
        license_keys=_license_keys(body["licenseKeys"]),
        ip_duplication_check=check,
        state_timeout=timeout,
    )
