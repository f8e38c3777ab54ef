"""The server's messages in the command line's words.

The REST API's messages speak of requests, parameters and endpoints (clients parse
their ids, so they stay as they are). Shown by ``osdepot``, the same advice names the
option and the command to use instead: "the required parameter os" is ``--os``,
"GET /osImages" is ``osdepot images``. The message id is kept, so a message can still
be looked up in the documentation.
"""

from __future__ import annotations

import re

#: request parameters and body fields → the options of ``osdepot import`` / ``servers``
OPTIONS = {
    "os": "--os",
    "imageName": "--name",
    "imageType": "--type",
    "osrelease": "--osrelease",
    "description": "--description",
    "checksumType": "--checksum",
    "checksumValue": "--checksum-value",
    "serverId": "--server",
    "path": "--path",
    "displayName": "--name",
    "address": "--address",
    "port": "--port",
    "username": "--username",
    "keyType": "--key-type",
}

#: phrases of the API's advice → the command line's
PHRASES = (
    (
        "Create a new import job with POST /osImages and use its job ID.",
        "Run `osdepot import` again; it creates a new job.",
    ),
    (
        "Create a new import job with POST /osImages and upload the file promptly.",
        "Run `osdepot import` again.",
    ),
    ("Create a new import job and upload the file again.", "Run `osdepot import` again."),
    ("Correct the request and send it again.", "Correct the command and run it again."),
    ("(GET /osImages lists the repository)", "(`osdepot images` lists the repository)"),
    ("(GET /osImages/remoteFileServers lists them)", "(`osdepot servers list` lists them)"),
    (
        "Register the server with POST /osImages/remoteFileServers",
        "Register the server with `osdepot servers add`",
    ),
    ("Files are imported with POST /files/osImages.", "Files are imported with `osdepot import`."),
    ("List the jobs with GET /tasks", "List the jobs with `osdepot tasks`"),
    ("Cancel the job first (PUT /tasks)", "Cancel the job first (`osdepot cancel ID`)"),
    (
        "Log in with POST /sessions, or send HTTP Basic credentials.",
        "Log in with `osdepot login URL`.",
    ),
    ("Log in again with POST /sessions.", "Log in again with `osdepot login URL`."),
)

_MISSING = re.compile(r"The required parameter (\w+) is missing\.")
_REPEAT = re.compile(r"Repeat the request with the parameter (\w+)\.")
_PARAMETER = re.compile(r"\b[Tt]he parameter (\w+)")
_WHEN_TYPE = re.compile(r"\bwhen imageType is (\w+)")


def _option(name: str) -> str:
    return OPTIONS.get(name, name)


def for_cli(text: str) -> str:
    """``text`` (a message's text, explanation or recovery) in the CLI's words."""
    for api, cli in PHRASES:
        text = text.replace(api, cli)
    text = _MISSING.sub(lambda m: f"The option {_option(m.group(1))} is missing.", text)
    text = _REPEAT.sub(lambda m: f"Run the command again with {_option(m.group(1))}.", text)
    text = _WHEN_TYPE.sub(lambda m: f"for --type {m.group(1)}", text)
    return _PARAMETER.sub(lambda m: _option(m.group(1)), text)
