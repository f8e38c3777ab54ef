"""Settings: one frozen object, loaded once from ``OSDEPOT_*`` environment variables.

The settings are passed explicitly to whoever needs them; there is no module-level
global. Command-line options override the environment (see ``osdepot serve --help``).
Every variable is listed in ``docs/configuration.md``.
"""

from __future__ import annotations

import math
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from osdepot.errors import ConfigError

_PREFIX = "OSDEPOT_"


@dataclass(frozen=True)
class Settings:
    """Everything the server and the command line can be configured with."""

    data_dir: Path = Path("osdepot-data")
    host: str = "127.0.0.1"
    port: int = 8443
    no_tls: bool = False
    cert: Path | None = None
    key: Path | None = None
    #: SQLAlchemy URL of the catalog; empty means SQLite in the data folder.
    database_url: str = ""
    #: Blob store URL; empty means ``file://<data_dir>/blobs``.
    blob_url: str = ""
    admin_user: str = ""
    admin_password: str = field(default="", repr=False)
    #: Seconds of inactivity after which a session ends.
    session_timeout: int = 1800
    #: Failed logins in a row (session or Basic) that lock an account; 0 never locks.
    login_max_failures: int = 5
    #: Seconds a locked account stays locked (a supervisor can unlock it sooner).
    login_lockout_seconds: int = 900
    #: Each failed login is answered this many seconds later × the failures so far
    #: (at most 5 s): guessing slows down before the lock.
    login_failure_delay: float = 0.5
    #: Seconds after which an import job that received no file expires.
    job_expiry: int = 24 * 3600
    #: Seconds a finished job is kept before it is removed.
    job_retention: int = 7 * 24 * 3600
    #: How often (seconds) the server expires and removes old jobs.
    housekeeping_interval: float = 60.0
    #: How often (seconds) the server removes the blobs no catalog row names (a
    #: deletion that met the object store down, a crash between a commit and its row),
    #: and how old (seconds since their commit) they must be: an import on another node
    #: commits its files some time before their rows (a profile archive's, all of them).
    orphan_sweep_interval: float = 3600.0
    orphan_grace: float = 6 * 3600.0
    #: The key that encrypts remote-server secrets and signs links ("" = secret.key in
    #: the data folder); nodes sharing a catalog need the same file.
    secret_key_file: Path | None = None
    #: This server's name among the nodes sharing a catalog ("" = host name:data
    #: folder); each process announces itself as NAME/PID (services/nodes.py).
    node_name: str = ""
    #: Seconds without a heartbeat after which a node is taken for dead: another node
    #: stops its Running jobs. Heartbeats go every third of it.
    node_timeout: float = 30.0
    #: 0 means no limit other than free space.
    max_images: int = 0
    max_repository_bytes: int = 0
    #: Size of each buffer handed to the hashing/writing thread (a multiple of 4096
    #: for O_DIRECT writes).
    upload_buffer_bytes: int = 4 * 1024 * 1024
    #: Write staging files with O_DIRECT (past the page cache) where the filesystem
    #: supports it; off writes through the page cache as before.
    direct_io: bool = True
    #: An upload fails (FQXHMFC9030J) when fewer than 64 KiB of its body arrive in this
    #: many seconds of waiting for the client: one that trickles or stops is let go.
    upload_stall_timeout: float = 60.0
    #: Seconds a catalog write waits for a lock held by other work (SQLite busy timeout)
    #: before the request is answered 503 FQXHMFC9031M.
    db_busy_timeout: float = 30.0
    #: Room kept on the disk of an SQLite catalog, given back when that disk is full so
    #: that deletions still work (storage/reserve.py); 0 keeps none.
    catalog_reserve_bytes: int = 8 * 1024 * 1024
    #: Seconds between progress updates written to the catalog during an upload.
    progress_interval: float = 0.5
    #: Resumable uploads (tus, IETF draft): seconds an upload may stay idle before it
    #: is removed and its job Stopped; the most one user may have open; and how often
    #: (seconds) a long request makes its bytes durable and records its offset.
    upload_expiry: int = 24 * 3600
    max_open_uploads_per_user: int = 20
    #: Jobs one user may have open (Pending or Running) at once: imports, exports and
    #: deployments (0: no limit); and finished jobs kept per user before retention
    #: removes them (the oldest go first when a new job is made; 0: no limit).
    max_open_jobs_per_user: int = 1000
    max_finished_jobs_per_user: int = 1000
    upload_checkpoint_interval: float = 5.0
    log_level: str = "info"
    #: ``text`` (one readable line per event) or ``json`` (one JSON object per line).
    log_format: str = "text"
    #: Remote imports: seconds to connect (and log in), seconds without a byte before a
    #: transfer counts as stalled, resumptions after an interruption, the pause before
    #: each, and how many transfers run at once (the rest wait their turn).
    remote_connect_timeout: float = 15.0
    remote_stall_timeout: float = 60.0
    remote_retries: int = 3
    remote_retry_delay: float = 2.0
    remote_max_transfers: int = 4
    #: Seconds to connect to a BMC's Redfish service and for each of its answers.
    bmc_timeout: float = 15.0
    #: Signed links (services/links.py): how long one lives unless its request says
    #: (``expiresIn``), and the longest a request may ask for, in seconds.
    #: Seconds the web UI follows a job that shows no change before it leaves it to
    #: the Tasks page.
    ui_follow_stall_seconds: float = 120.0
    #: Bytes that downloads may hold in memory at once, per process (web/sending.py),
    #: and how long a download's client may take to accept a piece before it is cut.
    download_buffer_bytes: int = 64 << 20
    download_stall_timeout: int = 60
    link_default_seconds: int = 86400
    link_max_seconds: int = 7 * 86400
    #: The address installers and BMCs reach this server at, for the URLs of signed
    #: links (``https://depot.example:8443``); empty: the address of the request.
    public_url: str = ""
    #: A folder holding an osinfo-db (``os/``, ``VERSION`` …); empty means libosinfo's
    #: own locations (OSINFO_SYSTEM_DIR or /usr/share/osinfo, /etc/osinfo, ~/.config/osinfo).
    osinfo_path: str = ""
    #: Seconds to wait on SIGTERM for open connections before closing them.
    shutdown_timeout: int = 10
    #: Seconds a request head (and a TLS handshake) may take before the connection is
    #: closed (408): a client that opens connections and sends nothing holds none long.
    header_timeout: float = 5.0
    #: Connections held at once, in all and from one address (after the TLS handshake;
    #: beyond, 503 and closed; 0: no limit but the open-files limit less 256). The
    #: addresses of ``forwarded_allow_ips`` have no per-address limit.
    max_connections: int = 4096
    max_connections_per_address: int = 256
    #: Seconds a JSON request body may take to arrive (408 after; uploads have their own
    #: rule, ``upload_stall_timeout``).
    json_body_timeout: float = 30.0
    #: Passwords checked at once (argon2, 64 MiB each); 0 means the number of cores.
    #: Up to four times as many logins wait for a slot; beyond that 503 with Retry-After.
    password_checks: int = 0
    #: Password checks per client address: ``login_rate`` per second on average, in
    #: bursts of ``login_burst``; beyond that 429 with Retry-After.
    login_rate: float = 1.0
    login_burst: int = 10
    #: Addresses of reverse proxies whose X-Forwarded-For/-Proto are believed (comma
    #: separated, ``*`` for any); empty believes none, so a client cannot pick the
    #: address its logins are throttled by.
    forwarded_allow_ips: str = ""
    #: ``/metrics`` without a login (for a scraper that cannot send credentials).
    metrics_public: bool = False
    #: Remote file servers: networks (CIDR, comma separated) that imports may reach
    #: (empty: any) and that they may not (checked after the allow list, on every
    #: address the host name resolves to).
    remote_allow_networks: str = ""
    remote_deny_networks: str = ""
    #: Bytes of free space one user's open import jobs may hold with their declared
    #: ``fileSize``; 0 means no limit but the free space.
    max_reserved_bytes_per_user: int = 0
    #: CPU seconds the content checks of one file may take before it is refused.
    content_check_cpu_seconds: float = 30.0
    #: Server processes (uvicorn workers) sharing the catalog and the blob store.
    workers: int = 1

    @property
    def effective_node_name(self) -> str:
        """The node's name: its host and data folder unless set. What identifies a
        node across restarts is where it stages (its data folder), not its port."""
        if self.node_name:
            return self.node_name
        return f"{socket.gethostname()}:{self.data_dir.resolve()}"[:150]

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'catalog.db').resolve()}"

    @property
    def effective_blob_url(self) -> str:
        return self.blob_url or f"file://{(self.data_dir / 'blobs').resolve()}"

    def to_env(self) -> dict[str, str]:
        """The ``OSDEPOT_*`` variables that reproduce these settings (for workers)."""
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None:
                continue
            if isinstance(value, bool):
                value = "1" if value else "0"
            out[_PREFIX + f.name.upper()] = str(value)
        return out

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Read ``OSDEPOT_<FIELD>`` variables, then apply non-None ``overrides``."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get(_PREFIX + f.name.upper())
            if raw is None or raw == "":
                continue
            values[f.name] = _convert(f.name, f.type, raw)
        settings = cls(**values)
        clean = {k: v for k, v in overrides.items() if v is not None}
        return replace(settings, **clean) if clean else settings


def _convert(name: str, typ: Any, raw: str) -> Any:
    t = str(typ)
    try:
        if t == "bool":
            low = raw.strip().lower()
            if low in ("1", "true", "yes", "on"):
                return True
            if low in ("0", "false", "no", "off"):
                return False
            raise ValueError(raw)
        if t in ("int", "float"):
            number = int(raw) if t == "int" else float(raw)
            # counts, sizes and seconds: never below 0 (0 is "none" or "no limit")
            if not math.isfinite(number) or number < 0:
                raise ConfigError(
                    f"{_PREFIX}{name.upper()}={raw!r} is not a valid {t}: a number from 0 up"
                )
            return number
        if "Path" in t:
            return Path(raw)
        return raw
    except ValueError:
        raise ConfigError(f"{_PREFIX}{name.upper()}={raw!r} is not a valid {t}") from None
