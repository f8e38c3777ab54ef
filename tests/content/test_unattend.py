"""The unattended files of deployments, their configuration volume and the password
hash they carry: what each installer is given, quoted so that no value a user typed
can become a line, a tag or a key of its own."""

from __future__ import annotations

import base64
import json
import subprocess
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path

import pytest

from osdepot.content import config_volume, unattend
from osdepot.content.sha512_crypt import sha512_crypt
from osdepot.tlscert import ensure_self_signed

HOSTILE_PW = "p'w\"$(reboot)`id`\n<x>&;"
PLAN = unattend.Plan(
    family="rhel",
    profile="Minimal",
    uuid="A" * 32,
    hostname="web1.example.com",
    ip_assignment="staticv4",
    ip_address="10.0.0.5",
    prefix=22,
    gateway="10.0.0.1",
    dns=("10.0.0.2", "10.0.0.3"),
    mtu=9000,
    vlan_id=0,
    mac="",
    admin_user="root",
    admin_password=HOSTILE_PW,
    license_key="",
    callback_url="https://osdepot.example:8443/hostPlatforms/" + "A" * 32,
    token="tok_en-123",
)


def test_sha512_crypt_matches_the_specifications_vectors() -> None:
    assert sha512_crypt("Hello world!", "saltstring") == (
        "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEd"
        "FCoEOfaS35inz1"
    )
    assert sha512_crypt("Hello world!", "saltstringsaltstring", 10000) == (
        "$6$rounds=10000$saltstringsaltst$OW1/O6BYHV6BcXZu8QVeXbDWra3Oeqh0sbHbbMCVNSnCM/UrjmM0Dp8"
        "vOuZeHBy/YTBmSK6H9qs/y3RnOaw5v."
    )
    assert sha512_crypt("we have a short salt string but not a short password", "short", 77777) == (
        "$6$rounds=77777$short$WuQyW2YR.hBNpjjRhpYD/ifIw05xdfeEyQoMxIXbkvr0gge1a1x3yRULJ5CCaUeOxFmt"
        "lcGZelFl5CxtgfiAc0"
    )
    one, two = sha512_crypt("x"), sha512_crypt("x")
    assert one != two and one.startswith("$6$") and len(one.split("$")[2]) == 16  # salted


def test_kickstart_static_and_dhcp() -> None:
    ks = unattend.kickstart(PLAN)
    net = next(line for line in ks.splitlines() if line.startswith("network "))
    assert "--bootproto=static --ip=10.0.0.5 --netmask=255.255.252.0" in net
    assert "--gateway=10.0.0.1 --nameserver=10.0.0.2,10.0.0.3" in net
    assert "--mtu=9000" in net and "--hostname=web1.example.com" in net
    assert "@^minimal-environment" in ks and "reboot --eject" in ks
    assert HOSTILE_PW not in ks and "reboot)" not in ks  # only its hash is there
    root = next(line for line in ks.splitlines() if line.startswith("rootpw"))
    assert root.startswith("rootpw --iscrypted $6$") and len(root.split()) == 3
    dhcp = unattend.kickstart(
        replace(PLAN, ip_assignment="dhcpv4", vlan_id=12, mac="aa:bb:cc:dd:ee:ff")
    )
    net = next(line for line in dhcp.splitlines() if line.startswith("network "))
    assert (
        "--bootproto=dhcp" in net and "--vlanid=12" in net and "--device=aa:bb:cc:dd:ee:ff" in net
    )
    v6 = unattend.kickstart(
        replace(PLAN, ip_assignment="staticv6", ip_address="fd00::5", prefix=64, gateway="fd00::1")
    )
    assert "--noipv4 --ipv6=fd00::5/64 --ipv6gateway=fd00::1" in v6


def test_the_status_calls_are_valid_shell_that_reports_each_state(tmp_path: Path) -> None:
    """The function the Linux files define, run by sh with curl replaced by a script
    that records its arguments: each state goes to the callback URL with the token."""
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "curl").write_text('#!/bin/sh\nfor a in "$@"; do printf "%s\\n" "$a"; done\necho --\n')
    (fake / "curl").chmod(0o755)
    cert, _ = ensure_self_signed(tmp_path / "tls")
    plan = replace(PLAN, ca_pem=cert.read_text())
    script = unattend.shell_status(plan) + "\nosdepot_status 13\nosdepot_status 17\n"
    out = subprocess.run(
        ["sh", "-ec", script],
        capture_output=True,
        text=True,
        env={"PATH": f"{fake}:/usr/bin:/bin"},
        check=True,
    ).stdout
    calls = [c.strip().splitlines() for c in out.split("--\n") if c.strip()]
    assert len(calls) == 2
    for args, state in zip(calls, (13, 17), strict=True):
        assert args[args.index("-d") + 1] == json.dumps(
            {"deployStatus": {"id": str(state)}}, separators=(",", ":")
        )
        assert "Authorization: Bearer tok_en-123" in args and args[-1] == PLAN.callback_url
        assert args[args.index("--cacert") + 1] == "/tmp/osdepot-ca.pem"


