"""What a server's start does not import: the command-line client's HTTP library
(httpx) and the Redfish client (sushy, requests) are imported when a client command or
a BMC request first needs them, not by ``osdepot serve`` (each was 0.2–0.3 s of every
start, and of every ``osdepot users``/``fsck``)."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import sys
from osdepot.cli.main import build_parser
build_parser().parse_args(["serve"])
from osdepot.cli.client import CliError  # what main() catches
import osdepot.compose, osdepot.web.app, osdepot.services.auth, osdepot.bmc
print(" ".join(sorted(m for m in ("httpx", "sushy", "requests") if m in sys.modules)))
"""


def test_the_server_starts_without_the_clients_libraries() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.split() == [], done.stdout


def test_a_client_command_still_finds_its_function() -> None:
    from osdepot.cli.main import build_parser

    args = build_parser().parse_args(["deploy", "p1", "--host", "h1"])
    assert args.func.__name__ == "cmd_deploy"
    args = build_parser().parse_args(["images"])
    assert args.func.__name__ == "cmd_images"
