"""Plain records passed between the services and the storage ports."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any

from osdepot.domain.images import ImageType
from osdepot.domain.jobs import JobStatus


@dataclass(frozen=True)
class User:
    name: str
    role: str
    password_hash: str
    created_at: float
    #: in listings: the most failed logins in a row from one address, and the end of
    #: the latest lock of any address (LoginFailures); not used to authenticate
    failed_logins: int = 0
    locked_until: float | None = None


@dataclass(frozen=True)
class LoginFailures:
    """Failed logins of one user name from one client address."""

    address: str
    name: str
    failures: int = 0
    locked_until: float | None = None

    def locked(self, now: float) -> bool:
        return self.locked_until is not None and self.locked_until > now


@dataclass(frozen=True)
class Session:
    token_hash: str
    csrf: str
    user_name: str
    created_at: float
    last_seen: float
    address: str = ""


@dataclass(frozen=True)
class Job:
    id: int
    uuid: str
    image_type: ImageType
    status: JobStatus
    created_by: str
    created_at: float
    start_time: float | None = None
    end_time: float | None = None
    percentage: int = 0
    declared_size: int | None = None
    bytes_total: int | None = None
    bytes_received: int = 0
    file_id: str | None = None
    file_name: str | None = None
    uploads: int = 0
    message: dict[str, Any] | None = None
    cancelled_by: str | None = None
    description: str = ""
    server_id: int | None = None
    node: str | None = None
    staging: str | None = None


@dataclass(frozen=True)
class Upload:
    """A resumable upload in progress (services/resumable.py)."""

    id: str
    job_id: int
    created_by: str
    length: int | None
    offset: int
    filename: str
    #: the import's parameters (UploadParams' fields) and the whole file's checksum
    params: dict[str, Any]
    #: "tus" or "ietf"
    protocol: str
    staging: str
    #: the node (its name, without the process id) whose store holds the staging area
    node: str
    created_at: float
    expires_at: float
    holder: str | None = None
    held_until: float | None = None


@dataclass(frozen=True)
class StoredFile:
    """A file in the repository (any image type)."""

    id: str
    image_type: ImageType
    name: str
    size: int
    sha256: str
    blob_key: str
    imported_by: str
    imported_at: float
    job_id: int | None
    os: str | None = None
    osrelease: str | None = None
    description: str = ""
    image_name: str | None = None
    checksums: dict[str, str] = field(default_factory=dict)
    version: str = ""


@dataclass(frozen=True)
class Profile:
    id: str
    image_id: str
    name: str
    profile: str
    type: str = "predefined"
    description: str = ""
    #: a customised profile: the profile it was made from, and the files it holds
    base_profile: str = ""
    file_ids: tuple[str, ...] = ()
    created_by: str = ""
    created_at: float | None = None

    @property
    def custom(self) -> bool:
        return self.type == "custom"


@dataclass(frozen=True)
class ProfileImport:
    """What re-importing an exported profile adds besides the archive's own file:
    the files it brought that the repository did not hold, and the profile."""

    files: tuple[StoredFile, ...]
    profile: Profile


@dataclass(frozen=True)
class OsImage:
    id: str
    name: str
    file_id: str
    os: str | None = None
    osrelease: str | None = None
    description: str = ""
    created_at: float = 0.0
    profiles: tuple[Profile, ...] = ()
    version: str | None = None
    arch: str | None = None
    osinfo_id: str | None = None
    build: str | None = None
    #: editions, variants, the files that identified the medium (JSON in the catalog)
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Usage:
    """What the repository holds and what open jobs have reserved."""

    images: int
    bytes_stored: int
    bytes_reserved: int
    files: int = 0


@dataclass(frozen=True)
class UserHolding:
    """The space one user's open jobs hold: each its declared size, or what it has
    received when that is more (a file of unannounced size holds what it received);
    and how much of it is already on the store (received, not yet committed)."""

    held: int
    staged: int


@dataclass(frozen=True)
class Holdings:
    """What the repository holds and one user has open, read inside the transaction
    that adds a job or an upload (``Catalog.create_job``/``open_upload`` with an
    ``admit`` check): no other admission runs between this reading and the addition,
    so that limits checked on it hold however many requests arrive at once."""

    usage: Usage
    #: what the user's open jobs hold: :class:`UserHolding`
    user: UserHolding
    #: the user's Pending and Running jobs
    user_open_jobs: int
    #: the user's resumable uploads in progress
    user_uploads: int


@dataclass(frozen=True)
class RemoteServer:
    """A remote file-server profile. Secrets are Fernet tokens, never plain text."""

    id: int
    display_name: str
    address: str
    port: int
    protocol: str
    username: str = ""
    password_enc: str = field(default="", repr=False)
    key_type: str = ""
    private_key_enc: str = field(default="", repr=False)
    passphrase_enc: str = field(default="", repr=False)
    key_comment: str = ""
    public_key: str = ""
    #: the SSH host key pinned on first use (OpenSSH format)
    host_key: str = ""
    #: an SSH host key fingerprint the administrator gave (``SHA256:…``)
    host_key_fingerprint: str = ""
    #: PEM CA certificate(s) an HTTPS server's certificate must chain to
    ca_cert: str = ""
    verify_tls: bool = True
    created_at: float = 0.0
    updated_at: float = 0.0


@dataclass(frozen=True)
class Link:
    """A signed link to a stored file (``tree``: to the installation tree inside it)."""

    id: int
    file_id: str
    tree: bool
    created_by: str
    created_at: float
    expires_at: float
    revoked_at: float | None = None
    uses: int = 0
    last_used_at: float | None = None


@dataclass(frozen=True)
class TreeEntry:
    """One file or directory of the installation tree inside a stored ISO. ``path`` has
    no leading slash ("" is the root); ``extents`` are (offset in the image, length)
    pairs; ``inline`` holds the bytes of a file embedded in its UDF file entry."""

    path: str
    is_dir: bool
    size: int = 0
    extents: tuple[tuple[int, int], ...] = ()
    inline: bytes | None = None

    @property
    def parent(self) -> str:
        return self.path.rpartition("/")[0]

    @property
    def name(self) -> str:
        return self.path.rpartition("/")[2]

    def extents_json(self) -> str:
        """The extents (or inline bytes) as the catalog keeps them."""
        if self.inline is not None:
            return json.dumps({"inline": base64.b64encode(self.inline).decode("ascii")})
        return json.dumps([list(e) for e in self.extents])

    @classmethod
    def from_row(cls, path: str, is_dir: bool, size: int, extents: str) -> TreeEntry:
        data = json.loads(extents or "[]")
        if isinstance(data, dict):
            return cls(path, is_dir, size, (), base64.b64decode(data["inline"]))
        return cls(path, is_dir, size, tuple((int(o), int(n)) for o, n in data))


@dataclass(frozen=True)
class Bmc:
    """A registered baseboard management controller (its Redfish service). The
    password is a Fernet token, never plain text."""

    id: int
    url: str
    username: str
    password_enc: str = field(default="", repr=False)
    #: PEM CA certificate(s) the BMC's certificate must chain to
    ca_cert: str = ""
    verify_tls: bool = True
    created_by: str = ""
    created_at: float = 0.0
    refreshed_at: float = 0.0
    #: why the last read of the BMC failed ("" when it worked)
    last_error: str = ""


@dataclass(frozen=True)
class Host:
    """A computer system a BMC manages, as its Redfish service last described it, with
    the deployment settings stored for it and its deployment state (LXCA's ids)."""

    uuid: str  # 32 upper-case hex digits, as LXCA writes system UUIDs
    bmc_id: int
    system_path: str  # /redfish/v1/Systems/…
    name: str = ""
    manufacturer: str = ""
    model: str = ""
    serial: str = ""
    macs: tuple[str, ...] = ()
    power_state: str = ""
    virtual_cd: bool = False
    refreshed_at: float = 0.0
    #: networkSettings / storageSettings as stored (JSON objects), or None
    network: dict[str, object] | None = None
    storage: dict[str, object] | None = None
    deploy_status: int = 0
    deploy_message: str = ""
    #: the running (or last) deployment: its job and profile, when its state changed
    deploy_job: int | None = None
    deploy_profile: str | None = None
    deploy_state_at: float | None = None