def test_autoyast_is_xml_with_the_settings() -> None:
    doc = unattend.autoyast(replace(PLAN, family="sles"))
    root = ET.fromstring(doc)
    ns = {"y": "http://www.suse.com/1.0/yast2ns"}
    assert root.find("y:networking/y:dns/y:hostname", ns).text == "web1.example.com"  # type: ignore[union-attr]
    iface = root.find("y:networking/y:interfaces/y:interface", ns)
    assert iface is not None and iface.find("y:ipaddr", ns).text == "10.0.0.5"  # type: ignore[union-attr]
    assert iface.find("y:prefixlen", ns).text == "22"  # type: ignore[union-attr]
    pw = root.find("y:users/y:user/y:user_password", ns)
    assert pw is not None and pw.text is not None and pw.text.startswith("$6$")
    assert HOSTILE_PW not in doc
    scripts = root.findall("y:scripts/*/y:script/y:source", ns)
    assert len(scripts) == 2 and "osdepot_status 17" in (scripts[1].text or "")


def test_autoinstall_is_json_yaml_with_a_user_that_is_not_root() -> None:
    text = unattend.autoinstall(replace(PLAN, family="ubuntu", vlan_id=7, mac="aa:bb:cc:dd:ee:ff"))
    assert text.startswith("#cloud-config\n")
    doc = json.loads(text.split("\n", 1)[1])["autoinstall"]
    assert doc["identity"]["username"] == "ubuntu" and doc["identity"]["password"].startswith("$6$")
    assert doc["identity"]["hostname"] == "web1.example.com"
    vlan = doc["network"]["vlans"]["vlan7"]
    assert vlan["id"] == 7 and vlan["addresses"] == ["10.0.0.5/22"]
    assert vlan["routes"] == [{"to": "default", "via": "10.0.0.1"}]
    assert doc["network"]["ethernets"]["nic0"]["match"] == {"macaddress": "aa:bb:cc:dd:ee:ff"}
    assert "osdepot_status 17" in doc["late-commands"][0][2]
    files = unattend.files(replace(PLAN, family="ubuntu"))
    assert set(files) == {"user-data", "meta-data"}
    assert b"local-hostname: web1.example.com" in files["meta-data"]


def test_autounattend_sets_the_edition_key_and_password(tmp_path: Path) -> None:
    cert, _ = ensure_self_signed(tmp_path / "tls")
    plan = replace(
        PLAN,
        family="windows",
        profile="Windows Server 2022 SERVERSTANDARD <&>",
        hostname="a-very-long-windows-host-name",
        license_key="AAAAA-BBBBB-CCCCC-DDDDD-EEEEE",
        ca_pem=cert.read_text(),
    )
    doc = unattend.autounattend(plan)
    root = ET.fromstring(doc)
    u = {"u": "urn:schemas-microsoft-com:unattend"}
    value = root.find(".//u:MetaData/u:Value", u)
    assert value is not None and value.text == "Windows Server 2022 SERVERSTANDARD <&>"
    key = root.find(".//u:ProductKey/u:Key", u)
    assert key is not None and key.text == "AAAAA-BBBBB-CCCCC-DDDDD-EEEEE"
    name = root.find(".//u:ComputerName", u)
    assert name is not None and name.text == "a-very-long-win"  # NetBIOS: 15 characters
    admin = root.find(".//u:AdministratorPassword/u:Value", u)
    assert admin is not None and admin.text is not None
    decoded = base64.b64decode(admin.text).decode("utf-16-le")
    assert decoded == HOSTILE_PW + "AdministratorPassword"
    commands = root.findall(".//u:SynchronousCommand/u:CommandLine", u)
    assert len(commands) == 2
    script = base64.b64decode(commands[1].text.split()[-1]).decode("utf-16-le")  # type: ignore[union-attr]
    assert "GetCertHashString() -eq '" in script and "Bearer tok_en-123" in script
    assert '"id":"17"' in script and PLAN.callback_url in script


