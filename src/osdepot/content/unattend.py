"""The unattended-installation files of deployments, rendered per host: kickstart for
the Red Hat family, AutoYaST for SLES, autoinstall (cloud-init user-data) for Ubuntu,
``autounattend.xml`` for Windows Server (content/unattend_windows.py), ``ks.cfg``
for ESXi. Each sets the host name, network, disk, administrator account and license
key, and reports the installation's progress to osdepot (LXCA's ``PUT
/hostPlatforms/{uuid}`` with ``deployStatus.id``), authenticated by the deployment's
token, over TLS checked against osdepot's own certificate when one is given
(embedded in the file; Windows pins its SHA-1 thumbprint). What the files share (the
plan, the status calls, the disk picker): content/unattend_base.py. Values are
quoted for the file's language (shell, XML, JSON-as-YAML, Python): nothing a user
typed can add a line of its own.

Where each installer finds its file without an edited ISO (docs/deployment.md):
anaconda and AutoYaST read ``ks.cfg``/``autoinst.xml`` from a volume labelled
``OEMDRV``; cloud-init's NoCloud source reads ``user-data``/``meta-data`` from one
labelled ``CIDATA``; Windows Setup searches every drive's root for
``autounattend.xml``; ESXi's installer searches every CD for the file its boot option
``ks=cdrom:/KS.CFG`` names (the option is in the view of the ISO the deployment
serves: content/esxi_boot.py)."""

from __future__ import annotations

import ipaddress
import json
import re
import xml.etree.ElementTree as ET

from osdepot.content.sha512_crypt import sha512_crypt
from osdepot.content.unattend_base import COMPLETED as COMPLETED
from osdepot.content.unattend_base import DISK_PICKER as DISK_PICKER
from osdepot.content.unattend_base import INSTALLING as INSTALLING
from osdepot.content.unattend_base import PICKED_DISK, disk_pick
from osdepot.content.unattend_base import PICKED_TARGETS as PICKED_TARGETS
from osdepot.content.unattend_base import POST_INSTALL as POST_INSTALL
from osdepot.content.unattend_base import PREPARING as PREPARING
from osdepot.content.unattend_base import Plan as Plan
from osdepot.content.unattend_base import el as _el
from osdepot.content.unattend_base import python_status as python_status
from osdepot.content.unattend_base import shell_status as shell_status
from osdepot.content.unattend_windows import autounattend as autounattend

#: families osdepot renders files for, and the volume label each installer looks for
RED_HAT = ("rhel", "centos", "rocky", "alma", "oracle")
LABELS = {
    **{f: "OEMDRV" for f in RED_HAT},
    "sles": "OEMDRV",
    "ubuntu": "CIDATA",
    "windows": "OSDEPOT",
    "esxi": "OSDEPOT",
}

#: the file each installer reads from its volume
MAIN_FILE = {
    **{f: "ks.cfg" for f in RED_HAT},
    "sles": "autoinst.xml",
    "ubuntu": "user-data",
    "windows": "autounattend.xml",
    "esxi": "KS.CFG",  # the ISO 9660 name the boot option names (esxi_boot.py)
}


def files(plan: Plan) -> dict[str, bytes]:
    """The files of the host's configuration volume, by name."""
    if plan.family in RED_HAT:
        return {"ks.cfg": kickstart(plan).encode()}
    if plan.family == "sles":
        return {"autoinst.xml": autoyast(plan).encode()}
    if plan.family == "ubuntu":
        meta = f"instance-id: osdepot-{plan.uuid.lower()}\nlocal-hostname: {plan.hostname}\n"
        return {"user-data": autoinstall(plan).encode(), "meta-data": meta.encode()}
    if plan.family == "windows":
        return {"autounattend.xml": autounattend(plan).encode()}
    if plan.family == "esxi":
        return {"KS.CFG": esxi_kickstart(plan).encode()}
    raise ValueError(f"no unattended file for {plan.family}")


def main_file(plan: Plan) -> str:
    """The name of the file the installer reads (ks.cfg, …)."""
    if plan.family not in MAIN_FILE:
        raise ValueError(f"no unattended file for {plan.family}")
    return MAIN_FILE[plan.family]


