"""What every part of the command-line client shares: its error, exit codes, and the
job states that end a wait."""

from __future__ import annotations

from osdepot.errors import OsdepotException

TERMINAL = ("Complete", "Stopped", "Cancelled")
CHUNK = 1024 * 1024

# Exit codes: 0 done, 1 refused or failed (the server said why), 2 a usage or local
# problem (not logged in, no such file, cannot connect).
OK, FAILED, USAGE = 0, 1, 2


class CliError(OsdepotException):
    """A client command failed; ``code`` is its exit status."""

    def __init__(self, text: str, code: int = USAGE) -> None:
        super().__init__(text)
        self.code = code
