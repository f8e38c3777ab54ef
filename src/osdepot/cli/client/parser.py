"""The client commands' argument parsers."""

from __future__ import annotations

import argparse
import importlib
import os
from collections.abc import Callable
from typing import Any


def _command(module: str, name: str) -> Callable[[argparse.Namespace], int]:
    """The command ``name`` of ``osdepot.cli.client.<module>``, imported when it runs:
    the client's modules bring httpx, which ``osdepot serve`` and the other server-side
    commands do not need (about 0.2 s of every start)."""

    def run(args: argparse.Namespace) -> int:
        func = getattr(importlib.import_module(f"osdepot.cli.client.{module}"), name)
        return int(func(args))

    run.__name__ = run.__qualname__ = name
    return run


def add_commands(sub: Any) -> None:
    """Add the client's commands to ``osdepot``'s sub-command parser."""

    def profile(sp: argparse.ArgumentParser) -> None:
        sp.add_argument(
            "--profile",
            default=os.environ.get("OSDEPOT_PROFILE", "default"),
            help="session profile (OSDEPOT_PROFILE; default 'default')",
        )

    lg = sub.add_parser("login", help="log in to an osdepot or LXCA server and keep the session")
    lg.add_argument("url", help="https://host[:port]")
    lg.add_argument("--user", help="user name (asked when absent)")
    lg.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    lg.add_argument(
        "--insecure", action="store_true", help="do not verify the server's TLS certificate"
    )
    lg.add_argument("--ca-cert", help="CA certificate (PEM) to verify the server with")
    profile(lg)
    lg.set_defaults(func=_command("commands", "cmd_login"))

    lo = sub.add_parser("logout", help="end the session and forget it")
    profile(lo)
    lo.set_defaults(func=_command("commands", "cmd_logout"))

    im = sub.add_parser("images", help="list the repository")
    im.add_argument("action", nargs="?", choices=["list"], default="list")
    im.add_argument("--json", action="store_true", help="print the server's answer as JSON")
    profile(im)
    im.set_defaults(func=_command("commands", "cmd_images"))

    ip = sub.add_parser(
        "import",
        help="upload a file (checksummed while it is sent) or import one from a remote server",
    )
    ip.add_argument("file", nargs="?", help="the file to upload")
    ip.add_argument(
        "--type",
        type=str.upper,
        help="OS, DUD, BOOT, SCRIPT, … (guessed from the file's name when that is "
        "unambiguous: .iso OS, .rpm DUD, .json CONFIG, .ks UNATTEND, .asc BUNDLESIG, "
        ".sh/.ps1/.py/.bat SCRIPT)",
    )
    ip.add_argument("--os", help="rhel, sles, ubuntu, esxi, windows, …")
    ip.add_argument("--name", help="imageName (the OS image of a driver; a label for OS media)")
    ip.add_argument("--osrelease", help="release the file is for")
    ip.add_argument("--description", help="free text")
    ip.add_argument(
        "--checksum",
        default="sha256",
        type=str.lower,
        choices=["sha256", "sha1", "md5", "sha512", "none"],
        help="algorithm computed while uploading and verified by the server (default sha256)",
    )
    ip.add_argument(
        "--checksum-first",
        action="store_true",
        help="read the file once before sending, and send the checksum before the file",
    )
    ip.add_argument(
        "--checksum-value",
        help="the checksum the file must have, in hex (the vendor's published value); "
        "the server verifies it with the --checksum algorithm and refuses a mismatch",
    )
    ip.add_argument(
        "--force",
        action="store_true",
        help="import even when the release or a file with the same SHA-256 is stored "
        "already, or when the local inspection refuses the file (the server decides)",
    )
    ip.add_argument(
        "--resume",
        action="store_true",
        help="continue the upload of FILE that an earlier `osdepot import` left unfinished "
        "(an interruption it could not ride out; it resumes by itself otherwise)",
    )
    ip.add_argument(
        "--retries",
        type=int,
        default=10,
        help="attempts to ride out an interruption (with back-off, 1 s up to 30 s "
        "between them) before the upload is left for --resume (default 10)",
    )
    ip.add_argument(
        "--multipart",
        action="store_true",
        help="send the file in one multipart request (POST /files/osImages, as LXCA's "
        "clients do) instead of a resumable upload",
    )
    ip.add_argument("--server", help="remote file-server id to import from")
    ip.add_argument("--path", help="path of the file on the remote server")
    ip.add_argument("--quiet", action="store_true", help="no progress output")
    profile(ip)
    ip.set_defaults(func=_command("imports", "cmd_import"))

    tk = sub.add_parser("tasks", help="list import jobs")
    tk.add_argument("ids", nargs="*", help="only these jobs")
    tk.add_argument("--watch", action="store_true", help="refresh until every job has ended")
    tk.add_argument("--interval", type=float, default=2.0, help="seconds between refreshes")
    tk.add_argument("--json", action="store_true")
    profile(tk)
    tk.set_defaults(func=_command("commands", "cmd_tasks"))

    cn = sub.add_parser("cancel", help="cancel import jobs")
    cn.add_argument("ids", nargs="+")
    profile(cn)
    cn.set_defaults(func=_command("commands", "cmd_cancel"))

    de = sub.add_parser("delete", help="delete OS images and files from the repository")
    de.add_argument("ids", nargs="+", help="OS image ids and file ids")
    profile(de)
    de.set_defaults(func=_command("commands", "cmd_delete"))

    dl = sub.add_parser(
        "download", help="download a stored file (an OS image id: its ISO), resuming after a cut"
    )
    dl.add_argument("id", help="a file id or an OS image id (osdepot images lists them)")
    dl.add_argument("-o", "--output", help="where to write it (default: the file's name)")
    dl.add_argument("--quiet", action="store_true", help="no progress output")
    profile(dl)
    dl.set_defaults(func=_command("downloads", "cmd_download"))

    ex = sub.add_parser(
        "export",
        help="export a customised profile (its definition, files and manifest) as a .tar.gz",
    )
    ex.add_argument("profile_id", help="a customised profile's id (osdepot images lists them)")
    ex.add_argument("-o", "--output", help="download the archive to this file")
    ex.add_argument("--server", help="also write it to this registered remote file server")
    ex.add_argument("--path", help="with --server: the archive's full path on that server")
    ex.add_argument("--quiet", action="store_true", help="no progress output")
    profile(ex)
    ex.set_defaults(func=_command("downloads", "cmd_export"))

    ln = sub.add_parser(
        "link",
        help="make a signed URL for installers and BMCs (an OS image id: its installation "
        "tree; --iso: its ISO)",
    )
    ln.add_argument("id", help="a file id or an OS image id")
    ln.add_argument("--iso", action="store_true", help="for an OS image: a link to its ISO")
    ln.add_argument("--expires", type=int, help="seconds the link lives (default 24 h)")
    profile(ln)
    ln.set_defaults(func=_command("downloads", "cmd_link"))

    sv = sub.add_parser("servers", help="remote file servers")
    ssub = sv.add_subparsers(dest="action", required=True)
    sl = ssub.add_parser("list")
    sl.add_argument("--json", action="store_true")
    ss = ssub.add_parser("show")
    ss.add_argument("id")
    sa = ssub.add_parser("add")
    se = ssub.add_parser("edit")
    se.add_argument("id")
    for sp, required in ((sa, True), (se, False)):
        sp.add_argument("--name", required=required, help="displayName")
        sp.add_argument(
            "--protocol",
            required=required,
            type=str.upper,
            choices=["HTTP", "HTTPS", "FTP", "SFTP"],
        )
        sp.add_argument("--address", required=required)
        sp.add_argument("--port", type=int, required=required)
        sp.add_argument("--username")
        sp.add_argument("--password-stdin", action="store_true")
        sp.add_argument("--key-type", choices=["RSA-2048", "RSA-4096", "ECDSA-521-secp521r1"])
        sp.add_argument("--key-comment")
    sd = ssub.add_parser("delete")
    sd.add_argument("id")
    for sp in (sl, ss, sa, se, sd):
        profile(sp)
    sv.set_defaults(func=_command("commands", "cmd_servers"))

    _add_hosts(sub, profile)


