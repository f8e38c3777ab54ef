"""The command-line client's following of a job: it ends, and it gives up on a job that
shows no progress instead of polling for ever."""

from __future__ import annotations

import io
from typing import Any

import pytest

from osdepot.cli.client import CliError
from osdepot.cli.client.imports import follow_job


class FakeApi:
    """Answers GET /tasks/{id} from a list of job states (the last one repeats)."""

    def __init__(self, states: list[dict[str, Any]]) -> None:
        self.states = states
        self.calls = 0

    def request(self, method: str, path: str, **_kw: Any) -> list[dict[str, Any]]:
        assert (method, path) == ("GET", "/tasks/7")
        state = self.states[min(self.calls, len(self.states) - 1)]
        self.calls += 1
        return [{"id": "7", "fileSize": 100, **state}]


def test_follow_returns_the_ended_job() -> None:
    api = FakeApi(
        [
            {"status": "Running", "bytesReceived": 10, "percentage": 10},
            {"status": "Running", "bytesReceived": 60, "percentage": 60},
            {"status": "Complete", "bytesReceived": 100, "percentage": 100},
        ]
    )
    job = follow_job(api, "7", "x.iso", True, io.StringIO(), stall=5, interval=0)  # type: ignore[arg-type]
    assert job["status"] == "Complete" and api.calls == 3


def test_follow_gives_up_on_a_job_without_progress() -> None:
    api = FakeApi([{"status": "Running", "bytesReceived": 10, "percentage": 10}])
    with pytest.raises(CliError, match=r"no progress for 0\.2 s") as exc:
        follow_job(api, "7", "x.iso", True, io.StringIO(), stall=0.2, interval=0.01)  # type: ignore[arg-type]
    assert exc.value.code == 1 and "osdepot tasks 7 --watch" in str(exc.value)
    assert api.calls > 2


def test_progress_keeps_the_wait_going() -> None:
    # Slow but moving: a new byte count each poll, for longer than the stall limit.
    states = [{"status": "Running", "bytesReceived": n, "percentage": 1} for n in range(30)]
    states.append({"status": "Complete", "bytesReceived": 100, "percentage": 100})
    job = follow_job(FakeApi(states), "7", "x", True, io.StringIO(), stall=0.05, interval=0.01)  # type: ignore[arg-type]
    assert job["status"] == "Complete"


def test_what_the_server_relays_reaches_the_terminal_printable(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A job's message may quote another system (an FTP server's reply, a BMC's
    refusal) and a listing may hold names another system gave: printed with their
    control characters written out, never as escape sequences."""
    from osdepot.cli.client.commands import _table
    from osdepot.cli.client.imports import report_job

    job = {
        "id": "7",
        "status": "Stopped",
        "messages": [
            {
                "id": "FQXHMFC9028J",
                "text": "The transfer failed.",
                "explanation": "The server said: 500 \x1b]0;owned\x07\x1b[2J C:\\isos",
            }
        ],
    }
    assert report_job(job, "a.iso") == 1
    _table([["node-\x1b[31ma", "On"]], ["NAME", "POWER"])
    out, err = capsys.readouterr()
    assert "\x1b" not in out + err and "\x07" not in out + err
    assert "500 \\x1b]0;owned\\x07\\x1b[2J C:\\isos" in err
    assert out.splitlines() == ["NAME            POWER", "node-\\x1b[31ma  On"]
