"""The unattended-installation files of deployments, rendered per host: kickstart for
the Red Hat family, AutoYaST for SLES, autoinstall (cloud-init user-data) for Ubuntu,
``autounattend.xml`` for Windows Server, ``ks.cfg`` for ESXi. Each sets the host name,
network, disk, administrator account and (Windows) product key, and reports the installation's
progress to osdepot (LXCA's ``PUT /hostPlatforms/{uuid}`` with ``deployStatus.id``),
authenticated by the deployment's token, over TLS checked against osdepot's own
certificate when one is given (embedded in the file; Windows pins its SHA-1
thumbprint). Values are quoted for the file's language (shell, XML, JSON-as-YAML):
nothing a user typed can add a line of its own.

Where each installer finds its file without an edited ISO (docs/deployment.md):
anaconda and AutoYaST read ``ks.cfg``/``autoinst.xml`` from a volume labelled
``OEMDRV``; cloud-init's NoCloud source reads ``user-data``/``meta-data`` from one
labelled ``CIDATA``; Windows Setup searches every drive's root for
``autounattend.xml``; ESXi's installer searches every CD for the file its boot option
``ks=cdrom:/KS.CFG`` names (the option is in the view of the ISO the deployment
serves: content/esxi_boot.py)."""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import json
import re
import shlex
import xml.etree.ElementTree as ET
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from osdepot.content.sha512_crypt import sha512_crypt

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

#: the deployment states the installation reports (LXCA's ids)
PREPARING, INSTALLING, POST_INSTALL, COMPLETED = 13, 14, 15, 17


@dataclass(frozen=True)
class Plan:
    """What one host's installation needs, checked already (domain/deploy.py)."""

    family: str
    profile: str  # Basic, Minimal, Virtualization, or a Windows edition's name
    uuid: str
    hostname: str
    ip_assignment: str  # dhcpv4, staticv4, staticv6
    ip_address: str
    prefix: int | None  # the subnet's length (from the mask for IPv4)
    gateway: str
    dns: tuple[str, ...]
    mtu: int
    vlan_id: int  # 0: none
    mac: str  # "" (AUTO): the first interface with a link
    admin_user: str
    admin_password: str
    license_key: str
    callback_url: str
    token: str
    ca_pem: str = ""  # osdepot's certificate ("" : the system's CAs, or plain HTTP)
    #: Windows: the Active Directory domain to join ("" none), its OU, and the account
    ad_domain: str = ""
    ad_ou: str = ""
    ad_user: str = ""
    ad_password: str = ""
    #: Windows: an offline domain join's provisioning blob (``djoin /provision
    #: /printblob``, base64), instead of an account ("" none)
    ad_blob: str = ""
    #: storageSettings.targetDevice: localdisk (the installer's own choice), usbdisk,
    #: m2disk, sandisk (a disk of that kind, found on the host at installation time)
    target: str = "localdisk"

    @property
    def static(self) -> bool:
        return self.ip_assignment != "dhcpv4" and bool(self.ip_address)


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


# -- the status calls -------------------------------------------------------------------


def _status_body(state: int) -> str:
    return json.dumps({"deployStatus": {"id": str(state)}}, separators=(",", ":"))


def shell_status(plan: Plan) -> str:
    """A POSIX shell function ``osdepot_status ID`` (and the CA file it uses)."""
    lines = []
    cacert = ""
    if plan.ca_pem:
        lines.append(
            "cat > /tmp/osdepot-ca.pem <<'OSDEPOT_CA'\n" + plan.ca_pem.strip() + "\nOSDEPOT_CA"
        )
        cacert = " --cacert /tmp/osdepot-ca.pem"
    auth = shlex.quote(f"Authorization: Bearer {plan.token}")
    url = shlex.quote(plan.callback_url)
    lines.append(
        "osdepot_status() { curl -sS --retry 5 --retry-delay 5 --max-time 60"
        f"{cacert} -X PUT -H {auth} -H 'Content-Type: application/json' "
        f'-d \'{{"deployStatus":{{"id":"\'"$1"\'"}}}}\' {url} || true; }}'
    )
    return "\n".join(lines)


