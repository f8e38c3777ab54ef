"""Signed links: URLs that installers and BMCs, which cannot log in, use to read one
stored file (an ISO for virtual media or iPXE ``sanboot``) or the installation tree
inside an OS image's ISO.

A link is a catalog row (who made it, for which file, until when, whether revoked,
how often used) and a token ``{id}.{expires}.{signature}``: the signature is an
HMAC-SHA-256 over the id and the expiry under a key derived from the data folder's
``secret.key`` (services/secrets.py), so a token cannot be made or changed without
that key, and a token that does not verify costs no catalog read. Link ids are
never reused (the table's ids only grow), so a token names one row for ever.
A link grants GET and HEAD of its file (or tree) and nothing else; it ends when it
expires, when it is revoked, or with its file. Every refusal is the same 404,
whichever part was wrong.
"""

from __future__ import annotations

import base64
import hmac
import logging
import time
from dataclasses import dataclass
from hashlib import sha256
from typing import Any

from osdepot.domain.records import Link, StoredFile, User
from osdepot.errors import Missing, error
from osdepot.messages import Messages
from osdepot.services.context import Context
from osdepot.services.downloads import deleted_meanwhile
from osdepot.services.secrets import SecretBox

log = logging.getLogger("osdepot.links")

#: Links one file keeps: a new one beyond removes the links that ended (expired or
#: revoked) longest ago, and is refused when all of them are still valid.
MAX_LINKS = 1000
#: Uses of a link are written to the catalog at most this often (seconds) per
#: process: an iPXE boot reads an ISO in thousands of small ranges.
USE_RECORD_INTERVAL = 10.0


@dataclass(frozen=True)
class Issued:
    """A link and its URL."""

    link: Link
    url: str


def _no_such_link() -> Exception:
    return error(
        Messages.NOT_FOUND,
        what="Link",
        name="",
        detail="This link does not exist, has expired or was revoked.",
    )


class Links:
    """Making, listing, revoking and checking signed links."""

    #: (link id) → monotonic time its use was last written, per process
    _recorded: dict[int, float] = {}

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self._key = SecretBox.of(ctx.settings).derived_key(b"osdepot signed links")

    def _signature(self, link_id: int, expires: int) -> str:
        mac = hmac.new(self._key, f"{link_id}.{expires}".encode(), sha256).digest()
        return base64.urlsafe_b64encode(mac).decode("ascii").rstrip("=")

    def token(self, link: Link) -> str:
        expires = int(link.expires_at)
        return f"{link.id}.{expires}.{self._signature(link.id, expires)}"

    def url(self, base: str, link: Link) -> str:
        return f"{base.rstrip('/')}/links/{self.token(link)}" + ("/" if link.tree else "")

    def lifetime(self, body: Any) -> float:
        """The seconds a new link lives: ``expiresIn`` of the body, default and cap
        from the settings."""
        s = self.ctx.settings
        if body is None or body == {}:
            return float(s.link_default_seconds)
        if not isinstance(body, dict):
            raise error(
                Messages.INVALID_VALUE,
                name="request body",
                detail='The body is empty or a JSON object like {"expiresIn": 3600}.',
            )
        value = body.get("expiresIn", s.link_default_seconds)
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise error(
                Messages.INVALID_VALUE,
                name="expiresIn",
                detail="expiresIn is a number of seconds greater than 0.",
            )
        if value > s.link_max_seconds:
            raise error(
                Messages.INVALID_VALUE,
                name="expiresIn",
                detail=f"A link may live at most {s.link_max_seconds} seconds "
                "(OSDEPOT_LINK_MAX_SECONDS).",
            )
        return float(value)

    async def issue(
        self, user: User, f: StoredFile, *, tree: bool, lifetime: float, base: str
    ) -> Issued:
        now = self.ctx.clock()
        try:
            link = await self.ctx.run(
                self.ctx.catalog.add_link, f.id, tree, user.name, now, now + lifetime, MAX_LINKS
            )
        except Missing:
            raise deleted_meanwhile(f) from None
        if link is None:
            raise error(
                Messages.TOO_MANY_LINKS,
                file_id=f.id,
                count=MAX_LINKS,
            )
        log.info(
            "link %d to %s%s made by %s, valid until %s",
            link.id,
            f.id,
            " (installation tree)" if tree else "",
            user.name,
            time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(link.expires_at)),
        )
        return Issued(link, self.url(base, link))

    async def of_file(self, f: StoredFile) -> list[Link]:
        return await self.ctx.run(self.ctx.catalog.list_links, f.id)

    async def revoke(self, user: User, f: StoredFile, link_id: int) -> None:
        if not await self.ctx.run(self.ctx.catalog.revoke_link, f.id, link_id, self.ctx.clock()):
            raise error(
                Messages.NOT_FOUND,
                what="Link",
                name=str(link_id),
                detail=f"File {f.id} has no active link with this id.",
            )
        log.info("link %d to %s revoked by %s", link_id, f.id, user.name)

    async def check(self, token: str, tree: bool) -> Link:
        """The link a token names, if it verifies and is alive; the same 404 otherwise."""
        parts = token.split(".")
        # ASCII digits only: str.isdigit() also takes "²", which int() refuses.
        if len(parts) != 3 or not all(p.isascii() and p.isdigit() for p in parts[:2]):
            raise _no_such_link()
        if len(parts[0]) > 18 or len(parts[1]) > 12:
            raise _no_such_link()
        link_id, expires = int(parts[0]), int(parts[1])
        good = hmac.compare_digest(self._signature(link_id, expires), parts[2])
        if not good or expires < self.ctx.clock():
            raise _no_such_link()
        link = await self.ctx.read(lambda c: c.get_link(link_id))
        if (
            link is None
            or int(link.expires_at) != expires
            or link.revoked_at is not None
            or link.expires_at < self.ctx.clock()
            or link.tree != tree
        ):
            raise _no_such_link()
        await self._record_use(link)
        return link

    async def _record_use(self, link: Link) -> None:
        now = time.monotonic()
        last = self._recorded.get(link.id)
        if last is not None and now - last < USE_RECORD_INTERVAL:
            return
        if len(self._recorded) > 10_000:
            self._recorded.clear()
        self._recorded[link.id] = now
        await self.ctx.run(self.ctx.catalog.record_link_use, link.id, self.ctx.clock())
        log.info("link %d to %s used", link.id, link.file_id)
