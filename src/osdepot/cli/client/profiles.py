"""Session profiles: where they are kept, read and written (mode 0600; the session
cookie and CSRF token, never the password)."""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import asdict, dataclass
from pathlib import Path

from osdepot.cli.client.common import CliError


def config_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "osdepot" / "profiles"


@dataclass
class Profile:
    url: str
    user: str
    session: str
    csrf: str
    #: True (system CAs), False (--insecure) or the path of a CA certificate
    verify: bool | str = True

    @staticmethod
    def path(name: str) -> Path:
        if not name or "/" in name or name.startswith("."):
            raise CliError(f"osdepot: {name!r} is not a valid profile name")
        return config_dir() / f"{name}.json"

    @classmethod
    def load(cls, name: str) -> Profile:
        p = cls.path(name)
        try:
            data = json.loads(p.read_text())
            return cls(**data)
        except FileNotFoundError:
            raise CliError(
                f"osdepot: not logged in (profile {name!r}); run `osdepot login URL` first"
            ) from None
        except (ValueError, TypeError) as exc:
            raise CliError(
                f"osdepot: the profile file {p} is damaged ({exc}); log in again"
            ) from None

    def save(self, name: str) -> Path:
        p = self.path(name)
        p.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(p.parent, 0o700)
        tmp = p.with_name(f".{p.name}.{secrets.token_hex(4)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(asdict(self), f, indent=1)
        os.replace(tmp, p)
        return p