def _thumbprint(pem: str) -> str:
    cert = x509.load_pem_x509_certificate(pem.encode())
    der = cert.public_bytes(Encoding.DER)
    return hashlib.sha1(der).hexdigest().upper()  # Windows names certificates so


def powershell_status(plan: Plan, state: int) -> str:
    """A PowerShell command that reports ``state`` (pinning osdepot's certificate)."""
    pin = ""
    if plan.ca_pem:
        pin = (
            "[System.Net.ServicePointManager]::ServerCertificateValidationCallback = "
            f"{{param($s,$c) $c.GetCertHashString() -eq '{_thumbprint(plan.ca_pem)}'}}; "
        )
    body = _status_body(state).replace("'", "''")
    script = (
        "[Net.ServicePointManager]::SecurityProtocol = 'Tls12'; " + pin + "Invoke-RestMethod "
        f"-Method Put -Uri '{plan.callback_url}' -ContentType 'application/json' "
        f"-Headers @{{Authorization='Bearer {plan.token}'}} -Body '{body}'"
    )
    encoded = base64.b64encode(script.encode("utf-16-le")).decode("ascii")
    return f"powershell -NoProfile -ExecutionPolicy Bypass -EncodedCommand {encoded}"


def powershell_joined(plan: Plan) -> str:
    """Reports 27 when the server joined its domain, else 26."""
    joined, failed = powershell_status(plan, 27), powershell_status(plan, 26)
    check = "if ((Get-CimInstance Win32_ComputerSystem).PartOfDomain) { exit 0 } else { exit 1 }"
    encoded = base64.b64encode(check.encode("utf-16-le")).decode("ascii")
    return f"cmd /c powershell -NoProfile -EncodedCommand {encoded} && ({joined}) || ({failed})"


# -- the disk of a storage target ----------------------------------------------------------

#: the targets found by the disk picker, what each is, and the LXCA state reported
#: when the host has none (22 storage, 23 USB storage, 24 SAN failure)
PICKED_TARGETS = {
    "usbdisk": ("USB disk", 23),
    "m2disk": ("M.2 disk (NVMe, or a model naming M.2)", 22),
    "sandisk": ("SAN disk (Fibre Channel or iSCSI)", 24),
}

#: ``osdepot_disk KIND``: the first whole, writable disk of 4 GiB or more of that kind,
#: read from sysfs (the installer's environment has it; lsblk's columns would shift
#: when a field is empty): a USB disk lies under a USB device; a SAN disk under a Fibre
#: Channel remote port or an iSCSI session; an M.2 disk is NVMe or names M.2. The
#: virtual media are read-only or small, so neither is ever picked.
DISK_PICKER = r"""osdepot_disk() {
  for dev in "${OSDEPOT_SYS:-/sys}"/block/*; do
    [ -e "$dev/device" ] || continue
    name=${dev##*/}
    case "$name" in sr*|fd*|loop*|ram*|zram*) continue ;; esac
    [ "$(cat "$dev/ro" 2>/dev/null)" = 0 ] || continue
    [ "$(cat "$dev/size" 2>/dev/null || echo 0)" -ge 8388608 ] || continue
    where=$(readlink -f "$dev")
    model=$(cat "$dev/device/model" 2>/dev/null)
    case "$1" in
      usbdisk) case "$where" in */usb*) ;; *) continue ;; esac ;;
      sandisk) case "$where" in */rport-*|*/session*) ;; *) continue ;; esac ;;
      m2disk) case "$name:$model" in nvme*|*M.2*) ;; *) continue ;; esac ;;
      *) continue ;;
    esac
    echo "/dev/$name"
    return 0
  done
  return 1
}"""


