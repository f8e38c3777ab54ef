"""A private PostgreSQL server (Debian's ``postgresql`` package) for the tests and the
demonstration cluster: its own database cluster in a folder (a temporary one for the
tests), listening on 127.0.0.1 only, started with ``pg_ctl`` and stopped by it. The
tests start one per session and give each test a fresh database on it."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

from cluster.ports import free_port

PG_ROOT = Path("/usr/lib/postgresql")


def pg_bin() -> Path | None:
    """The newest installed PostgreSQL's bin folder, or None."""
    found = sorted(
        (p for p in PG_ROOT.glob("*/bin") if (p / "initdb").is_file()),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    return found[-1] if found else None


class Postgres:
    """One cluster: ``url`` names its ``postgres`` database as user ``osdepot``."""

    def __init__(self, binaries: Path, root: Path | None = None, port: int = 0) -> None:
        self.bin = binaries
        self.root = root or Path(tempfile.mkdtemp(prefix="osdepot-pg-"))
        self.root.mkdir(parents=True, exist_ok=True)
        self.data = self.root / "data"
        self.port = port or free_port()
        # PostgreSQL refuses to run as root: the package's postgres account runs it
        self.as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self.as_user:
            shutil.chown(self.root, "postgres")
        if not (self.data / "PG_VERSION").is_file():  # a kept cluster is started again
            self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "osdepot", "--no-sync")
        self.start()
        self.url = f"postgresql+psycopg://osdepot@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        """Start the server (again, after ``stop(remove=False)``), on the same port."""
        options = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
            "-c max_connections=200"
        )
        self._run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.root / "log"), "-o", options,
            "-w", "start",
        )  # fmt: skip

    def _run(self, tool: str, *args: str) -> None:
        subprocess.run(
            [*self.as_user, str(self.bin / tool), *args],
            check=True,
            capture_output=True,
            timeout=120,
        )

    def fresh_database(self) -> str:
        """The URL of a new, empty database on this server."""
        return self.database("t_" + uuid.uuid4().hex[:16])

    def database(self, name: str) -> str:
        """The URL of database ``name`` (letters, digits, _), created when missing."""
        import psycopg

        dsn = f"postgresql://osdepot@127.0.0.1:{self.port}/postgres"
        with psycopg.connect(dsn, autocommit=True) as c:
            found = c.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
            if not found:
                c.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql+psycopg://osdepot@127.0.0.1:{self.port}/{name}"

    def restart(self) -> None:
        # -l: the server must not inherit (and hold open) this process's output pipes
        self._run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.root / "log"), "-m", "fast",
            "-w", "restart",
        )  # fmt: skip

    @property
    def pid(self) -> int:
        """The postmaster's PID (the first line of postmaster.pid)."""
        return int((self.data / "postmaster.pid").read_text().split()[0])

    def stop(self, remove: bool = True) -> None:
        subprocess.run(
            [*self.as_user, str(self.bin / "pg_ctl"), "-D", str(self.data), "-m",
             "immediate" if remove else "fast", "-w", "stop"],
            check=False,
            capture_output=True,
            timeout=60,
        )  # fmt: skip
        if remove:
            shutil.rmtree(self.root, ignore_errors=True)
