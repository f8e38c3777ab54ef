"""Which networks remote imports may reach (``OSDEPOT_REMOTE_ALLOW_NETWORKS`` and
``OSDEPOT_REMOTE_DENY_NETWORKS``; both empty, the default, allow any).

Every address a remote server's name resolves to is checked, before the import job
starts and again right before each connection (a name that resolves elsewhere by
then is refused too): an address outside a non-empty allow list, or inside the deny
list, refuses the import.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass

from osdepot.errors import NotAllowed

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def _networks(text: str, setting: str) -> tuple[Network, ...]:
    out: list[Network] = []
    for item in text.replace(";", ",").split(","):
        item = item.strip()
        if not item:
            continue
        try:
            out.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ValueError(f"{setting}: {item!r} is not a network (CIDR) or address") from None
    return tuple(out)


@dataclass(frozen=True)
class NetworkPolicy:
    """The networks remote imports may reach (an allow list) and may not (a deny list)."""

    allow: tuple[Network, ...] = ()
    deny: tuple[Network, ...] = ()

    @classmethod
    def parse(cls, allow: str, deny: str) -> NetworkPolicy:
        """From the two settings; ValueError names a bad entry."""
        return cls(
            _networks(allow, "OSDEPOT_REMOTE_ALLOW_NETWORKS"),
            _networks(deny, "OSDEPOT_REMOTE_DENY_NETWORKS"),
        )

    @property
    def active(self) -> bool:
        return bool(self.allow or self.deny)

    def refusal(self, address: Address) -> str | None:
        """Why ``address`` may not be reached, or None."""
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
            address = address.ipv4_mapped
        if self.allow and not any(address in n for n in self.allow):
            return f"{address} is outside the networks remote imports may reach"
        for n in self.deny:
            if address in n:
                return f"{address} is in {n}, a network remote imports may not reach"
        return None

    async def check(self, host: str, port: int) -> None:
        """Resolve ``host`` and refuse (NotAllowed) if any of its addresses is refused.
        A name that does not resolve is left to the connection to report."""
        if not self.active:
            return
        host = host.strip("[]")
        try:
            literal: Address | None = ipaddress.ip_address(host)
        except ValueError:
            literal = None
        if literal is not None:
            addresses = [literal]
        else:
            loop = asyncio.get_running_loop()
            try:
                infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            except OSError:
                return
            addresses = [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]
        for address in addresses:
            why = self.refusal(address)
            if why is not None:
                raise NotAllowed(why)
