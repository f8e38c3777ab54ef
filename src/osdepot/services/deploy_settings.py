"""LXCA's global OS-deployment settings (``/osdeployment/globalSettings``): the
defaults every deployment takes. The OS credentials' passwords and the license keys
are sealed at rest (services/secrets.py) and never answered: a GET says only whether
each is set; a PUT keeps a stored password unless ``passwordChanged`` is true, and a
stored license key when the key is given as "" (so that what a GET answered can be
sent back unchanged), and clears one given as null."""

from __future__ import annotations

import logging
from typing import Any

from osdepot.domain.deploy import (
    CREDENTIAL_TYPES,
    DEFAULT_STATE_TIMEOUT,
    LICENSE_KINDS,
    LICENSE_RELEASES,
    parse_global,
)
from osdepot.services.context import Context
from osdepot.services.secrets import SecretBox

log = logging.getLogger("osdepot.deploy")

NAME = "globalSettings"

DEFAULTS: dict[str, Any] = {
    "activeDirectory": {"allDomains": [], "defaultDomain": ""},
    "credentials": [
        {"type": "LINUX", "name": "root", "password_enc": ""},
        {"type": "WINDOWS", "name": "Administrator", "password_enc": ""},
        {"type": "ESXi", "name": "root", "password_enc": ""},
    ],
    "ipAssignment": "dhcpv4",
    "isVLANMode": False,
    "licenseKeys": {},
    "deploySettings": {
        "ipDuplicationCheckEnabled": True,
        "stateTransitionTimeout": DEFAULT_STATE_TIMEOUT,
    },
}


class DeploySettings:
    """Read and change the global settings; open their secrets for a deployment."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.secrets = SecretBox.of(ctx.settings)

    async def stored(self) -> dict[str, Any]:
        doc = await self.ctx.run(self.ctx.catalog.get_setting, NAME)
        return {**DEFAULTS, **(doc or {})}

    async def put(self, body: Any, user: str) -> dict[str, Any]:
        """Check and store; answers the settings as GET does. What the body leaves out
        (a credential it does not name, a key given as "") is kept from what is stored,
        read in the transaction that writes: two changes at once both count."""

        def change(stored: dict[str, Any] | None) -> dict[str, Any]:
            return self._changed({**DEFAULTS, **(stored or {})}, body)

        doc = await self.ctx.run(self.ctx.catalog.change_setting, NAME, change, self.ctx.clock())
        log.info(
            "global deployment settings changed by %s",
            user,
            extra={"event": "settings", "setting": NAME, "user": user},
        )
        return doc

    def _changed(self, old: dict[str, Any], body: Any) -> dict[str, Any]:
        """The settings ``body`` makes of ``old`` (raises, naming the field, if bad)."""
        new = parse_global(body, int(old["deploySettings"]["stateTransitionTimeout"]))
        sealed_pw = {c["type"]: c.get("password_enc", "") for c in old["credentials"]}
        creds = []
        for c in new.credentials:
            kept = sealed_pw.get(c.type, "")
            creds.append(
                {
                    "type": c.type,
                    "name": c.name,
                    "password_enc": kept if c.password is None else self.secrets.seal(c.password),
                }
            )
        named = {c["type"] for c in creds}
        for c in old["credentials"]:  # a type the PUT does not name keeps its entry
            if c["type"] not in named:
                creds.append(c)
        keys: dict[str, dict[str, str]] = {}
        for release in LICENSE_RELEASES:
            stored = old["licenseKeys"].get(release, {})
            given = new.license_keys.get(release, {})
            keys[release] = {}
            for kind in LICENSE_KINDS:
                value = given.get(kind, "")
                if value is None:
                    sealed = ""
                elif value == "":
                    sealed = stored.get(kind, "")
                else:
                    sealed = self.secrets.seal(value)
                if sealed:
                    keys[release][kind] = sealed
            if not keys[release]:
                del keys[release]
        return {
            "activeDirectory": new.active_directory,
            "credentials": sorted(creds, key=lambda c: CREDENTIAL_TYPES.index(c["type"])),
            "ipAssignment": new.ip_assignment,
            "isVLANMode": new.vlan_mode,
            "licenseKeys": keys,
            "deploySettings": {
                "ipDuplicationCheckEnabled": new.ip_duplication_check,
                "stateTransitionTimeout": new.state_timeout,
            },
        }


def global_json(doc: dict[str, Any]) -> dict[str, Any]:
    """GET /osdeployment/globalSettings: LXCA's shape (``globalSetting`` and
    ``deploySettings``), without a password or a key: whether each is set."""
    creds = [
        {
            "type": c["type"],
            "name": c["name"],
            "password": None,
            "passwordChanged": False,
            "passwordSet": bool(c.get("password_enc")),
        }
        for c in doc["credentials"]
    ]
    keys: dict[str, dict[str, Any]] = {}
    for release in LICENSE_RELEASES:
        stored = doc["licenseKeys"].get(release, {})
        keys[release] = {}
        for kind in LICENSE_KINDS:
            keys[release][kind] = ""
            keys[release][f"{kind}Set"] = bool(stored.get(kind))
    return {
        "globalSetting": {
            "activeDirectory": doc["activeDirectory"],
            "credentials": creds,
            "ipAssignment": doc["ipAssignment"],
            "isVLANMode": doc["isVLANMode"],
            "licenseKeys": keys,
        },
        "deploySettings": doc["deploySettings"],
    }