# -- kickstart ----------------------------------------------------------------------------

_KS_ENVIRONMENTS = {
    "Minimal": "@^minimal-environment",
    "Basic": "@^server-product-environment",
    "Virtualization": "@^virtualization-host-environment",
}


def kickstart(plan: Plan) -> str:
    device = plan.mac or "link"
    net = [f"network --device={device}", "--onboot=yes", "--activate", f"--mtu={plan.mtu}"]
    if plan.static:
        addr = ipaddress.ip_address(plan.ip_address)
        if addr.version == 4:
            mask = ipaddress.IPv4Network(f"0.0.0.0/{plan.prefix or 24}").netmask
            net += ["--bootproto=static", f"--ip={addr}", f"--netmask={mask}"]
            if plan.gateway:
                net.append(f"--gateway={plan.gateway}")
        else:
            net += ["--bootproto=static", "--noipv4", f"--ipv6={addr}/{plan.prefix or 64}"]
            if plan.gateway:
                net.append(f"--ipv6gateway={plan.gateway}")
        if plan.dns:
            net.append(f"--nameserver={','.join(plan.dns)}")
    else:
        net.append("--bootproto=dhcp")
    if plan.vlan_id:
        net.append(f"--vlanid={plan.vlan_id}")
    net.append(f"--hostname={plan.hostname}")
    status = shell_status(plan)
    disks = ["zerombr", "clearpart --all --initlabel", "autopart", "bootloader"]
    picking: list[str] = []
    if plan.target != "localdisk":  # the %pre finds the disk and writes these lines
        disks = ["%include /tmp/osdepot-disk.ks"]
        picking = [
            disk_pick(plan),
            "name=${OSDEPOT_DISK#/dev/}",
            "cat > /tmp/osdepot-disk.ks <<OSDEPOT_DISK_KS",
            "ignoredisk --only-use=$name",
            "zerombr",
            "clearpart --all --initlabel --drives=$name",
            "autopart",
            "bootloader --boot-drive=$name",
            "OSDEPOT_DISK_KS",
        ]
    return "\n".join(
        [
            f"# osdepot: {plan.family} {plan.profile} for system {plan.uuid}",
            "text",
            "lang en_US.UTF-8",
            "keyboard us",
            "timezone UTC --utc",
            " ".join(net),
            f"rootpw --iscrypted {sha512_crypt(plan.admin_password)}",
            *disks,
            "reboot --eject",
            "",
            "%packages",
            _KS_ENVIRONMENTS.get(plan.profile, "@^minimal-environment"),
            "curl",
            "%end",
            "",
            "%pre --erroronfail",
            status,
            f"osdepot_status {PREPARING}",
            *picking,
            f"osdepot_status {INSTALLING}",
            "%end",
            "",
            "%post --nochroot",
            status,
            f"osdepot_status {POST_INSTALL}",
            f"osdepot_status {COMPLETED}",
            "%end",
            "",
        ]
    )


# -- ESXi kickstart -----------------------------------------------------------------------


#: ESXi's own choice of disk by kind (its kickstart's ``--firstdisk`` filters): USB,
#: remote (SAN), and for M.2 the drivers of NVMe and of the SATA (AHCI) M.2 kits
_ESXI_DISKS = {"usbdisk": "=usb", "sandisk": "=remote", "m2disk": "=nvme_pcie,vmw_ahci"}
_ESXI_KEY = re.compile(r"[A-Z0-9]{5}(?:-[A-Z0-9]{5}){4}")


