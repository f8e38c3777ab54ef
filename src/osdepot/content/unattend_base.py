"""What the unattended files of deployments share: the :class:`Plan` of one host's
installation, the deployment states its installer reports, the status calls in the
installers' languages (POSIX shell with curl; Python, which ESXi runs), the disk
picker of storage targets, and the XML element helper. The files: content/unattend.py
(and content/unattend_windows.py)."""

from __future__ import annotations

import json
import shlex
import xml.etree.ElementTree as ET
from dataclasses import dataclass

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


# -- the status calls -------------------------------------------------------------------


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
PICKED_DISK = "/dev/osdepot-disk"


def disk_pick(plan: Plan) -> str:
    """Shell that sets ``OSDEPOT_DISK`` to the target's disk, or reports the LXCA
    failure state and stops the installation (``osdepot_status`` defined before)."""
    what, state = PICKED_TARGETS[plan.target]
    return (
        f"{DISK_PICKER}\n"
        f"OSDEPOT_DISK=$(osdepot_disk {plan.target}) || {{ osdepot_status {state}; "
        f'echo "osdepot: this server has no {what} to install on" >&2; exit 1; }}'
    )


def el(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    e = ET.SubElement(parent, tag, attrs)
    if text is not None:
        e.text = text
    return e
