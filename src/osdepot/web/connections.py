"""How many connections the server holds at once: in all, and from one address.

Every connection costs the server a file descriptor and, over TLS, about 48 KB of
memory (1,500 connections whose request heads never ended: +72 MB, measured). Before
these limits only time bounded them — ``OSDEPOT_HEADER_TIMEOUT`` for a head, 30 s for
an idle kept-alive connection — and the process's open-file limit: one client holding
1,000 TLS connections left a server started with systemd's soft limit of 1,024 open
files unable to accept anyone else. Now a connection beyond ``OSDEPOT_MAX_CONNECTIONS``
in all, or beyond ``OSDEPOT_MAX_CONNECTIONS_PER_ADDRESS`` from its address, is answered
503 at once and closed; the total never takes the last :data:`FILES_RESERVE` file
descriptors, which stay for the catalog, staging files and blobs being read.

A connection counts from the end of its TLS handshake until it closes. Before that
(web/serverloop.py accepts the connection and then starts its TLS), handshakes in
progress are counted on their own: at most ``OSDEPOT_MAX_CONNECTIONS_PER_ADDRESS``
from one address and ``OSDEPOT_MAX_CONNECTIONS`` in all, and never so many that they
and the open connections take the last :data:`FILES_RESERVE` file descriptors; one
beyond is closed at once (nothing can be said to a client before TLS). Before these
counts, a client that connected and never finished a handshake held its descriptor
for ``OSDEPOT_HEADER_TIMEOUT`` and could open as many as the open-files limit: five
local processes held 18,779 of a server's 20,000 descriptors, and legitimate
requests failed meanwhile. The addresses of ``OSDEPOT_FORWARDED_ALLOW_IPS`` — a
reverse proxy carries many clients on its connections — are not held to the
per-address limits.
"""

from __future__ import annotations

import contextlib
import ipaddress
import resource

#: File descriptors kept for what is not a connection.
FILES_RESERVE = 256
#: The soft open-files limit the server raises itself to when its hard limit allows.
WANTED_OPEN_FILES = 1 << 20


def raise_open_files_limit() -> int:
    """Raise the soft limit on open files to the hard one (at most WANTED_OPEN_FILES),
    as nginx's ``worker_rlimit_nofile`` and Go programs do: systemd starts services at
    1,024 with a hard limit of 524,288. Returns the soft limit in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = WANTED_OPEN_FILES if hard == resource.RLIM_INFINITY else min(hard, WANTED_OPEN_FILES)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
            soft = wanted
        except (ValueError, OSError):
            pass
    return soft


def open_files_limit() -> int:
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    return WANTED_OPEN_FILES if soft == resource.RLIM_INFINITY else soft


class ConnectionLimits:
    """The count of open connections, in all and per address (event-loop thread only).

    ``total`` and ``per_address`` of 0 mean no limit of their own (the total is still
    kept under the open-files limit less :data:`FILES_RESERVE`)."""

    def __init__(
        self, total: int, per_address: int, exempt: str = "", open_files: int | None = None
    ) -> None:
        self._total, self._open_files = total, open_files
        self._cap: int | None = None
        self._files_cap: int | None = None
        self.per_address = per_address
        self._exempt_all = False
        self._exempt: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        for item in exempt.split(","):
            item = item.strip()
            if item == "*":
                self._exempt_all = True
            elif item:
                # a name uvicorn may believe (a socket path) is never a peer address
                with contextlib.suppress(ValueError):
                    self._exempt.append(ipaddress.ip_network(item, strict=False))
        self._open = _Tally()  # connections, from the end of their handshake
        self._handshaking = _Tally()  # TLS handshakes in progress

    @property
    def total(self) -> int:
        """The limit in all, under the open-files limit as it is at the first connection
        (``osdepot serve`` raises it after this module may have been imported)."""
        if self._cap is None:
            files = self._files()
            self._cap = max(1, min(self._total, files) if self._total > 0 else files)
        return self._cap

    def _files(self) -> int:
        """The file descriptors connections may take (read once, as the total is)."""
        if self._files_cap is None:
            files = self._open_files if self._open_files is not None else open_files_limit()
            self._files_cap = max(1, files - FILES_RESERVE)
        return self._files_cap

    def _exempt_address(self, host: str) -> bool:
        if self._exempt_all:
            return True
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(address in network for network in self._exempt)

    @property
    def open(self) -> int:
        """Connections held (their handshakes done)."""
        return self._open.all

    @property
    def handshaking(self) -> int:
        """TLS handshakes in progress."""
        return self._handshaking.all

    def _over_per_address(self, tally: _Tally, host: str) -> int | None:
        """What ``host`` holds of ``tally`` when that is its limit, else None."""
        held = tally.of(host)
        if self.per_address > 0 and held >= self.per_address and not self._exempt_address(host):
            return held
        return None

    def admit(self, host: str) -> str | None:
        """Count a new connection from ``host``; None, or (not counted) why it is refused."""
        if self.open >= self.total:
            return (
                f"the server holds {self.open} connections, the most it takes at once; "
                "try again in a moment"
            )
        held = self._over_per_address(self._open, host)
        if held is not None:
            return (
                f"{host} has {held} connections open to the server, the most one address "
                "may have at once; close some or try again in a moment"
            )
        self._open.add(host)
        return None

    def release(self, host: str) -> None:
        """A connection admitted from ``host`` closed."""
        self._open.remove(host)

    def held(self, host: str) -> int:
        return self._open.of(host)

    def start_handshake(self, host: str) -> bool:
        """Count a TLS handshake starting for a connection from ``host``: False (not
        counted) when that would pass a limit."""
        if self.handshaking >= self.total or self.open + self.handshaking >= self._files():
            return False
        if self._over_per_address(self._handshaking, host) is not None:
            return False
        self._handshaking.add(host)
        return True

    def end_handshake(self, host: str) -> None:
        """A handshake counted by :meth:`start_handshake` ended, whichever way."""
        self._handshaking.remove(host)

    def handshakes(self, host: str) -> int:
        return self._handshaking.of(host)


class _Tally:
    """A count in all and per address (nothing kept for an address at 0)."""

    def __init__(self) -> None:
        self.all = 0
        self._by_address: dict[str, int] = {}

    def of(self, host: str) -> int:
        return self._by_address.get(host, 0)

    def add(self, host: str) -> None:
        self.all += 1
        self._by_address[host] = self._by_address.get(host, 0) + 1

    def remove(self, host: str) -> None:
        self.all -= 1
        held = self._by_address.get(host, 0) - 1
        if held > 0:
            self._by_address[host] = held
        else:
            self._by_address.pop(host, None)

    def addresses(self) -> int:
        return len(self._by_address)
