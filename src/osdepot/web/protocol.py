"""uvicorn's httptools protocol, without two copies of every request-body chunk.

uvicorn appends each body chunk it parses to a ``bytearray`` and hands the
application ``bytes(that bytearray)``: two copies of every byte of an upload on the
event-loop thread, which is the busiest thread of an upload. When the application
keeps up, a chunk is the only one waiting when it asks for the next; this protocol
then keeps the parser's ``bytes`` object as it is, and ``bytes(b)`` of a ``bytes``
object is the object itself, so it reaches the application without a copy. When
several chunks are waiting they are gathered into a ``bytearray`` as uvicorn does.
Measured with benchmarks/upload.py (docs/benchmarks.md).

The override is one method of uvicorn's class and uses only what that method uses;
tests/e2e run every request of the real server through it.
"""

from __future__ import annotations

from uvicorn.protocols.http.flow_control import HIGH_WATER_LIMIT
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class BodyProtocol(HttpToolsProtocol):
    def on_body(self, body: bytes) -> None:
        cycle = self.cycle
        if (self.parser.should_upgrade() and self._should_upgrade()) or cycle.response_complete:
            return
        waiting = cycle.body
        if not waiting:
            cycle.body = body  # type: ignore[assignment]  # handed on without a copy
        elif isinstance(waiting, bytearray):
            waiting += body
        else:
            cycle.body = bytearray(waiting) + body
        if len(cycle.body) > HIGH_WATER_LIMIT:
            self.flow.pause_reading()
        cycle.message_event.set()