def _add_hosts(sub: Any, profile: Any) -> None:
    """``osdepot hosts`` and ``osdepot deploy`` (cli/client/hosts.py)."""
    hs = sub.add_parser("hosts", help="BMCs (Redfish) and the servers deployments go to")
    hsub = hs.add_subparsers(dest="action", required=True)
    ha = hsub.add_parser("add", help="register a BMC: its Redfish service is read now")
    ha.add_argument("url", help="https://BMC[:port]")
    ha.add_argument("--user", help="the BMC account's user name")
    ha.add_argument(
        "--password-stdin", action="store_true", help="read the BMC password from standard input"
    )
    ha.add_argument("--ca-cert", help="CA certificate (PEM) to verify the BMC with")
    ha.add_argument("--insecure", action="store_true", help="do not verify the BMC's certificate")
    hl = hsub.add_parser("list", help="the servers of the registered BMCs")
    hl.add_argument("--json", action="store_true")
    hr = hsub.add_parser("refresh", help="read a BMC again")
    hr.add_argument("bmc", help="the BMC's id (osdepot hosts list shows it)")
    hd = hsub.add_parser("remove", help="forget a BMC and its servers")
    hd.add_argument("bmc", help="the BMC's id")
    for sp in (ha, hl, hr, hd):
        profile(sp)
    hs.set_defaults(func=_command("hosts", "cmd_hosts"))

    dp = sub.add_parser("deploy", help="install a profile on servers (through their BMCs)")
    # not "profile": --profile names the session profile
    dp.add_argument("image", metavar="PROFILE", help="the profile's id (osdepot images lists them)")
    dp.add_argument("--host", action="append", required=True, help="a server's UUID (repeat)")
    dp.add_argument("--hostname")
    dp.add_argument("--ip", help="its static address (the global settings say static)")
    dp.add_argument("--mask", help="the IPv4 subnet mask")
    dp.add_argument("--prefix", type=int, help="the IPv6 prefix length")
    dp.add_argument("--gateway")
    dp.add_argument("--dns", action="append", help="a DNS server (at most two)")
    dp.add_argument("--mtu", type=int)
    dp.add_argument("--vlan", type=int)
    dp.add_argument("--mac", help="the interface to configure (default: the first with a link)")
    dp.add_argument(
        "--target",
        choices=("localdisk", "usbdisk", "m2disk", "sandisk"),
        help="the disk to install on (default: the host settings', else localdisk)",
    )
    dp.add_argument("--license-key", help="a Windows or ESXi license key")
    dp.add_argument("--watch", action="store_true", help="follow the jobs until they end")
    dp.add_argument("--interval", type=float, default=2.0, help=argparse.SUPPRESS)
    profile(dp)
    dp.set_defaults(func=_command("hosts", "cmd_deploy"))