def test_families_volumes_and_labels(tmp_path: Path) -> None:
    for family, label, name in (
        ("rocky", "OEMDRV", "ks.cfg"),
        ("sles", "OEMDRV", "autoinst.xml"),
        ("ubuntu", "CIDATA", "user-data"),
        ("windows", "OSDEPOT", "autounattend.xml"),
        ("esxi", "OSDEPOT", "KS.CFG"),
    ):
        plan = replace(PLAN, family=family)
        files = unattend.files(plan)
        assert unattend.main_file(plan) == name and unattend.LABELS[family] == label
        image = config_volume.build(label, files)
        assert config_volume.read(image) == files
        path = tmp_path / f"{family}.iso"
        path.write_bytes(image)
        seen = subprocess.run(
            ["blkid", "-p", "-o", "export", str(path)], capture_output=True, text=True, check=False
        )
        assert f"LABEL={label}" in seen.stdout, seen
    with pytest.raises(ValueError, match="debian"):
        unattend.files(replace(PLAN, family="debian"))
    with pytest.raises(ValueError, match="larger"):
        config_volume.build("OEMDRV", {"big": b"x" * (config_volume.MAX_BYTES + 1)})


def test_a_windows_server_joins_its_domain_and_reports_it() -> None:
    plan = replace(
        PLAN,
        family="windows",
        profile="Windows Server 2022 SERVERSTANDARD",
        ad_domain="corp.example.com",
        ad_ou="OU=Servers,DC=corp,DC=example,DC=com",
        ad_user="joiner",
        ad_password="J<o>&in'er",
    )
    root = ET.fromstring(unattend.autounattend(plan))
    u = {"u": "urn:schemas-microsoft-com:unattend"}
    join = root.find(".//u:component[@name='Microsoft-Windows-UnattendedJoin']/u:Identification", u)
    assert join is not None
    assert join.findtext("u:JoinDomain", namespaces=u) == "corp.example.com"
    assert (
        join.findtext("u:MachineObjectOU", namespaces=u) == "OU=Servers,DC=corp,DC=example,DC=com"
    )
    assert join.findtext("u:Credentials/u:Password", namespaces=u) == "J<o>&in'er"
    commands = [c.text or "" for c in root.findall(".//u:SynchronousCommand/u:CommandLine", u)]
    assert len(commands) == 3 and commands[1].startswith("cmd /c powershell")
    scripts = [
        base64.b64decode(part).decode("utf-16-le") for part in commands[1].split() if len(part) > 40
    ]
    assert any("PartOfDomain" in x for x in scripts)
    assert any('"id":"27"' in x for x in scripts) and any('"id":"26"' in x for x in scripts)
    plain = ET.fromstring(unattend.autounattend(replace(plan, ad_domain="")))
    assert plain.find(".//u:component[@name='Microsoft-Windows-UnattendedJoin']", u) is None
    # an offline join (LXCA's windowsDomainBlob): the blob, no account; the join reported
    blob = base64.b64encode(b"djoin provisioning data").decode()
    offline = ET.fromstring(unattend.autounattend(replace(plan, ad_domain="", ad_blob=blob)))
    path = ".//u:OfflineIdentification/u:Provisioning/u:AccountData"
    assert offline.findtext(path, namespaces=u) == blob
    assert offline.find(".//u:Identification", u) is None
    commands = [c.text or "" for c in offline.findall(".//u:SynchronousCommand/u:CommandLine", u)]
    assert len(commands) == 3 and commands[1].startswith("cmd /c powershell")


