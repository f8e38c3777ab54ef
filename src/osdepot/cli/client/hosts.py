"""``osdepot hosts``: the BMCs deployments go through and the servers they manage."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from osdepot.cli.client.commands import _api, _table
from osdepot.cli.client.common import OK, CliError
from osdepot.cli.client.http import _password


def _bmc_body(args: argparse.Namespace) -> dict[str, Any]:
    if args.ca_cert and args.insecure:
        raise CliError("osdepot: give --ca-cert or --insecure, not both")
    if not args.user:
        raise CliError("osdepot: give the BMC's user with --user NAME")
    body: dict[str, Any] = {"url": args.url, "username": args.user, "password": _password(args)}
    if args.ca_cert:
        try:
            body["caCertificate"] = Path(args.ca_cert).read_text()
        except (OSError, UnicodeDecodeError) as exc:
            raise CliError(f"osdepot: cannot read {args.ca_cert}: {exc}") from None
    if args.insecure:
        body["skipCertificateVerification"] = True
    return body


def _print_registered(answer: dict[str, Any]) -> None:
    bmc = answer.get("bmc", {})
    print(f"BMC {bmc.get('id')}: {bmc.get('url')} ({len(answer.get('systems', []))} systems)")
    _table(
        [[s["uuid"], s.get("name", ""), s.get("powerState", "")] for s in answer["systems"]],
        ["UUID", "NAME", "POWER"],
    )


def cmd_hosts(args: argparse.Namespace) -> int:
    api = _api(args)
    try:
        if args.action == "add":
            _print_registered(api.request("POST", "/bmcs", json=_bmc_body(args)))
        elif args.action == "refresh":
            _print_registered(api.request("POST", f"/bmcs/{args.bmc}/refresh"))
        elif args.action == "remove":
            api.request("DELETE", f"/bmcs/{args.bmc}")
            print(f"Removed BMC {args.bmc} and its servers")
        else:
            items = api.request("GET", "/hostPlatforms").get("items", [])
            rows = [
                {
                    "uuid": h["uuid"],
                    "name": h.get("name", ""),
                    "model": h.get("model", ""),
                    "powerState": h.get("powerState", ""),
                    "virtualMediaCD": h.get("virtualMediaCD", False),
                    "macAddresses": h.get("macAddresses", []),
                    "deployStatus": h.get("deployStatus", {}).get("name", ""),
                    "bmcId": h.get("bmc", {}).get("id", ""),
                    "bmcUrl": h.get("bmc", {}).get("url", ""),
                }
                for h in items
            ]
            if args.json:
                print(json.dumps(rows, indent=2))
            elif not rows:
                print("No servers: register a BMC with `osdepot hosts add URL --user NAME`.")
            else:
                _table(
                    [
                        [
                            r["uuid"],
                            r["name"],
                            r["powerState"],
                            r["deployStatus"],
                            "yes" if r["virtualMediaCD"] else "no",
                            r["bmcId"],
                            r["bmcUrl"],
                        ]
                        for r in rows
                    ],
                    ["UUID", "NAME", "POWER", "STATE", "VIRTUAL CD", "BMC", "BMC URL"],
                )
    finally:
        api.close()
    return OK


def add_hosts_parser(sub: Any, profile: Any) -> None:
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
    hs.set_defaults(func=cmd_hosts)
