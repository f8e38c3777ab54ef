"""Logging: one line per request and per job transition, as text or as JSON.

``OSDEPOT_LOG_FORMAT=json`` writes one JSON object per line with ``ts``, ``level``,
``logger``, ``msg`` and the record's structured fields (``event``, ``method``,
``path``, ``status``, ``ms``, ``user``, ``job``, ``messageId`` …), for log shippers.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

from osdepot.domain.text import escape_controls
from osdepot.errors import DownloadCut

#: Attributes every LogRecord has; anything else was passed as ``extra=``.
_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                out[key] = value
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """One readable line per event. Control characters in the message (a path, a name
    or a remote server's reply that came from outside) are escaped, so that no value
    can forge a line of its own; only a traceback, written by osdepot, spans lines."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:
        return escape_controls(super().formatMessage(record))


def _expected_events(record: logging.LogRecord) -> bool:
    """uvicorn logs every exception an application raises as an error with its
    traceback; a download cut because its client went quiet is an expected event
    (errors.DownloadCut): one line of information instead."""
    exc = record.exc_info[1] if record.exc_info else None
    if isinstance(exc, DownloadCut):
        record.levelno, record.levelname = logging.INFO, "INFO"
        record.msg, record.args, record.exc_info = f"download cut: {exc}", (), None
    return True


def configure(level: str = "info", fmt: str = "text") -> None:
    """Send every logger (uvicorn's included) to standard error in one format."""
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        lg = logging.getLogger(name)
        lg.handlers[:] = []
        lg.propagate = True
    logging.getLogger("uvicorn.error").addFilter(_expected_events)
    # uvicorn's own access log is replaced by osdepot.request (user, duration, status).
    logging.getLogger("uvicorn.access").disabled = True
    logging.getLogger("alembic").setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("asyncssh").setLevel(logging.WARNING)
