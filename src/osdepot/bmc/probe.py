"""Whether addresses are in use on the network (the deployments' duplicate-IP check):
an ICMP echo request (ping) to each, answered within a second.

Why ICMP and not a TCP connection: a firewall that rejects with resets, or a
transparent proxy that accepts every connection, would make every address look taken
(this machine's own network does the latter). An echo reply comes from the address
itself. What it needs: a raw ICMP socket (root, or CAP_NET_RAW) or Linux's unprivileged
ping sockets (``net.ipv4.ping_group_range`` naming the server's group); without either
the check says nothing (logged once), and a host that does not answer pings (Windows'
default firewall) looks free — the check refuses on evidence only."""

from __future__ import annotations

import logging
import os
import select
import socket
import struct
import time
from collections.abc import Iterable

log = logging.getLogger("osdepot.probe")

#: ICMP echo request and reply types, by address family
_ECHO: dict[int, tuple[int, int]] = {socket.AF_INET: (8, 0), socket.AF_INET6: (128, 129)}
_warned = False


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\x00"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


def _open(family: int) -> tuple[socket.socket, bool] | None:
    """An ICMP socket of ``family`` and whether it is raw (replies carry the IPv4
    header; the identifier is ours), or None when this process may open neither."""
    proto = socket.IPPROTO_ICMP if family == socket.AF_INET else socket.IPPROTO_ICMPV6
    for kind, raw in ((socket.SOCK_RAW, True), (socket.SOCK_DGRAM, False)):
        try:
            s = socket.socket(family, kind, proto)
        except OSError:
            continue
        s.setblocking(False)
        return s, raw
    return None


def addresses_in_use(addresses: Iterable[str], timeout: float = 1.0) -> set[str]:
    """The ones of ``addresses`` (IP addresses, checked already) that answer a ping
    within ``timeout`` seconds (blocking: run it in a thread)."""
    global _warned
    wanted: dict[str, int] = {
        a: socket.AF_INET6 if ":" in a else socket.AF_INET for a in set(addresses)
    }
    socks: dict[int, tuple[socket.socket, bool]] = {}
    try:
        for family in set(wanted.values()):
            opened = _open(family)
            if opened is not None:
                socks[family] = opened
            elif not _warned:
                _warned = True
                log.warning(
                    "the duplicate-IP check cannot ping (no raw or ping socket for this "
                    "process): it checks the catalog only"
                )
        _send(socks, wanted)
        return _replies(socks, wanted, time.monotonic() + timeout)
    finally:
        for s, _raw in socks.values():
            s.close()


def _ident() -> int:
    return os.getpid() & 0xFFFF


def _send(socks: dict[int, tuple[socket.socket, bool]], wanted: dict[str, int]) -> None:
    for seq, (address, family) in enumerate(sorted(wanted.items()), 1):
        if family not in socks:
            continue
        request = _ECHO[family][0]
        body = struct.pack("!HH", _ident(), seq) + b"osdepot duplicate-IP check"
        packet = struct.pack("!BBH", request, 0, 0) + body
        if family == socket.AF_INET:  # the kernel sums ICMPv6 itself
            packet = struct.pack("!BBH", request, 0, _checksum(packet)) + body
        try:
            socks[family][0].sendto(packet, (address, 0))
        except OSError:
            continue  # no route: no evidence


def _replies(
    socks: dict[int, tuple[socket.socket, bool]], wanted: dict[str, int], deadline: float
) -> set[str]:
    """The wanted addresses whose echo replies arrive before ``deadline``."""
    packed = {socket.inet_pton(f, a): a for a, f in wanted.items()}
    by_fd = {s.fileno(): (s, raw, family) for family, (s, raw) in socks.items()}
    found: set[str] = set()
    while by_fd and len(found) < len(wanted):
        left = deadline - time.monotonic()
        if left <= 0:
            break
        ready, _, _ = select.select(list(by_fd), [], [], left)
        for fd in ready:
            s, raw, family = by_fd[fd]
            try:
                data, peer = s.recvfrom(2048)
            except OSError:
                continue
            if raw and family == socket.AF_INET:
                data = data[(data[0] & 0x0F) * 4 :]  # past the IPv4 header
            if len(data) < 8 or data[0] != _ECHO[family][1]:
                continue
            # a raw socket sees every echo reply of the machine: ours carry our id (an
            # unprivileged ping socket's id is the kernel's, and the kernel filters)
            if raw and struct.unpack("!H", data[4:6])[0] != _ident():
                continue
            source = packed.get(socket.inet_pton(family, str(peer[0]).split("%")[0]))
            if source is not None:
                found.add(source)
    return found