def test_the_esxi_kickstart_quotes_every_value_in_its_python() -> None:
    """ESXi's status calls are Python: the URL, token and certificate are JSON string
    literals, so no value can become code; a key of another form is refused."""
    hostile = replace(
        PLAN,
        family="esxi",
        profile="Virtualization",
        callback_url="https://h/x\"); import os; os.system('reboot') #",
        token="t'o\"k\nen",
        mac="00:5c:52:31:3a:9f",
        vlan_id=7,
        license_key="AB12C-3DE4F-5GH6I-7JK8L-9MN0P",
    )
    ks = unattend.files(hostile)["KS.CFG"].decode()
    assert HOSTILE_PW not in ks and "rootpw --iscrypted $6$" in ks
    assert "network --bootproto=static --ip=10.0.0.5 --netmask=255.255.252.0" in ks
    assert "--device=00:5c:52:31:3a:9f --vlanid=7 --hostname=web1.example.com" in ks
    assert "serialnum --esx=AB12C-3DE4F-5GH6I-7JK8L-9MN0P" in ks
    for header in ("%pre --interpreter=python", "%firstboot --interpreter=python"):
        start = ks.index(header + "\n") + len(header) + 1
        end = ks.find("\n%", start)
        script = ks[start : end if end >= 0 else len(ks)]
        names: dict[str, object] = {}
        defs = [line for line in script.splitlines() if not line.startswith("osdepot_status(")]
        exec(compile("\n".join(defs), "ks", "exec"), names)  # the definitions, no call
        assert callable(names["osdepot_status"])
        assert names["OSDEPOT_URL"] == hostile.callback_url
        assert names["OSDEPOT_AUTH"] == "Bearer " + hostile.token
    dhcp = unattend.esxi_kickstart(replace(hostile, ip_assignment="dhcpv4", license_key=""))
    assert "network --bootproto=dhcp" in dhcp and "serialnum" not in dhcp
    with pytest.raises(ValueError, match="five groups"):
        unattend.esxi_kickstart(replace(hostile, license_key="AB12C\nreboot"))
    # a profile's own ESXi kickstart gets the status calls as a last %firstboot
    own = unattend.custom_files(hostile, "vmaccepteula\n", {}, "esxi8.0u2|x")["KS.CFG"]
    assert own.decode().startswith("vmaccepteula\n\n%firstboot --interpreter=python\n")


def fake_sys(root: Path, disks: dict[str, tuple[str, int, int, str]]) -> Path:
    """A sysfs tree: name -> (device path under devices/, size in sectors, ro, model)."""
    block = root / "sys" / "block"
    block.mkdir(parents=True)
    for name, (where, size, ro, model) in disks.items():
        real = root / "sys" / "devices" / where / name
        (real / "device").mkdir(parents=True)
        (real / "size").write_text(f"{size}\n")
        (real / "ro").write_text(f"{ro}\n")
        (real / "device" / "model").write_text(model + "\n")
        (block / name).symlink_to(real)
    return root / "sys"


GIB = 2 * 1024 * 1024  # sectors
SERVER_DISKS = {
    "sda": ("pci0000:00/0000:00:17.0/ata1/host0/target0:0:0/0:0:0:0/block", 480 * GIB, 0, "SSD"),
    "sdb": ("pci0000:00/0000:00:14.0/usb2/2-1/2-1:1.0/host6/t/6:0:0:0/block", 32 * GIB, 0, "Key"),
    # the BMC's virtual media: a read-only CD and a small read-only stick, both USB
    "sr0": ("pci0000:00/0000:00:14.0/usb1/1-1/1-1:1.0/host7/t/7:0:0:0/block", 9 * GIB, 1, "CD"),
    "sdc": ("pci0000:00/0000:00:14.0/usb1/1-2/1-2:1.0/host8/t/8:0:0:0/block", 800, 1, "Virt"),
    "sdd": (
        "pci0000:00/0000:3b:00.0/host3/rport-3:0-0/target3:0:0/3:0:0:1/block",
        2048 * GIB,
        0,
        "LUN",
    ),
    "nvme0n1": ("pci0000:00/0000:01:00.0/nvme/nvme0", 240 * GIB, 0, "ThinkSystem NVMe"),
}


