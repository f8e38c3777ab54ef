"""The gate every password check goes through: bounded at once, throttled per address.

A password check is an argon2 verification: about 64 MiB of memory and tens of
milliseconds of a core each. Without a gate a client that sends logins for made-up
users in parallel makes the server hold 64 MiB per request in flight (2.47 GB for 100
at a time, measured before this gate) and slows everyone. The gate admits at most
``slots`` checks at once; up to ``queue`` more wait their turn, and any beyond that are
answered 503 at once (no memory held). Per client address a token bucket (``rate`` per
second, bursts of ``burst``) pays for each check; a check that succeeds gives its token
back, so only failures (and checks in flight) use the bucket up, and an address that
keeps failing is answered 429 before its check; a check that could not be made (the
catalog unreachable) gives its token back too. Requests with a session or remembered
Basic credentials never pass through here.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections import OrderedDict
from collections.abc import AsyncIterator

from osdepot.errors import OsdepotError, error
from osdepot.messages import Messages

#: Addresses whose buckets are remembered (least recently used forgotten first; an
#: address forgotten starts again with a full bucket).
MAX_ADDRESSES = 65536


class PasswordGate:
    """``async with gate.check(address): ...`` around one password check (event loop
    thread only)."""

    def __init__(self, slots: int, rate: float, burst: int, queue: int | None = None) -> None:
        self.slots = max(1, slots)
        self.queue = 4 * self.slots if queue is None else queue
        self.rate = rate
        self.burst = max(1, burst)
        self._inside = 0  # checks running or waiting
        self._semaphore = asyncio.Semaphore(self.slots)
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    @property
    def running(self) -> int:
        """Checks running or waiting now."""
        return self._inside

    def _tokens(self, address: str, now: float) -> float:
        tokens, stamp = self._buckets.get(address, (float(self.burst), now))
        return min(float(self.burst), tokens + (now - stamp) * self.rate)

    def _set(self, address: str, tokens: float, now: float) -> None:
        self._buckets[address] = (tokens, now)
        self._buckets.move_to_end(address)
        while len(self._buckets) > MAX_ADDRESSES:
            self._buckets.popitem(last=False)

    def _throttled(self, address: str, tokens: float) -> OsdepotError:
        retry = max(1, math.ceil((1.0 - tokens) / self.rate)) if self.rate > 0 else 3600
        exc = error(
            Messages.LOGIN_THROTTLED,
            address=address,
            rate=f"{self.rate:g}",
            burst=self.burst,
            retry=retry,
        )
        exc.headers["Retry-After"] = str(retry)
        return exc

    @contextlib.asynccontextmanager
    async def check(self, address: str) -> AsyncIterator[None]:
        """Admit one check from ``address`` (429 when its bucket is empty, 503 when the
        queue is full). Its token comes back when the block ends without an error."""
        now = time.monotonic()
        tokens = self._tokens(address, now)
        if tokens < 1.0:
            raise self._throttled(address, tokens)
        if self._inside >= self.slots + self.queue:
            busy = error(Messages.LOGIN_BUSY, slots=self.slots, queue=self.queue)
            busy.headers["Retry-After"] = "1"
            raise busy
        self._set(address, tokens - 1.0, now)
        self._inside += 1
        try:
            async with self._semaphore:
                yield
        except OsdepotError:
            raise  # refused (a wrong password, a locked account): the token is spent
        except Exception:
            # not the credentials' doing (the catalog cannot be reached, …): the token
            # comes back, so that an outage is answered as one (503), not 429
            self._give_back(address)
            raise
        finally:
            self._inside -= 1
        self._give_back(address)  # the check succeeded

    def _give_back(self, address: str) -> None:
        now = time.monotonic()
        self._set(address, self._tokens(address, now) + 1.0, now)
