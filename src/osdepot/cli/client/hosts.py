"""``osdepot hosts``: the BMCs deployments go through and the servers they manage;
``osdepot deploy``: a profile installed on some of them."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from osdepot.cli.client.commands import _api, _table, _task_rows
from osdepot.cli.client.common import FAILED, OK, TERMINAL, CliError
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


def cmd_deploy(args: argparse.Namespace) -> int:
    """Deploy a profile to one or more servers, and follow the jobs with --watch."""
    net: dict[str, Any] = {}
    for opt, key in (("hostname", "hostname"), ("ip", "ipAddress"), ("mask", "subnetMask"),
                     ("prefix", "prefixLength"), ("gateway", "gateway"), ("mtu", "mtu"),
                     ("vlan", "vlanId"), ("mac", "selectedMAC")):  # fmt: skip
        value = getattr(args, opt)
        if value is not None:
            net[key] = value
    for i, dns in enumerate(args.dns or [], 1):
        if i > 2:
            raise CliError("osdepot: at most two --dns servers")
        net[f"dns{i}"] = dns
    if net and len(args.host) > 1:
        raise CliError(
            "osdepot: network options are for one server; deploy several with the settings "
            "stored for each (PUT /osdeployment/hostSettings)"
        )
    body: list[dict[str, Any]] = []
    for uuid in args.host:
        entry: dict[str, Any] = {"uuid": uuid, "selectedImage": args.image}
        if net:
            entry["networkSettings"] = net
            entry["storageSettings"] = {"targetDevice": args.target or "localdisk"}
        elif args.target:
            entry["storageSettings"] = {"targetDevice": args.target}
        if args.license_key:
            entry["licenseKey"] = args.license_key
        body.append(entry)
    api = _api(args)
    try:
        answer = api.request("PUT", "/hostPlatforms", json=body)
        jobs = [str(j["jobId"]) for j in answer.get("jobs", [])]
        for j in answer.get("jobs", []):
            print(f"Deploying {args.image} to {j['uuid']}: job {j['jobId']}")
        if not args.watch:
            print(f"Follow with `osdepot tasks --watch {' '.join(jobs)}`")
            return OK
    finally:
        api.close()
    return watch_jobs(args, jobs)


def watch_jobs(args: argparse.Namespace, jobs: list[str]) -> int:
    """Show the jobs until each has ended: OK when all completed."""
    api = _api(args)
    try:
        while True:
            found = api.request("GET", "/tasks/" + ",".join(jobs), params={"compact": "true"})
            _table(_task_rows(found), ["JOB", "STATUS", "DONE", "TYPE", "FILE", "BY", "MESSAGE"])
            if all(j.get("status") in TERMINAL for j in found):
                return OK if all(j.get("status") == "Complete" for j in found) else FAILED
            time.sleep(args.interval)
            print()
    except KeyboardInterrupt:
        return OK
    finally:
        api.close()
