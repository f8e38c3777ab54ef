"""The one exception hierarchy of osdepot.

Every failure a user can see is an :class:`OsdepotError` carrying a message of the
catalogue (osdepot/messages.py): a stable message id (real LXCA ids where they are
known, our own ``…9nnn…`` range otherwise), the HTTP status, the text, an
explanation and a recovery hint. The web layer renders it into the LXCA ``{"result","messages"}``
envelope in exactly one place; a failed job stores the same message id.

The other exceptions are raised inside one layer and turned into an
:class:`OsdepotError` by the service that called it (a content check's finding into
``FQXHMFC9021J``, a remote failure into the message of its kind, …)::

    Exception
    └── OsdepotException          raised by osdepot on purpose
        ├── OsdepotError          what a user sees: a catalogue message; its HTTP
        │                         status comes from the message
        ├── ContentError          a file's content is not what it should be (content/)
        │   └── Truncated         a structure points past the end of the file
        ├── TooCostly             content checks used up their CPU budget (content/)
        ├── RemoteFailure         a remote transfer failed, classified (remote/)
        ├── NotAllowed            a remote server is on a network imports may not reach
        ├── ServerRunning         a server holds the data folder (fsck --repair)
        ├── ConfigError           a setting or URL that cannot be used
        ├── DownloadCut           a download's client stopped taking the bytes (web/)
        ├── StoreUnavailable      the blob store cannot be reached (storage/)
        └── Refused               the catalog refused a write because of what it
            │                     holds (facts only; the calling service words it)
            ├── Duplicate         a name or id that is taken
            ├── Missing           ids that name nothing
            ├── InUse             an object an open job still uses
            ├── HeldBy            files that customised profiles hold
            └── NotRunning        a job that stopped running under a commit
"""

from __future__ import annotations

from enum import Enum
from typing import Any

from osdepot.messages import Message


class OsdepotException(Exception):
    """The root of every exception osdepot raises on purpose."""


class OsdepotError(OsdepotException):
    """An error that a user sees: a catalogue message plus its parameters."""

    def __init__(self, message: Message, **params: Any) -> None:
        self.message = message
        self.params = params
        #: seconds the answer is held back (failed logins slow down guessing)
        self.delay = 0.0
        #: extra response headers (``Retry-After``, ``Connection: close``)
        self.headers: dict[str, str] = {}
        super().__init__(f"{message.id}: {message.render(params)['text']}")

    @property
    def status(self) -> int:
        return self.message.status

    @property
    def message_id(self) -> str:
        return self.message.id

    def render(self) -> dict[str, Any]:
        """The error as one LXCA envelope message."""
        return self.message.render(self.params)


class ContentError(OsdepotException):
    """The content is not what it should be. ``found`` says what was found instead."""

    def __init__(self, detail: str, *, found: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.found = found


class Truncated(ContentError):
    """A structure points past the end of the file."""


class TooCostly(OsdepotException):
    """The checks of a file used up their CPU-time budget."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"content checks took more than {seconds:g} s of CPU time")
        self.seconds = seconds


class Failure(Enum):
    """The kinds of remote failure; each becomes its own message."""

    UNREACHABLE = "unreachable"  # DNS, refused, connect timeout, TLS verification
    AUTH = "auth"  # wrong credentials
    HOST_KEY = "host-key"  # SSH host key mismatch
    PATH = "path"  # no such file, a directory
    TRANSFER = "transfer"  # the server answered but the transfer cannot go on
    INTERRUPTED = "interrupted"  # the connection broke mid-transfer: resumable


class RemoteFailure(OsdepotException):
    """A remote transfer failed; ``kind`` classifies it."""

    def __init__(self, kind: Failure, detail: str, **extra: str) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail
        self.extra = extra

    @property
    def retryable(self) -> bool:
        return self.kind is Failure.INTERRUPTED


class BmcFailure(OsdepotException):
    """A BMC could not be read or refused an action; ``kind`` classifies it:
    "unreachable" (DNS, refused, timeout, TLS verification), "auth" (credentials
    refused), "redfish" (it answered, but not as a Redfish service osdepot can use)."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail


class NotAllowed(OsdepotException):
    """A remote server's address is not one imports may reach."""


class ServerRunning(OsdepotException):
    """A server holds the data folder; repairs must wait until it stops."""


class ConfigError(OsdepotException):
    """A setting or a URL that osdepot cannot use; the text says which and why."""


class DownloadCut(OsdepotException):
    """A download was cut: its client stopped taking the bytes (or no memory was freed
    for its next piece) within the stall timeout. Logged as information, not as an
    error: a client that goes quiet is an expected event."""


class StoreUnavailable(OSError):
    """The blob store cannot be reached (an object store that is down or unreachable).
    An OSError, so that what handles a failed write or read handles it too; the web
    layer answers it 503 with a message."""


class Refused(OsdepotException):
    """The catalog refused a write because of what it holds. It carries the facts,
    never message text: the service that asked turns it into the client's message."""


class Duplicate(Refused):
    """A ``kind`` ("user", "server", "file", "image") named ``key`` exists already."""

    def __init__(self, kind: str, key: str) -> None:
        super().__init__(f"{kind} {key} exists")
        self.kind, self.key = kind, key


class Missing(Refused):
    """``keys`` name no object of the catalog; nothing was changed."""

    def __init__(self, keys: list[str]) -> None:
        super().__init__(f"unknown: {', '.join(keys)}")
        self.keys = keys


class Full(Refused):
    """The catalog holds ``most`` objects of the kind that was to be added already;
    nothing was changed."""

    def __init__(self, most: int) -> None:
        super().__init__(f"{most} held already")
        self.most = most


class InUse(Refused):
    """Open job ``job_id`` uses the object; nothing was changed."""

    def __init__(self, job_id: int) -> None:
        super().__init__(f"in use by job {job_id}")
        self.job_id = job_id


class HeldBy(Refused):
    """Files that customised profiles hold: ``holders`` maps each file id to the ids
    of the profiles holding it; nothing was changed."""

    def __init__(self, holders: dict[str, list[str]]) -> None:
        super().__init__(f"held by profiles: {holders}")
        self.holders = holders


class NotRunning(Refused):
    """Job ``job_id`` stopped running (cancelled, by ``cancelled_by`` if known)
    before the commit that needed it Running; nothing was committed."""

    def __init__(self, job_id: int, cancelled_by: str | None) -> None:
        super().__init__(f"job {job_id} is no longer running")
        self.job_id, self.cancelled_by = job_id, cancelled_by


def error(message: Message, **params: Any) -> OsdepotError:
    """Build the error for a catalogue message."""
    return OsdepotError(message, **params)