def esxi_kickstart(plan: Plan) -> str:
    """ESXi's ks.cfg: the whole first disk, root's password (SHA-512-crypt), the
    license key, the management network (IPv4: ESXi's kickstart has no IPv6 static
    address nor MTU), and the status calls — 13 and 14 from the installer (``%pre``),
    15 and 17 from the installed system's first boot (``%firstboot``)."""
    net = ["network"]
    if plan.static:
        mask = ipaddress.IPv4Network(f"0.0.0.0/{plan.prefix or 24}").netmask
        net += ["--bootproto=static", f"--ip={plan.ip_address}", f"--netmask={mask}"]
        if plan.gateway:
            net.append(f"--gateway={plan.gateway}")
        if plan.dns:
            net.append(f"--nameserver={','.join(plan.dns)}")
    else:
        net.append("--bootproto=dhcp")
    if plan.mac:
        net.append(f"--device={plan.mac}")
    if plan.vlan_id:
        net.append(f"--vlanid={plan.vlan_id}")
    net.append(f"--hostname={plan.hostname}")
    status = python_status(plan)
    lines = [
        f"# osdepot: esxi {plan.profile} for system {plan.uuid}",
        "vmaccepteula",
        f"install --firstdisk{_ESXI_DISKS.get(plan.target, '')} --overwritevmfs",
        f"rootpw --iscrypted {sha512_crypt(plan.admin_password)}",
        " ".join(net),
    ]
    if plan.license_key:
        if not _ESXI_KEY.fullmatch(plan.license_key):
            raise ValueError("an ESXi license key is five groups of five letters or digits")
        lines.append(f"serialnum --esx={plan.license_key}")
    return "\n".join(
        [
            *lines,
            "reboot",
            "",
            "%pre --interpreter=python",
            status,
            f"osdepot_status({PREPARING})",
            f"osdepot_status({INSTALLING})",
            "",
            "%firstboot --interpreter=python",
            status,
            f"osdepot_status({POST_INSTALL})",
            f"osdepot_status({COMPLETED})",
            "",
        ]
    )


# -- AutoYaST -----------------------------------------------------------------------------

_NS = "http://www.suse.com/1.0/yast2ns"
_CFG = "http://www.suse.com/1.0/configns"


_TYPE = "config:type"


def autoyast(plan: Plan) -> str:
    root = ET.Element("profile", {"xmlns": _NS, "xmlns:config": _CFG})
    general = _el(root, "general")
    mode = _el(general, "mode")
    _el(mode, "confirm", "false", **{_TYPE: "boolean"})
    net = _el(root, "networking")
    dns = _el(net, "dns")
    _el(dns, "hostname", plan.hostname)
    if plan.dns:
        servers = _el(dns, "nameservers", **{_TYPE: "list"})
        for d in plan.dns:
            _el(servers, "nameserver", d)
    interfaces = _el(net, "interfaces", **{_TYPE: "list"})
    iface = _el(interfaces, "interface")
    _el(iface, "name", "eth0")
    _el(iface, "startmode", "auto")
    _el(iface, "mtu", str(plan.mtu))
    if plan.static:
        _el(iface, "bootproto", "static")
        _el(iface, "ipaddr", plan.ip_address)
        _el(iface, "prefixlen", str(plan.prefix or 24))
    else:
        _el(iface, "bootproto", "dhcp")
    if plan.gateway and plan.static:
        routing = _el(net, "routing")
        routes = _el(routing, "routes", **{_TYPE: "list"})
        route = _el(routes, "route")
        for tag, value in (("destination", "default"), ("gateway", plan.gateway), ("device", "-")):
            _el(route, tag, value)
    users = _el(root, "users", **{_TYPE: "list"})
    user = _el(users, "user")
    _el(user, "username", "root")
    _el(user, "user_password", sha512_crypt(plan.admin_password))
    _el(user, "encrypted", "true", **{_TYPE: "boolean"})
    picking = ""
    if plan.target != "localdisk":
        # the pre-script finds the disk and writes it into the profile AutoYaST
        # reads again (/tmp/profile/modified.xml)
        parts = _el(root, "partitioning", **{_TYPE: "list"})
        drive = _el(parts, "drive")
        _el(drive, "device", PICKED_DISK)
        _el(drive, "initialize", "true", **{_TYPE: "boolean"})
        _el(drive, "use", "all")
        picking = (
            disk_pick(plan) + f'\nsed "s|{PICKED_DISK}|$OSDEPOT_DISK|" /tmp/profile/autoinst.xml'
            " > /tmp/profile/modified.xml\n"
        )
    scripts = _el(root, "scripts")
    status = shell_status(plan)
    for section, first, then in (
        ("pre-scripts", PREPARING, INSTALLING),
        ("init-scripts", POST_INSTALL, COMPLETED),
    ):
        lst = _el(scripts, section, **{_TYPE: "list"})
        script = _el(lst, "script")
        _el(script, "filename", f"osdepot-{section}.sh")
        body = f"#!/bin/sh\n{status}\nosdepot_status {first}\n"
        body += (picking if section == "pre-scripts" else "") + f"osdepot_status {then}\n"
        _el(script, "source", body)
    ET.indent(root)
    comment = f"<!-- osdepot: sles {plan.profile} for system {plan.uuid} -->\n"
    return '<?xml version="1.0"?>\n' + comment + ET.tostring(root, encoding="unicode") + "\n"


