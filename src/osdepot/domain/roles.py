"""LXCA roles and the OS-deployment privileges they hold (contract §7.4)."""

from __future__ import annotations

from enum import StrEnum


class Privilege(StrEnum):
    EDIT_REMOTE_SERVERS = "lxc-osdeploy-create-edit-remote-file-server"
    EDIT_FILES = "lxc-osdeploy-create-import-export-edit-os-files"
    DELETE_FILES = "lxc-osdeploy-delete-os-files"
    DELETE_REMOTE_SERVERS = "lxc-osdeploy-delete-remote-file-server"
    EDIT_GLOBAL_SETTINGS = "lxc-osdeploy-edit-global-settings"
    DEPLOY = "lxc-osdeploy-edit-settings-and-deploy-os-images"


_ALL_OSDEPLOY = frozenset(Privilege)

#: Role → OS-deployment privileges. Every role can read (GET) the repository.
ROLES: dict[str, frozenset[Privilege]] = {
    "lxc-supervisor": _ALL_OSDEPLOY,
    "lxc-admin": _ALL_OSDEPLOY,
    "lxc-hw-admin": _ALL_OSDEPLOY,
    "lxc-os-admin": _ALL_OSDEPLOY,
    "lxc-security-admin": frozenset(),
    "lxc-fw-admin": frozenset(),
    "lxc-service-admin": frozenset(),
    "lxc-hw-manager": frozenset(),
    "lxc-operator": frozenset(),
    "lxc-recovery": frozenset(),
}

#: Roles that may act on every user's jobs (cancel, remove), not only their own.
JOB_ADMIN_ROLES = frozenset({"lxc-supervisor", "lxc-admin"})

SUPERVISOR = "lxc-supervisor"


def normalise_role(role: str) -> str | None:
    """Canonical role name for ``role`` (any case, with or without ``lxc-``), or None."""
    key = role.strip().lower()
    if not key.startswith("lxc-"):
        key = "lxc-" + key
    return key if key in ROLES else None


def has_privilege(role: str, privilege: Privilege) -> bool:
    return privilege in ROLES.get(role, frozenset())