@pytest.mark.parametrize(
    ("target", "disk"),
    [("usbdisk", "/dev/sdb"), ("sandisk", "/dev/sdd"), ("m2disk", "/dev/nvme0n1")],
)
def test_the_disk_picker_finds_each_kind_and_never_the_virtual_media(
    tmp_path: Path, target: str, disk: str
) -> None:
    sys_root = fake_sys(tmp_path, SERVER_DISKS)
    env = {"OSDEPOT_SYS": str(sys_root), "PATH": "/usr/bin:/bin"}
    out = subprocess.run(
        ["sh", "-c", unattend.DISK_PICKER + f"\nosdepot_disk {target}"],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    assert out.returncode == 0 and out.stdout == disk + "\n", out
    # a server without such a disk: none, not another kind, not a virtual medium
    bare = fake_sys(tmp_path / "bare", {k: SERVER_DISKS[k] for k in ("sda", "sr0", "sdc")})
    out = subprocess.run(
        ["sh", "-c", unattend.DISK_PICKER + f"\nosdepot_disk {target}"],
        capture_output=True, text=True, env={**env, "OSDEPOT_SYS": str(bare)}, check=False,
    )  # fmt: skip
    assert out.returncode == 1 and out.stdout == ""


def test_each_installer_is_told_the_target_disk(tmp_path: Path) -> None:
    """The kickstart's %pre writes the disk lines it %includes; AutoYaST's pre-script
    and Ubuntu's early command write the disk into the profile they read again; ESXi
    filters by kind. Played here with a fake sysfs and a curl that records the calls."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "calls"
    (bin_dir / "curl").write_text(f'#!/bin/sh\necho "$@" >> {calls}\n')
    (bin_dir / "curl").chmod(0o755)
    env = {
        "OSDEPOT_SYS": str(fake_sys(tmp_path, SERVER_DISKS)),
        "PATH": f"{bin_dir}:/usr/bin:/bin",
    }
    plan = replace(PLAN, target="usbdisk")
    ks = unattend.kickstart(plan)
    assert "%include /tmp/osdepot-disk.ks" in ks and "clearpart --all --initlabel\n" not in ks
    out_ks = tmp_path / "disk.ks"
    start = ks.index("%pre --erroronfail\n") + 19
    pre = ks[start : ks.index("%end", start)]
    run = subprocess.run(
        ["sh", "-ec", pre.replace("/tmp/osdepot-disk.ks", str(out_ks))],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert out_ks.read_text() == (
        "ignoredisk --only-use=sdb\nzerombr\nclearpart --all --initlabel --drives=sdb\n"
        "autopart\nbootloader --boot-drive=sdb\n"
    )
    assert [json.loads(line.split(" -d ")[1].split(" ")[0])["deployStatus"]["id"]
            for line in calls.read_text().splitlines()] == ["13", "14"]  # fmt: skip

    # no such disk: the installation stops, reporting LXCA's 24 (SAN) before it does
    calls.unlink()
    bare = {"OSDEPOT_SYS": str(fake_sys(tmp_path / "bare", {"sda": SERVER_DISKS["sda"]}))}
    san = unattend.kickstart(replace(PLAN, target="sandisk"))
    start = san.index("%pre --erroronfail\n") + 19
    pre = san[start : san.index("%end", start)]
    run = subprocess.run(
        ["sh", "-ec", pre.replace("/tmp/osdepot-disk.ks", str(out_ks))],
        capture_output=True, text=True, env={**env, **bare}, check=False,
    )  # fmt: skip
    assert run.returncode == 1 and "this server has no SAN disk" in run.stderr, run.stderr
    assert '"id":"24"' in calls.read_text()

    # AutoYaST: a drive named by the pre-script, which rewrites the profile
    xml = unattend.autoyast(replace(PLAN, family="sles", target="m2disk"))
    tree = ET.fromstring(xml.split("\n", 2)[2])
    ns = {"y": "http://www.suse.com/1.0/yast2ns"}
    assert tree.find("y:partitioning/y:drive/y:device", ns).text == "/dev/osdepot-disk"  # type: ignore[union-attr]
    source = tree.find("y:scripts/y:pre-scripts/y:script/y:source", ns).text  # type: ignore[union-attr]
    profile_dir = tmp_path / "profile"
    profile_dir.mkdir()
    (profile_dir / "autoinst.xml").write_text(xml)
    run = subprocess.run(
        ["sh", "-ec", source.replace("/tmp/profile", str(profile_dir))],  # type: ignore[union-attr]
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    modified = (profile_dir / "modified.xml").read_text()
    assert "<device>/dev/nvme0n1</device>" in modified and "osdepot-disk" not in modified

    # Ubuntu: the layout matches the path the early command writes in
    doc = json.loads(unattend.autoinstall(replace(PLAN, family="ubuntu", target="sandisk"))[14:])
    assert doc["autoinstall"]["storage"]["layout"] == {
        "name": "lvm", "match": {"path": "/dev/osdepot-disk"}
    }  # fmt: skip
    early = doc["autoinstall"]["early-commands"][0][2]
    conf = tmp_path / "autoinstall.yaml"
    conf.write_text("storage:\n  layout:\n    match:\n      path: /dev/osdepot-disk\n")
    run = subprocess.run(
        ["sh", "-ec", early.replace("/autoinstall.yaml", str(conf))],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    assert run.returncode == 0 and "path: /dev/sdd\n" in conf.read_text(), run.stderr

    # ESXi chooses by kind; the local disk stays the installers' own choice
    esxi = replace(PLAN, family="esxi")
    assert "install --firstdisk=usb --overwritevmfs" in unattend.esxi_kickstart(
        replace(esxi, target="usbdisk")
    )
    assert "install --firstdisk --overwritevmfs" in unattend.esxi_kickstart(esxi)
    assert "clearpart --all --initlabel\nautopart\nbootloader\n" in unattend.kickstart(PLAN)
