"""The event loop ``osdepot serve`` runs uvicorn on: uvloop's (or asyncio's), with a
time limit on TLS handshakes and shutdowns, and handshakes counted from the accept.

uvicorn opens its listening sockets with ``loop.create_server(..., ssl=...)`` and no
``ssl_handshake_timeout``, so a client that connects and never starts the handshake
holds its connection for the loop's default of 60 s. This loop gives every TLS server
``OSDEPOT_HEADER_TIMEOUT`` seconds (web/protocol.py applies the same limit to the
request head once the handshake is done).

Given ``ssl``, the loop's own server would start each connection's TLS unseen: the
application's protocol hears of a connection only once its handshake is done, and
nothing of one that fails. So this loop accepts the connection as plain TCP, counts
the handshake (web/connections.py: per address and in all, closing one beyond the
limits at once), and hands the connection to the loop's own TLS protocol before its
first byte is read, as the loop's TLS server does; the protocol's waiter says when
the handshake ends (the count is released then) and the application's protocol is
given the TLS transport as before — the same classes and byte path.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import ssl
import sys
import time
from collections.abc import Callable
from typing import Any, cast

from osdepot.config import Settings

log = logging.getLogger("osdepot.connections")

try:
    import uvloop

    _Base: type[asyncio.AbstractEventLoop] = uvloop.Loop
except ImportError:  # pragma: no cover - uvicorn[standard] brings uvloop
    _Base = asyncio.SelectorEventLoop


class ServerLoop(_Base):  # type: ignore[valid-type,misc]
    """The loop, with time limits on every TLS server it opens and their handshakes
    counted (see the module)."""

    handshake_timeout = Settings.from_env().header_timeout

    async def create_server(
        self, protocol_factory: Callable[[], asyncio.BaseProtocol], *args: Any, **kwargs: Any
    ) -> Any:
        context = kwargs.pop("ssl", None)
        if context is None:
            return await super().create_server(protocol_factory, *args, **kwargs)
        handshake = kwargs.pop("ssl_handshake_timeout", None) or self.handshake_timeout
        # A connection the server closed (a refused head or body) is not kept reading
        # and decrypting what the client goes on sending for the default 30 s of the
        # TLS shutdown.
        shutdown = kwargs.pop("ssl_shutdown_timeout", None) or self.handshake_timeout

        tls_protocol = _tls_protocol_class(self)
        if tls_protocol is None:  # pragma: no cover - a uvloop without it
            log.warning("TLS handshakes are not counted: this uvloop has no SSLProtocol")
            kwargs.update(ssl=context, ssl_handshake_timeout=handshake)
            kwargs.update(ssl_shutdown_timeout=shutdown)
            return await super().create_server(protocol_factory, *args, **kwargs)

        def accepted() -> asyncio.BaseProtocol:
            return _Handshake(self, protocol_factory, context, handshake, shutdown, tls_protocol)

        return await super().create_server(accepted, *args, **kwargs)


class _Refusals:
    """Connections closed before their handshake, logged at most every ``EVERY``
    seconds: a flood would otherwise write a line for each. Those of a burst counted
    after its line are logged when the interval is over, whether more come or not."""

    EVERY = 10.0

    def __init__(self) -> None:
        self.count = 0
        self.logged_at = -self.EVERY
        self._latest = ""
        self._later: asyncio.TimerHandle | None = None

    def add(self, host: str) -> None:
        self.count += 1
        self._latest = host
        wait = self.logged_at + self.EVERY - time.monotonic()
        if wait <= 0:
            self._log()
        elif self._later is None:
            self._later = asyncio.get_running_loop().call_later(wait, self._log)

    def _log(self) -> None:
        from osdepot.web.protocol import LIMITS

        if self._later is not None:
            self._later.cancel()
            self._later = None
        if self.count:
            log.warning(
                "closed %d connection(s) before their TLS handshake (the latest from %s, "
                "which has %d handshakes in progress; %d in all): more than the server "
                "takes at once",
                self.count,
                self._latest,
                LIMITS.handshakes(self._latest),
                LIMITS.handshaking,
            )
        self.count, self.logged_at = 0, time.monotonic()


REFUSALS = _Refusals()


def _tls_protocol_class(loop: asyncio.AbstractEventLoop) -> Any:
    """The loop's own TLS protocol (the one its ``create_server(ssl=...)`` and
    ``start_tls`` use): uvloop's, or asyncio's, which has the same constructor. None if
    this uvloop has none by that name (then the loop's TLS server is used as it is)."""
    if _Base is not asyncio.SelectorEventLoop and isinstance(loop, _Base):
        return getattr(sys.modules.get("uvloop.loop"), "SSLProtocol", None)
    from asyncio import sslproto

    return sslproto.SSLProtocol


class _Handshake(asyncio.Protocol):
    """A connection from its accept to the end of its TLS handshake (see the module).

    Made for each accepted connection; its ``connection_made`` counts the handshake
    and hands the connection to the loop's TLS protocol, as the loop's own TLS server
    does, before the first byte is read."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        factory: Callable[[], asyncio.BaseProtocol],
        context: ssl.SSLContext,
        timeout: float,
        shutdown: float,
        tls_protocol: Any,
    ) -> None:
        self._loop, self._factory, self._context = loop, factory, context
        self._timeout, self._shutdown = timeout, shutdown
        self._tls_protocol = tls_protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        from osdepot.web.protocol import LIMITS

        peer = transport.get_extra_info("peername")
        host = str(peer[0]) if isinstance(peer, tuple) and peer else ""
        if not LIMITS.start_handshake(host):
            cast(asyncio.Transport, transport).abort()
            REFUSALS.add(host)
            return
        waiter = self._loop.create_future()
        tls = self._tls_protocol(
            self._loop,
            self._factory(),
            self._context,
            waiter,
            server_side=True,
            server_hostname=None,
            ssl_handshake_timeout=self._timeout,
            ssl_shutdown_timeout=self._shutdown,
        )
        # The loop starts reading when this returns: the first byte goes to ``tls``,
        # which calls the application protocol's connection_made after the handshake.
        transport.set_protocol(tls)
        tls.connection_made(transport)
        waiter.add_done_callback(functools.partial(_handshake_ended, transport, host))


def _handshake_ended(
    transport: asyncio.BaseTransport, host: str, done: asyncio.Future[None]
) -> None:
    from osdepot.web.protocol import LIMITS

    LIMITS.end_handshake(host)
    if done.cancelled() or done.exception() is not None:
        # failed, timed out, or the client gone (as the loop's own TLS server does)
        cast(asyncio.Transport, transport).abort()


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvicorn's ``loop`` setting names this factory (``osdepot.web.serverloop:new_event_loop``)."""
    return ServerLoop()
