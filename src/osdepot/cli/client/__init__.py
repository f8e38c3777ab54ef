"""The command-line client: ``osdepot login / images / import / download / link / tasks /
servers / delete``.

It speaks only the LXCA OS-images REST API over HTTPS, so the same commands work against
osdepot and against a Lenovo XClarity Administrator. Sessions are kept per profile in
``$XDG_CONFIG_HOME/osdepot/profiles/<profile>.json`` (``~/.config`` by default), mode
0600: the session cookie and CSRF token, never the password.

Importing the package (and its parser) does not import httpx: the commands' modules
are imported when a command runs (``osdepot serve`` starts without them).
"""

from __future__ import annotations

from osdepot.cli.client.common import FAILED, OK, TERMINAL, USAGE, CliError
from osdepot.cli.client.parser import add_commands
from osdepot.cli.client.profiles import Profile, config_dir

__all__ = [
    "FAILED",
    "OK",
    "TERMINAL",
    "USAGE",
    "CliError",
    "Profile",
    "add_commands",
    "config_dir",
]
