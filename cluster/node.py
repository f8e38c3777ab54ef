"""One `osdepot serve` node of a cluster: its own port and data folder, the shared
catalog, blob store and key file, plain HTTP behind the balancer."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from cluster.ports import wait_port


class Node:
    """An `osdepot serve` process, started and waited for; stopped by its PID."""

    def __init__(self, name: str, root: Path, port: int, env: dict[str, str]) -> None:
        self.name, self.root, self.port = name, root, port
        root.mkdir(parents=True, exist_ok=True)
        self.log = (root / "server.log").open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "osdepot.cli.main", "serve", "--no-tls"],
            env={
                **os.environ,
                **env,
                "OSDEPOT_DATA_DIR": str(root),
                "OSDEPOT_HOST": "127.0.0.1",
                "OSDEPOT_PORT": str(port),
                "OSDEPOT_NODE_NAME": name,
                "OSDEPOT_FORWARDED_ALLOW_IPS": "127.0.0.1",
            },
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_port(port, 60)

    @property
    def pid(self) -> int:
        return int(self.proc.pid)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