#: the device a profile names until the installer's script has found the disk
_PICKED_DISK = "/dev/osdepot-disk"


def disk_pick(plan: Plan) -> str:
    """Shell that sets ``OSDEPOT_DISK`` to the target's disk, or reports the LXCA
    failure state and stops the installation (``osdepot_status`` defined before)."""
    what, state = PICKED_TARGETS[plan.target]
    return (
        f"{DISK_PICKER}\n"
        f"OSDEPOT_DISK=$(osdepot_disk {plan.target}) || {{ osdepot_status {state}; "
        f'echo "osdepot: this server has no {what} to install on" >&2; exit 1; }}'
    )


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


def python_status(plan: Plan) -> str:
    """Python (3, as ESXi's installer and first boot run it) defining
    ``osdepot_status(state)``: every value a JSON string, which Python reads as is."""
    return "\n".join(
        [
            "import json, ssl, time, urllib.request",
            f"OSDEPOT_URL = {json.dumps(plan.callback_url)}",
            f"OSDEPOT_AUTH = {json.dumps('Bearer ' + plan.token)}",
            f"OSDEPOT_CA = {json.dumps(plan.ca_pem.strip())}",
            "def osdepot_status(state):",
            "    context = ssl.create_default_context(cadata=OSDEPOT_CA or None)",
            "    body = json.dumps({'deployStatus': {'id': str(state)}}).encode()",
            "    headers = {'Authorization': OSDEPOT_AUTH, 'Content-Type': 'application/json'}",
            "    for _attempt in range(5):",
            "        try:",
            "            request = urllib.request.Request(",
            "                OSDEPOT_URL, data=body, headers=headers, method='PUT')",
            "            urllib.request.urlopen(request, context=context, timeout=60).close()",
            "            return",
            "        except Exception:",
            "            time.sleep(5)",
        ]
    )


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


