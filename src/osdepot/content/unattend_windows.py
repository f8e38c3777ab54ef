"""``autounattend.xml`` for Windows Server: edition, product key, disk 0, the
Administrator's password in Windows' own encoding, an Active Directory join (an
account, or an offline join's provisioning data), and the status calls in
PowerShell, pinning osdepot's certificate by its SHA-1 thumbprint."""

from __future__ import annotations

import base64
import hashlib
import json
import xml.etree.ElementTree as ET

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from osdepot.content.unattend_base import COMPLETED, POST_INSTALL, Plan
from osdepot.content.unattend_base import el as _el


def _status_body(state: int) -> str:
    return json.dumps({"deployStatus": {"id": str(state)}}, separators=(",", ":"))


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


# -- autounattend.xml ---------------------------------------------------------------------

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
