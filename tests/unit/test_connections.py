"""The connection limits (web/connections.py) on their own; tests/e2e/test_attacks.py
holds them against a real server."""

from __future__ import annotations

import resource

import pytest

from osdepot.web.connections import FILES_RESERVE, ConnectionLimits, raise_open_files_limit


def test_per_address_and_total_limits_count_and_release() -> None:
    limits = ConnectionLimits(total=5, per_address=2, open_files=100_000)
    assert limits.admit("198.51.100.1") is None
    assert limits.admit("198.51.100.1") is None
    why = limits.admit("198.51.100.1")
    assert why is not None and "198.51.100.1 has 2 connections" in why
    assert limits.admit("198.51.100.2") is None
    assert limits.admit("2001:db8::1") is None
    assert limits.admit("2001:db8::2") is None
    why = limits.admit("203.0.113.9")
    assert why is not None and "holds 5 connections" in why
    assert limits.open == 5  # refusals are not counted
    limits.release("198.51.100.1")
    assert limits.held("198.51.100.1") == 1 and limits.open == 4
    assert limits.admit("198.51.100.1") is None
    for host in ("198.51.100.1", "198.51.100.1", "198.51.100.2", "2001:db8::1", "2001:db8::2"):
        limits.release(host)
    assert limits.open == 0 and limits.held("198.51.100.1") == 0
    assert limits._open.addresses() == 0  # nothing kept for addresses that left


def test_trusted_proxies_have_no_per_address_limit() -> None:
    limits = ConnectionLimits(10, 1, "192.0.2.7, 10.0.0.0/8, /run/proxy.sock", 100_000)
    for host in ("192.0.2.7", "192.0.2.7", "10.1.2.3", "10.1.2.3"):
        assert limits.admit(host) is None
    assert limits.admit("192.0.2.8") is None
    assert limits.admit("192.0.2.8") is not None
    assert limits.admit("unix-socket") is None
    assert limits.admit("unix-socket") is not None
    anyone = ConnectionLimits(10, 1, "*", 100_000)
    assert anyone.admit("192.0.2.8") is None and anyone.admit("192.0.2.8") is None


def test_the_total_leaves_file_descriptors_for_files() -> None:
    assert ConnectionLimits(10_000, 0, open_files=1024).total == 1024 - FILES_RESERVE
    assert ConnectionLimits(0, 0, open_files=4096).total == 4096 - FILES_RESERVE
    assert ConnectionLimits(100, 0, open_files=4096).total == 100
    tiny = ConnectionLimits(100, 0, open_files=10)
    assert tiny.total == 1 and tiny.admit("x") is None and tiny.admit("y") is not None
    # per_address 0: no limit of its own
    unbounded = ConnectionLimits(0, 0, open_files=4096)
    assert all(unbounded.admit("192.0.2.1") is None for _ in range(1000))


def test_the_open_files_limit_is_raised_to_the_hard_one() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(256, hard), hard))
        got = raise_open_files_limit()
        want = min(hard, 1 << 20) if hard != resource.RLIM_INFINITY else 1 << 20
        assert got == want == resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_handshakes_in_progress_are_counted_on_their_own() -> None:
    limits = ConnectionLimits(total=6, per_address=2, exempt="192.0.2.7", open_files=100_000)
    assert limits.start_handshake("198.51.100.1") and limits.start_handshake("198.51.100.1")
    assert not limits.start_handshake("198.51.100.1")  # two in progress from there
    assert limits.admit("198.51.100.1") is None  # established ones are counted apart
    assert all(limits.start_handshake("192.0.2.7") for _ in range(4))  # a trusted proxy
    assert not limits.start_handshake("198.51.100.2")  # six in all
    assert limits.handshaking == 6 and limits.handshakes("198.51.100.1") == 2
    limits.end_handshake("198.51.100.1")
    assert limits.start_handshake("198.51.100.2")
    for host in ["198.51.100.1", "198.51.100.2"] + ["192.0.2.7"] * 4:
        limits.end_handshake(host)
    assert limits.handshaking == 0 and limits._handshaking.addresses() == 0
    # Handshakes and open connections together never take the reserved descriptors.
    tight = ConnectionLimits(total=100, per_address=0, open_files=FILES_RESERVE + 3)
    assert tight.admit("x") is None and tight.admit("y") is None
    assert tight.start_handshake("z")
    assert not tight.start_handshake("w")


def test_refused_handshakes_of_a_burst_are_all_logged(caplog: pytest.LogCaptureFixture) -> None:
    """The first refusal is logged at once, the ones after it within the interval as
    one line when the interval is over — before, only if another refusal came after
    it, so the end of a burst was never told."""
    import asyncio

    from osdepot.web.serverloop import _Refusals

    async def burst() -> list[str]:
        refusals = _Refusals()
        refusals.EVERY = 0.2
        refusals.add("10.0.0.1")
        refusals.add("10.0.0.1")
        refusals.add("10.0.0.2")
        lines = [r.getMessage() for r in caplog.records]
        await asyncio.sleep(0.4)
        assert lines == [r.getMessage() for r in caplog.records][:1]
        return [r.getMessage() for r in caplog.records]

    caplog.set_level("WARNING")
    first, rest = asyncio.run(burst())
    assert first.startswith("closed 1 connection(s) before their TLS handshake")
    assert rest.startswith("closed 2 connection(s)") and "latest from 10.0.0.2" in rest
