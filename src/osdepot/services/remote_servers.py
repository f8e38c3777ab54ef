"""Remote file-server profiles (contract §5): validation, secrets, SSH key pairs."""

from __future__ import annotations

import base64
import hashlib
import logging
import re
from dataclasses import dataclass, replace
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from osdepot.domain.records import RemoteServer
from osdepot.domain.text import has_control
from osdepot.errors import Duplicate, Full, InUse, error
from osdepot.messages import Messages
from osdepot.services.context import Context
from osdepot.services.secrets import SecretBox

log = logging.getLogger("osdepot.remote")

PROTOCOLS = {"HTTP": 80, "HTTPS": 443, "FTP": 21, "SFTP": 22}
#: remote file server profiles the repository holds
MAX_SERVERS = 1000
#: reads of a profile a change makes when other changes of it land in between
_TRIES = 5
KEY_TYPES = ("RSA-2048", "RSA-4096", "ECDSA-521-secp521r1")
_ADDRESS = re.compile(
    r"^(?:\[[0-9A-Fa-f:.]+\]|[0-9A-Fa-f:]+:[0-9A-Fa-f:.]*|[A-Za-z0-9_][A-Za-z0-9._-]*)$"
)
_FINGERPRINT = re.compile(r"^SHA256:[A-Za-z0-9+/]{43}=?$")


def _invalid(name: str, detail: str) -> Exception:
    return error(Messages.INVALID_VALUE, name=name, detail=detail)


def _text(
    body: dict[str, Any], name: str, limit: int, default: str = "", lines: bool = False
) -> str:
    """A string field: at most ``limit`` characters, no control characters (line breaks
    only where ``lines``: a PEM certificate)."""
    value = body.get(name, default)
    if value is None:
        return default
    if not isinstance(value, str):
        raise _invalid(name, f"{name} must be a string.")
    if len(value) > limit or has_control(value, allowed="\r\n" if lines else ""):
        raise _invalid(name, f"{name} is longer than {limit} characters or holds control codes.")
    return value


@dataclass(frozen=True)
class Saved:
    """A saved profile, and the stored secrets its change dropped."""

    server: RemoteServer
    dropped: list[str]


def fingerprint(public_key: str) -> str:
    """OpenSSH's SHA256 fingerprint of an OpenSSH public key line."""
    parts = public_key.split()
    if len(parts) < 2:
        return ""
    blob = base64.b64decode(parts[1])
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def generate_key(key_type: str, passphrase: str, comment: str) -> tuple[str, str]:
    """(private key in OpenSSH format, public key line) for a §5.1 key type."""
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
    if key_type == "RSA-2048":
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    elif key_type == "RSA-4096":
        key = rsa.generate_private_key(public_exponent=65537, key_size=4096)
    else:
        key = ec.generate_private_key(ec.SECP521R1())
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase.encode())
        if passphrase
        else serialization.NoEncryption()
    )
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, encryption
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        .decode()
    )
    return private, f"{public} {comment}".strip()


def server_json(s: RemoteServer) -> dict[str, Any]:
    """The §5.1 object; never a password, passphrase or private key."""
    pinned = fingerprint(s.host_key) if s.host_key else ""
    return {
        "serverId": str(s.id),
        "displayName": s.display_name,
        "address": s.address,
        "port": s.port,
        "protocol": s.protocol,
        "username": s.username,
        "keyType": s.key_type,
        "keyComment": s.key_comment,
        "serverPublicKey": s.public_key,
        "keySignature": fingerprint(s.public_key) if s.public_key else "",
        "hasPassword": bool(s.password_enc),
        "hostKeyFingerprint": s.host_key_fingerprint or pinned,
        "hostKeyPinned": bool(s.host_key),
        "caCertificate": s.ca_cert,
        "skipCertificateVerification": not s.verify_tls,
    }


def parse_server_id(raw: Any) -> int:
    text = str(raw).strip()
    if not (text.isascii() and text.isdigit()) or len(text) > 12:
        raise error(Messages.NOT_FOUND, what="Remote file server", name=text[:40], detail="")
    return int(text)


