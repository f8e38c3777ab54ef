"""The tests' BMC: OpenStack's Redfish emulator (sushy-tools, ``sushy-emulator``) with
its fake driver — systems that exist only in the emulator, whose power state, boot
override and virtual media its Redfish API reads back — over TLS on 127.0.0.1, with
HTTP Basic credentials (an htpasswd file, bcrypt). Started and stopped by PID."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import bcrypt
from cluster.ports import free_port, wait_port

from osdepot.tlscert import ensure_self_signed

USER, PASSWORD = "redfish-admin", "redfish-pw-1"


def emulator_binary() -> str | None:
    found = shutil.which("sushy-emulator") or str(Path(sys.executable).parent / "sushy-emulator")
    return found if os.path.exists(found) else None


def system(uuid: str, name: str, mac: str, power: str = "Off") -> dict[str, Any]:
    return {"uuid": uuid, "name": name, "power_state": power, "nics": [{"mac": mac}]}


class Emulator:
    """One sushy-emulator with the fake systems given."""

    def __init__(
        self, binary: str, systems: list[dict[str, Any]], extra: dict[str, Any] | None = None
    ) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="osdepot-redfish-"))
        self.cert, key = ensure_self_signed(self.dir / "tls")
        self.port = free_port()
        auth = self.dir / "htpasswd"
        digest = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
        auth.write_text(f"{USER}:{digest}\n")
        config = self.dir / "emulator.conf"
        config.write_text(
            f"SUSHY_EMULATOR_LISTEN_IP = '127.0.0.1'\n"
            f"SUSHY_EMULATOR_LISTEN_PORT = {self.port}\n"
            f"SUSHY_EMULATOR_SSL_CERT = {str(self.cert)!r}\n"
            f"SUSHY_EMULATOR_SSL_KEY = {str(key)!r}\n"
            f"SUSHY_EMULATOR_AUTH_FILE = {str(auth)!r}\n"
            "SUSHY_EMULATOR_FAKE_DRIVER = True\n"
            f"SUSHY_EMULATOR_FAKE_SYSTEMS = {systems!r}\n"
            f"SUSHY_EMULATOR_STATE_DIR = {str(self.dir / 'state')!r}\n"
            + "".join(f"{k} = {v!r}\n" for k, v in (extra or {}).items())
        )
        self.log = open(self.dir / "emulator.log", "wb")  # noqa: SIM115 (closed in stop)
        self.proc = subprocess.Popen(
            [binary, "--config", str(config)],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            wait_port(self.port, 30)
        except OSError:
            self.stop()
            raise

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def ca(self) -> str:
        return self.cert.read_text()

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def read(bmc: Emulator, path: str) -> Any:
    """A resource of the emulator's Redfish API, as its own clients read it."""
    import requests

    ca = bmc.dir / "ca.pem"
    ca.write_text(bmc.ca)
    r = requests.get(bmc.url + path, auth=(USER, PASSWORD), verify=str(ca), timeout=30)
    r.raise_for_status()
    return r.json()


def power_of(bmc: Emulator, uuid: str) -> str:
    """A system's power state now (the tests that deploy change it)."""
    return str(read(bmc, f"/redfish/v1/Systems/{uuid}")["PowerState"])