def _el(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    e = ET.SubElement(parent, tag, attrs)
    if text is not None:
        e.text = text
    return e


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
        _el(drive, "device", _PICKED_DISK)
        _el(drive, "initialize", "true", **{_TYPE: "boolean"})
        _el(drive, "use", "all")
        picking = (
            disk_pick(plan) + f'\nsed "s|{_PICKED_DISK}|$OSDEPOT_DISK|" /tmp/profile/autoinst.xml'
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
        layout["match"] = {"path": _PICKED_DISK}
        picking = (
            disk_pick(plan) + f'\nsed -i "s|{_PICKED_DISK}|$OSDEPOT_DISK|" /autoinstall.yaml\n'
        )
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


# -- autounattend.xml (Windows Server) ----------------------------------------------------

_U = "urn:schemas-microsoft-com:unattend"
_WCM = "http://schemas.microsoft.com/WMIConfig/2002/State"
_ARCH = {
    "processorArchitecture": "amd64",
    "publicKeyToken": "31bf3856ad364e35",
    "language": "neutral",
    "versionScope": "nonSxS",
}


def _component(settings: ET.Element, name: str) -> ET.Element:
    return _el(settings, "component", name=name, **_ARCH)


def autounattend(plan: Plan) -> str:
    root = ET.Element("unattend", {"xmlns": _U, "xmlns:wcm": _WCM})
    pe = _el(root, "settings", **{"pass": "windowsPE"})
    intl = _component(pe, "Microsoft-Windows-International-Core-WinPE")
    for tag in ("InputLocale", "SystemLocale", "UILanguage", "UserLocale"):
        _el(intl, tag, "en-US")
    setup = _component(pe, "Microsoft-Windows-Setup")
    disk = _el(_el(setup, "DiskConfiguration"), "Disk", **{"wcm:action": "add"})
    _el(disk, "DiskID", "0")
    _el(disk, "WillWipeDisk", "true")
    parts = _el(disk, "CreatePartitions")
    for order, kind, size in (("1", "EFI", "260"), ("2", "MSR", "16"), ("3", "Primary", None)):
        p = _el(parts, "CreatePartition", **{"wcm:action": "add"})
        _el(p, "Order", order)
        _el(p, "Type", kind)
        if size:
            _el(p, "Size", size)
        else:
            _el(p, "Extend", "true")
    image = _el(setup, "ImageInstall")
    os_image = _el(image, "OSImage")
    if plan.profile:
        meta = _el(_el(os_image, "InstallFrom"), "MetaData", **{"wcm:action": "add"})
        _el(meta, "Key", "/IMAGE/NAME")
        _el(meta, "Value", plan.profile)
    target = _el(os_image, "InstallTo")
    _el(target, "DiskID", "0")
    _el(target, "PartitionID", "3")
    data = _el(setup, "UserData")
    _el(data, "AcceptEula", "true")
    if plan.license_key:
        _el(_el(data, "ProductKey"), "Key", plan.license_key)
    spec = _el(root, "settings", **{"pass": "specialize"})
    shell = _component(spec, "Microsoft-Windows-Shell-Setup")
    _el(shell, "ComputerName", plan.hostname[:15] or "*")
    if plan.ad_blob:  # offline domain join: the blob holds the domain and the account
        offline = _el(_component(spec, "Microsoft-Windows-UnattendedJoin"), "OfflineIdentification")
        _el(_el(offline, "Provisioning"), "AccountData", plan.ad_blob)
    elif plan.ad_domain:
        join = _el(_component(spec, "Microsoft-Windows-UnattendedJoin"), "Identification")
        creds = _el(join, "Credentials")
        _el(creds, "Domain", plan.ad_domain)
        _el(creds, "Username", plan.ad_user)
        _el(creds, "Password", plan.ad_password)  # Windows takes it only in clear here
        _el(join, "JoinDomain", plan.ad_domain)
        if plan.ad_ou:
            _el(join, "MachineObjectOU", plan.ad_ou)
    oobe = _el(root, "settings", **{"pass": "oobeSystem"})
    shell = _component(oobe, "Microsoft-Windows-Shell-Setup")
    accounts = _el(shell, "UserAccounts")
    admin = _el(accounts, "AdministratorPassword")
    # Windows' own encoding of the password (base64 of the UTF-16 text and the field
    # name): the file reaches only this deployment's host (docs/deployment.md)
    encoded = base64.b64encode((plan.admin_password + "AdministratorPassword").encode("utf-16-le"))
    _el(admin, "Value", encoded.decode("ascii"))
    _el(admin, "PlainText", "false")
    o = _el(shell, "OOBE")
    for tag, value in (
        ("HideEULAPage", "true"),
        ("ProtectYourPC", "3"),
        ("HideWirelessSetupInOOBE", "true"),
    ):
        _el(o, tag, value)
    commands = _el(shell, "FirstLogonCommands")
    calls = [(powershell_status(plan, POST_INSTALL), f"deployment state {POST_INSTALL}")]
    if plan.ad_domain or plan.ad_blob:  # LXCA's 27 (joined) or 26 (failed: it fails)
        calls.append((powershell_joined(plan), "the Active Directory join"))
    calls.append((powershell_status(plan, COMPLETED), f"deployment state {COMPLETED}"))
    for step, (line, what) in enumerate(calls, 1):
        cmd = _el(commands, "SynchronousCommand", **{"wcm:action": "add"})
        _el(cmd, "Order", str(step))
        _el(cmd, "CommandLine", line)
        _el(cmd, "Description", f"osdepot: {what}")
    auto = _el(shell, "AutoLogon")
    _el(auto, "Enabled", "true")
    _el(auto, "LogonCount", "1")
    _el(auto, "Username", "Administrator")
    pw = _el(auto, "Password")
    _el(
        pw,
        "Value",
        base64.b64encode((plan.admin_password + "Password").encode("utf-16-le")).decode("ascii"),
    )
    _el(pw, "PlainText", "false")
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


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