# -- autoinstall (Ubuntu) -----------------------------------------------------------------


def autoinstall(plan: Plan) -> str:
    """cloud-init user-data with an ``autoinstall`` section, written as JSON (which
    YAML reads as is: no value can break out of its quotes)."""
    ethernet: dict[str, object] = {
        "match": {"macaddress": plan.mac} if plan.mac else {"name": "en*"},
        "mtu": plan.mtu,
    }
    if plan.static:
        ethernet["addresses"] = [f"{plan.ip_address}/{plan.prefix or 24}"]
        if plan.gateway:
            ethernet["routes"] = [{"to": "default", "via": plan.gateway}]
        if plan.dns:
            ethernet["nameservers"] = {"addresses": list(plan.dns)}
    else:
        ethernet["dhcp4"] = True
    network: dict[str, object] = {"version": 2, "ethernets": {"nic0": ethernet}}
    if plan.vlan_id:
        vlan = {k: v for k, v in ethernet.items() if k not in ("match", "mtu")}
        ethernet = {"match": ethernet["match"], "mtu": plan.mtu, "dhcp4": False}
        network = {
            "version": 2,
            "ethernets": {"nic0": ethernet},
            "vlans": {f"vlan{plan.vlan_id}": {"id": plan.vlan_id, "link": "nic0", **vlan}},
        }
    user = plan.admin_user if plan.admin_user not in ("", "root") else "ubuntu"
    status = shell_status(plan)
    layout: dict[str, object] = {"name": "lvm"}
    picking = ""
    if plan.target != "localdisk":
        # an early command finds the disk and writes it into the configuration,
        # which subiquity reads again after the early commands (/autoinstall.yaml)
        layout["match"] = {"path": PICKED_DISK}
        picking = disk_pick(plan) + f'\nsed -i "s|{PICKED_DISK}|$OSDEPOT_DISK|" /autoinstall.yaml\n'
    doc = {
        "autoinstall": {
            "version": 1,
            "identity": {
                "hostname": plan.hostname,
                "username": user,
                "realname": "osdepot deployment",
                "password": sha512_crypt(plan.admin_password),
            },
            "network": network,
            "storage": {"layout": layout},
            "ssh": {"install-server": True, "allow-pw": True},
            "early-commands": [
                [
                    "sh",
                    "-c",
                    f"{status}\nosdepot_status {PREPARING}\n{picking}osdepot_status {INSTALLING}",
                ]
            ],
            "late-commands": [
                ["sh", "-c", f"{status}\nosdepot_status {POST_INSTALL}; osdepot_status {COMPLETED}"]
            ],
        }
    }
    return "#cloud-config\n" + json.dumps(doc, indent=2) + "\n"


# -- a profile's own unattended file, with macros -----------------------------------------

#: ``#name#``: LXCA's macros (``#predefined.globalSettings.ipAssignment#``, and the
#: custom configuration settings' ``#a.b.c#``)
MACRO = re.compile(r"#([A-Za-z_][A-Za-z0-9_.-]*)#")


