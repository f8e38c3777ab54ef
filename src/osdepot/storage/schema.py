"""The catalog's tables (SQLAlchemy Core). Migrations create and upgrade them."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    false,
    true,
)

metadata = MetaData()

users = Table(
    "users",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("password_hash", String(255), nullable=False),
    Column("role", String(64), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("failed_logins", Integer, nullable=False, server_default="0"),
    Column("locked_until", Float, nullable=True),
)

#: Failed logins per (client address, user name); the name need not exist.
login_failures = Table(
    "login_failures",
    metadata,
    Column("address", String(64), primary_key=True),
    Column("name", String(256), primary_key=True),
    Column("failures", Integer, nullable=False, server_default="0"),
    Column("locked_until", Float, nullable=True),
    Column("updated_at", Float, nullable=False),
    Index("ix_login_failures_name", "name"),
)

sessions = Table(
    "sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("csrf", String(64), nullable=False),
    Column(
        "user_name",
        String(64),
        ForeignKey("users.name", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("created_at", Float, nullable=False),
    Column("last_seen", Float, nullable=False),
    Column("address", String(64), nullable=False, server_default=""),
)

jobs = Table(
    "jobs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("uuid", String(32), nullable=False, unique=True),
    Column("image_type", String(16), nullable=False),
    Column("status", String(16), nullable=False, index=True),
    Column("created_by", String(64), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("start_time", Float),
    Column("end_time", Float),
    Column("percentage", Integer, nullable=False, server_default="0"),
    Column("declared_size", BigInteger),
    Column("bytes_total", BigInteger),
    Column("bytes_received", BigInteger, nullable=False, server_default="0"),
    Column("file_id", String(300)),
    Column("file_name", String(300)),
    Column("uploads", Integer, nullable=False, server_default="0"),
    Column("message", Text),
    Column("cancelled_by", String(64)),
    Column("description", Text, nullable=False, server_default=""),
    Column("server_id", Integer),
    #: the server process running the job's transfer (nodes.name), while Running, and
    #: the name of its staging area (BlobStore.remove_staging takes it)
    Column("node", String(200)),
    Column("staging", String(300)),
    sqlite_autoincrement=True,
)

#: Resumable uploads in progress (services/resumable.py): the job each one feeds, its
#: durable offset (every byte before it is on the store), its staging area, the node
#: whose disk holds it, and the request appending to it now (``holder`` until
#: ``held_until``: one at a time, across the server's processes).
uploads = Table(
    "uploads",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("job_id", Integer, nullable=False, unique=True),
    Column("created_by", String(64), nullable=False, index=True),
    Column("length", BigInteger),
    Column("offset_bytes", BigInteger, nullable=False, server_default="0"),
    Column("filename", String(300), nullable=False),
    Column("params", Text, nullable=False, server_default="{}"),
    Column("protocol", String(16), nullable=False),
    Column("staging", String(300), nullable=False),
    Column("node", String(200), nullable=False, server_default=""),
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False, index=True),
    Column("holder", String(240)),
    Column("held_until", Float),
)

#: Server processes sharing the catalog, and their last heartbeat (services/nodes.py).
nodes = Table(
    "nodes",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("address", String(300), nullable=False, server_default=""),
    Column("started_at", Float, nullable=False),
    Column("heartbeat_at", Float, nullable=False),
)

files = Table(
    "files",
    metadata,
    Column("id", String(300), primary_key=True),
    Column("image_type", String(16), nullable=False, index=True),
    Column("name", String(300), nullable=False),
    Column("os", String(32)),
    Column("osrelease", String(64)),
    Column("description", Text, nullable=False, server_default=""),
    Column("image_name", String(128)),
    Column("size", BigInteger, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("checksums", Text, nullable=False, server_default="{}"),
    Column("blob_key", String(64), nullable=False, unique=True),
    Column("imported_by", String(64), nullable=False),
    Column("imported_at", Float, nullable=False),
    Column("job_id", Integer),
    Column("version", String(64), nullable=False, server_default=""),
)

os_images = Table(
    "os_images",
    metadata,
    Column("id", String(128), primary_key=True),
    Column("name", String(300), nullable=False),
    Column("description", Text, nullable=False, server_default=""),
    Column("os", String(32)),
    Column("osrelease", String(64)),
    Column("file_id", String(300), ForeignKey("files.id"), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("version", String(64)),
    Column("arch", String(32)),
    Column("osinfo_id", String(64)),
    Column("build", String(64)),
    Column("details", Text, nullable=False, server_default="{}"),
)

profiles = Table(
    "profiles",
    metadata,
    Column("id", String(300), primary_key=True),
    Column(
        "image_id",
        String(128),
        ForeignKey("os_images.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("name", String(300), nullable=False),
    Column("profile", String(128), nullable=False),
    Column("type", String(16), nullable=False),
    Column("description", Text, nullable=False, server_default=""),
    #: the profile a customised profile was made from ("" for predefined ones)
    Column("base_profile", String(300), nullable=False, server_default=""),
    Column("created_by", String(64), nullable=False, server_default=""),
    Column("created_at", Float, nullable=True),
)

#: The files a customised profile holds (domain/profiles.py), in the order given; a
#: file a profile holds cannot be deleted (no ON DELETE: the catalog refuses).
profile_files = Table(
    "profile_files",
    metadata,
    Column(
        "profile_id", String(300), ForeignKey("profiles.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("file_id", String(300), ForeignKey("files.id"), primary_key=True),
    Column("position", Integer, nullable=False),
    Index("ix_profile_files_file", "file_id"),
)  # fmt: skip

remote_servers = Table(
    "remote_servers",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("display_name", String(128), nullable=False, unique=True),
    Column("address", String(255), nullable=False),
    Column("port", Integer, nullable=False),
    Column("protocol", String(8), nullable=False),
    Column("username", String(128), nullable=False, server_default=""),
    Column("password_enc", Text, nullable=False, server_default=""),
    Column("key_type", String(32), nullable=False, server_default=""),
    Column("private_key_enc", Text, nullable=False, server_default=""),
    Column("passphrase_enc", Text, nullable=False, server_default=""),
    Column("key_comment", String(255), nullable=False, server_default=""),
    Column("public_key", Text, nullable=False, server_default=""),
    Column("host_key", Text, nullable=False, server_default=""),
    Column("host_key_fingerprint", String(128), nullable=False, server_default=""),
    Column("ca_cert", Text, nullable=False, server_default=""),
    Column("verify_tls", Boolean, nullable=False, server_default="1"),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    sqlite_autoincrement=True,
)

#: One row: the repository's generation, raised by every change to its contents.
repo_state = Table(
    "repo_state",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("generation", BigInteger, nullable=False),
)

#: Signed links to stored files (services/links.py); ids are never reused.
links = Table(
    "links",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "file_id", String(300), ForeignKey("files.id", ondelete="CASCADE"), nullable=False,
        index=True,
    ),
    Column("tree", Boolean, nullable=False, server_default="0"),
    Column("created_by", String(64), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
    Column("revoked_at", Float, nullable=True),
    Column("uses", Integer, nullable=False, server_default="0"),
    Column("last_used_at", Float, nullable=True),
    sqlite_autoincrement=True,
)  # fmt: skip

#: The installation tree inside each stored OS medium (content/media/tree.py).
tree_entries = Table(
    "tree_entries",
    metadata,
    Column("file_id", String(300), ForeignKey("files.id", ondelete="CASCADE"), primary_key=True),
    Column("path", String(4096), primary_key=True),
    Column("parent", String(4096), nullable=False),
    Column("is_dir", Boolean, nullable=False),
    Column("size", BigInteger, nullable=False, server_default="0"),
    Column("extents", Text, nullable=False, server_default="[]"),
    Index("ix_tree_entries_parent", "file_id", "parent"),
)

#: Registered BMCs (services/hosts.py); the password sealed (services/secrets.py).
bmcs = Table(
    "bmcs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("url", String(512), nullable=False, unique=True),
    Column("username", String(128), nullable=False),
    Column("password_enc", Text, nullable=False, server_default=""),
    Column("ca_cert", Text, nullable=False, server_default=""),
    Column("verify_tls", Boolean, nullable=False, server_default=true()),
    Column("created_by", String(64), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("refreshed_at", Float, nullable=False),
    Column("last_error", Text, nullable=False, server_default=""),
    sqlite_autoincrement=True,
)

#: The systems the BMCs manage, their deployment settings and state.
hosts = Table(
    "hosts",
    metadata,
    Column("uuid", String(32), primary_key=True),
    Column("bmc_id", Integer, ForeignKey("bmcs.id", ondelete="CASCADE"), nullable=False),
    Column("system_path", String(512), nullable=False),
    Column("name", String(255), nullable=False, server_default=""),
    Column("manufacturer", String(255), nullable=False, server_default=""),
    Column("model", String(255), nullable=False, server_default=""),
    Column("serial", String(255), nullable=False, server_default=""),
    Column("macs", Text, nullable=False, server_default="[]"),
    Column("power_state", String(32), nullable=False, server_default=""),
    Column("virtual_cd", Boolean, nullable=False, server_default=false()),
    Column("refreshed_at", Float, nullable=False),
    Column("network", Text, nullable=True),
    Column("storage", Text, nullable=True),
    Column("deploy_status", Integer, nullable=False, server_default="0"),
    Column("deploy_message", Text, nullable=False, server_default=""),
    #: the running deployment (services/deploy.py): cleared when it ends
    Column("deploy_job", Integer, nullable=True),
    Column("deploy_profile", String(300), nullable=True),
    Column("deploy_token_hash", String(64), nullable=True),
    Column("deploy_state_at", Float, nullable=True),
    Column("deploy_media", Text, nullable=True),
    Column("deploy_unattend", Text, nullable=True),
    Column("deploy_links", Text, nullable=True),
    Index("ix_hosts_bmc", "bmc_id"),
    Index("ix_hosts_token", "deploy_token_hash", unique=True),
)

#: Named settings documents (JSON; secrets inside sealed): "globalSettings".
settings = Table(
    "settings",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", Text, nullable=False),
    Column("updated_at", Float, nullable=False),
)
