"""The event loop ``osdepot serve`` runs uvicorn on: uvloop's (or asyncio's), with a
time limit on TLS handshakes and shutdowns.

uvicorn opens its listening sockets with ``loop.create_server(..., ssl=...)`` and no
``ssl_handshake_timeout``, so a client that connects and never starts the handshake
holds its connection for the loop's default of 60 s. This loop gives every TLS server
``OSDEPOT_HEADER_TIMEOUT`` seconds (web/protocol.py applies the same limit to the
request head once the handshake is done).
"""

from __future__ import annotations

import asyncio
from typing import Any

from osdepot.config import Settings

try:
    import uvloop

    _Base: type[asyncio.AbstractEventLoop] = uvloop.Loop
except ImportError:  # pragma: no cover - uvicorn[standard] brings uvloop
    _Base = asyncio.SelectorEventLoop


class ServerLoop(_Base):  # type: ignore[valid-type,misc]
    """The loop, with ``ssl_handshake_timeout`` given to every TLS server it opens."""

    handshake_timeout = Settings.from_env().header_timeout

    async def create_server(self, *args: Any, **kwargs: Any) -> Any:
        if kwargs.get("ssl") is not None:
            kwargs.setdefault("ssl_handshake_timeout", self.handshake_timeout)
            # A connection the server closed (a refused head or body) is not kept
            # reading and decrypting what the client goes on sending for the default
            # 30 s of the TLS shutdown.
            kwargs.setdefault("ssl_shutdown_timeout", self.handshake_timeout)
        return await super().create_server(*args, **kwargs)


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvicorn's ``loop`` setting names this factory (``osdepot.web.serverloop:new_event_loop``)."""
    return ServerLoop()
