"""The tests' own file servers behave as one server each, whatever the others do."""

from __future__ import annotations

import ftplib
from pathlib import Path

from tests.remote.servers import FtpServer


def _logs_in(server: FtpServer) -> None:
    with ftplib.FTP() as f:
        f.connect("127.0.0.1", server.port, timeout=5)
        f.login()  # anonymous
        assert f.nlst() == ["f.txt"]


def test_an_ftp_server_still_logs_in_after_the_one_before_it_closes_again(
    tmp_path: Path,
) -> None:
    """What failed a CI run: the previous test's server, stopped, closed all once more
    as its serving thread ended — after the next test's server had started."""
    (tmp_path / "f.txt").write_bytes(b"x")
    before = FtpServer(tmp_path)
    _logs_in(before)
    before.stop()
    after = FtpServer(tmp_path)
    try:
        _logs_in(after)
        before.server.close_all()  # what its serving thread does, a moment late
        for _ in range(3):
            _logs_in(after)
    finally:
        after.stop()


def test_two_ftp_servers_side_by_side_each_outlive_the_other(tmp_path: Path) -> None:
    (tmp_path / "f.txt").write_bytes(b"x")
    first, second = FtpServer(tmp_path), FtpServer(tmp_path)
    try:
        _logs_in(first)
        _logs_in(second)
        first.stop()
        for _ in range(3):
            _logs_in(second)
        assert not first.thread.is_alive()  # stop() waits for its serving thread
    finally:
        second.stop()


def test_an_ftp_server_stopped_at_once_stops_quietly(tmp_path: Path) -> None:
    for _ in range(20):
        s = FtpServer(tmp_path)
        s.stop()
        assert not s.thread.is_alive()