def _not_found(server_id: int) -> Exception:
    return error(
        Messages.NOT_FOUND,
        what="Remote file server",
        name=str(server_id),
        detail="GET /osImages/remoteFileServers lists the registered servers.",
    )


class RemoteServers:
    """Remote file-server profiles: validation, secrets sealed at rest, SSH key pairs,
    and the rule that stored secrets follow their target."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.secrets = SecretBox.of(ctx.settings)

    async def list(self) -> list[RemoteServer]:
        return await self.ctx.run(self.ctx.catalog.list_servers)

    async def get(self, server_id: int) -> RemoteServer:
        found = await self.ctx.run(self.ctx.catalog.get_server, server_id)
        if found is None:
            raise _not_found(server_id)
        return found

    async def save(self, body: Any, server_id: int | None) -> Saved:
        """Create a profile, or modify ``server_id`` (also when the body names one)."""
        if not isinstance(body, dict):
            raise _invalid("request body", "The body must be a JSON object.")
        if server_id is None and body.get("serverId") not in (None, ""):
            server_id = parse_server_id(body["serverId"])
        if server_id is None:
            saved = await self.ctx.run(self._save, body, None)
            assert saved is not None
            return saved
        for _ in range(_TRIES):
            # A change is made of the profile as it was read, and written only if it
            # is still so (another change, or a host key pinned, in between: read
            # again): what the other change stored (a new key pair) is never lost.
            old = await self.get(server_id)
            saved = await self.ctx.run(self._save, body, old)
            if saved is not None:
                return saved
        raise error(
            Messages.CHANGED_MEANWHILE,
            what="Remote file server",
            name=str(server_id),
            tries=_TRIES,
        )

    def _save(self, body: dict[str, Any], old: RemoteServer | None) -> Saved | None:  # noqa: C901 (one check per field of the profile; to be split per field group (issue 16))
        """The profile ``body`` makes (of ``old``, for a change) stored; None when
        ``old`` is no longer what is stored."""
        protocol = _text(body, "protocol", 8).strip().upper()
        if protocol not in PROTOCOLS:
            raise _invalid("protocol", "protocol must be HTTP, HTTPS, FTP or SFTP.")
        address = _text(body, "address", 255).strip()
        if not address or not _ADDRESS.match(address):
            raise _invalid("address", "address must be a host name or an IP address.")
        display = _text(body, "displayName", 128, address).strip() or address
        port_raw = body.get("port", PROTOCOLS[protocol])
        try:
            port = int(str(port_raw))
        except ValueError:
            raise _invalid("port", "port must be a number from 1 to 65535.") from None
        if isinstance(port_raw, bool) or not 1 <= port <= 65535:
            raise _invalid("port", "port must be a number from 1 to 65535.")
        username = _text(body, "username", 128, old.username if old else "").strip()
        if protocol == "SFTP" and not username:
            raise _invalid("username", "An SFTP server needs the user name to log in as.")
        key_type = _text(body, "keyType", 32).strip()
        if key_type and key_type not in KEY_TYPES:
            raise _invalid("keyType", f"keyType must be one of {', '.join(KEY_TYPES)}.")
        if key_type and protocol != "SFTP":
            raise _invalid("keyType", "Key pairs are for SFTP servers only.")
        comment = _text(body, "keyComment", 255, old.key_comment if old else "")
        fp = _text(body, "hostKeyFingerprint", 128).strip()
        if fp and not _FINGERPRINT.match(fp):
            raise _invalid("hostKeyFingerprint", "Give the host key as SHA256:<43 base64 chars>.")
        ca = _text(body, "caCertificate", 65536, old.ca_cert if old else "", lines=True)
        if ca and "-----BEGIN CERTIFICATE-----" not in ca:
            raise _invalid("caCertificate", "caCertificate must be PEM certificate text.")
        skip = body.get("skipCertificateVerification", (not old.verify_tls) if old else False)
        if not isinstance(skip, bool):
            raise _invalid("skipCertificateVerification", "It must be true or false.")
        now = self.ctx.clock()
        server = RemoteServer(
            id=old.id if old else 0,
            display_name=display,
            address=address,
            port=port,
            protocol=protocol,
            username=username,
            key_comment=comment,
            host_key_fingerprint=fp
            if "hostKeyFingerprint" in body
            else (old.host_key_fingerprint if old else ""),
            ca_cert=ca,
            verify_tls=not skip,
            created_at=old.created_at if old else now,
            updated_at=now,
        )
        # Secrets: absent means "keep"; an empty string clears. But a profile that now
        # points elsewhere (address, port, protocol or TLS verification changed) keeps
        # none of them unless they are sent again: they were given for the old target,
        # and must never be sent to a host the one who stored them did not choose.
        dropped: list[str] = []
        moved = old is not None and (old.address, old.port, old.protocol, old.verify_tls) != (
            address,
            port,
            protocol,
            not skip,
        )
        if "password" in body:
            server = replace(
                server, password_enc=self.secrets.seal(_text(body, "password", 1024, lines=True))
            )
        elif old and old.password_enc and moved:
            dropped.append("password")
        elif old:
            server = replace(server, password_enc=old.password_enc)
        passphrase_key = "keyPassphrase" if "keyPassphrase" in body else "keyPassphras"
        passphrase = (
            _text(body, passphrase_key, 1024, lines=True) if passphrase_key in body else None
        )
        if old and old.key_type and moved and not key_type:
            dropped.append("key pair")
        elif (
            protocol == "SFTP"
            and old
            and old.key_type
            # kept as it is, or (for a new target) when its keyType is given again
            and (key_type == old.key_type or (not key_type and not moved))
        ):
            # The key pair stays (a new one needs a new keyType or deleting the profile).
            server = replace(
                server,
                key_type=old.key_type,
                private_key_enc=old.private_key_enc,
                passphrase_enc=old.passphrase_enc,
                public_key=old.public_key,
            )
        elif key_type:
            private, public = generate_key(key_type, passphrase or "", comment)
            server = replace(
                server,
                key_type=key_type,
                private_key_enc=self.secrets.seal(private),
                passphrase_enc=self.secrets.seal(passphrase or ""),
                public_key=public,
            )
        if old and old.host_key:
            moved = (old.address, old.port, old.protocol) != (address, port, protocol)
            if not moved and not body.get("resetHostKey") and not fp:
                server = replace(server, host_key=old.host_key)
        catalog = self.ctx.catalog
        try:
            if old is None:
                return Saved(catalog.add_server(server, MAX_SERVERS), [])
            if not catalog.update_server(server, expected=old):
                return None  # changed or deleted since it was read
        except Full:
            raise error(
                Messages.LIMIT_REACHED,
                where="The repository",
                count=MAX_SERVERS,
                what="remote file server profiles",
                detail="Profiles are shared by every user; one is enough per server.",
            ) from None
        except Duplicate:
            # §5.3: a second server with the same name is an invalid attribute (400).
            raise error(
                Messages.INVALID_VALUE,
                name="displayName",
                detail=f"A remote file server named {server.display_name!r} already "
                "exists; display names are unique.",
            ) from None
        found = catalog.get_server(old.id)
        if found is None:
            raise _not_found(old.id)  # deleted right after the change
        if dropped:
            log.info(
                "remote server %d now points to %s %s:%d; stored %s dropped",
                old.id,
                protocol,
                address,
                port,
                " and ".join(dropped),
            )
        return Saved(found, dropped)

    async def delete(self, server_id: int) -> None:
        await self.get(server_id)
        try:
            removed = await self.ctx.run(self.ctx.catalog.delete_server, server_id)
        except InUse as exc:
            raise error(
                Messages.IN_USE,
                what="Remote file server",
                name=str(server_id),
                detail=f"Import job {exc.job_id} is transferring a file from it.",
            ) from None
        if not removed:  # removed by another request after the check above
            raise _not_found(server_id)