def predefined(plan: Plan, selected: str = "") -> dict[str, str]:
    """LXCA's predefined macros (``predefined.…``) for this host, and osdepot's own
    for the status calls and the password hash."""
    values = {
        "globalSettings.ipAssignment": plan.ip_assignment,
        "globalSettings.isVLANMode": "true" if plan.vlan_id else "false",
        "globalSettings.credentials.name": plan.admin_user,
        "hostPlatforms.uuid": plan.uuid,
        "hostPlatforms.selectedImage": selected,
        "hostPlatforms.licenseKey": plan.license_key,
        "hostPlatforms.networkSettings.hostname": plan.hostname,
        "hostPlatforms.networkSettings.ipAddress": plan.ip_address,
        "hostPlatforms.networkSettings.subnetMask": (
            str(ipaddress.IPv4Network(f"0.0.0.0/{plan.prefix}").netmask)
            if plan.prefix is not None and plan.prefix <= 32 and ":" not in plan.ip_address
            else ""
        ),
        "hostPlatforms.networkSettings.prefixLength": ""
        if plan.prefix is None
        else str(plan.prefix),
        "hostPlatforms.networkSettings.gateway": plan.gateway,
        "hostPlatforms.networkSettings.dns1": plan.dns[0] if plan.dns else "",
        "hostPlatforms.networkSettings.dns2": plan.dns[1] if len(plan.dns) > 1 else "",
        "hostPlatforms.networkSettings.mtu": str(plan.mtu),
        "hostPlatforms.networkSettings.vlanId": str(plan.vlan_id),
        "hostPlatforms.networkSettings.selectedMAC": plan.mac or "AUTO",
        "hostPlatforms.storageSettings.targetDevice": plan.target,
        "otherSettings.statusSettings.urlStatus": plan.callback_url,
        "otherSettings.statusSettings.token": plan.token,
        "otherSettings.statusSettings.shellFunction": shell_status(plan),
        "otherSettings.statusSettings.pythonFunction": python_status(plan),
    }
    if plan.family != "windows":
        values["globalSettings.credentials.passwordHash"] = sha512_crypt(plan.admin_password)
    return {f"predefined.{k}": v for k, v in values.items()}


def undefined(text: str, custom: dict[str, str]) -> list[str]:
    """The ``predefined.…`` macros ``text`` uses that osdepot does not define (custom
    macros osdepot does not know are left as they are written: they may be text)."""
    known = _PREDEFINED_NAMES | set(custom)
    return sorted(
        {m for m in MACRO.findall(text) if m.startswith("predefined.") and m not in known}
    )


#: every predefined macro's name (Linux's set has the password hash too)
_PREDEFINED_NAMES = frozenset(
    predefined(
        Plan("rhel", "", "", "", "dhcpv4", "", None, "", (), 1500, 0, "", "", "", "", "", "")
    )
)


def custom_files(plan: Plan, text: str, custom: dict[str, str], selected: str) -> dict[str, bytes]:
    """The configuration volume's files from the profile's own unattended file: every
    macro it uses replaced by its value. A kickstart gets osdepot's status calls as a
    last ``%post`` section (ESXi's: ``%firstboot``) when it makes none itself (other
    formats make their own, with the ``predefined.otherSettings.statusSettings``
    macros: docs/deployment.md)."""
    values = {**custom, **predefined(plan, selected)}
    out = MACRO.sub(lambda m: values.get(m.group(1), m.group(0)), text)
    if plan.family in RED_HAT and "otherSettings.statusSettings" not in text:
        out = (
            out.rstrip("\n")
            + "\n\n%post --nochroot\n"
            + shell_status(plan)
            + (f"\nosdepot_status {POST_INSTALL}\nosdepot_status {COMPLETED}\n%end\n")
        )
    if plan.family == "esxi" and "otherSettings.statusSettings" not in text:
        out = (
            out.rstrip("\n")
            + "\n\n%firstboot --interpreter=python\n"
            + python_status(plan)
            + f"\nosdepot_status({POST_INSTALL})\nosdepot_status({COMPLETED})\n"
        )
    found = {MAIN_FILE[plan.family]: out.encode()}
    if plan.family == "ubuntu":
        found["meta-data"] = files(plan)["meta-data"]
    return found
