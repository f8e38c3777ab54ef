"""Text from outside: the control characters a name or a label may not hold, how a log
shows them, and the numbers and JSON written in it."""

from __future__ import annotations

import json
import re
from typing import Any

#: C0 controls, DEL, C1 controls (NEL among them) and the Unicode line and paragraph
#: separators: everything that can end a line, move the cursor or hide text.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
#: A UTF-16 surrogate code point (half of a pair; no character on its own).
_SURROGATE = re.compile("[\ud800-\udfff]")


def has_control(text: str, allowed: str = "") -> bool:
    """Whether ``text`` holds a control character other than those in ``allowed``."""
    return any(c not in allowed for c in _CONTROL.findall(text))


def escape_controls(text: str) -> str:
    """``text`` with every control character written as ``\\xNN`` or ``\\uNNNN`` (and
    backslashes doubled), so that a value from a request can never start a line of its
    own in a log or reach a terminal as a control sequence."""
    if "\\" not in text and not _CONTROL.search(text):
        return text
    return printable(text.replace("\\", "\\\\"))


def printable(text: str) -> str:
    """``text`` with every control character written as ``\\xNN`` or ``\\uNNNN``, for a
    reader rather than a parser (backslashes are left as they are: a Windows path
    stays legible)."""
    return _CONTROL.sub(_escaped, text) if _CONTROL.search(text) else text


def _escaped(m: re.Match[str]) -> str:
    code = ord(m.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def shown(text: str, limit: int) -> str:
    """Text another system sent (a BMC's names and messages), as osdepot keeps and
    shows it: half a UTF-16 surrogate pair, which is no character and which no
    catalog can store, as U+FFFD; control characters as ``\\xNN`` (printable); at most
    ``limit`` characters."""
    if _SURROGATE.search(text):
        text = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return printable(text)[:limit]


def decimal(text: str, digits: int = 18) -> int | None:
    """The number ``text`` writes in ASCII digits (at most ``digits`` of them), or None.

    ``str.isdigit()`` also takes "²" and digits of other scripts, which ``int()``
    refuses, and ``int()`` refuses more than 4,300 digits (Python's guard against
    quadratic conversions): a check of ``isdigit()`` alone let both raise where a
    number from a request, a medium or a remote server was read."""
    if not (0 < len(text) <= digits and text.isascii() and text.isdigit()):
        return None
    return int(text)


class NestedTooDeeply(ValueError):
    """JSON whose arrays and objects nest deeper than the parser follows."""


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


#: A ``\\uD800``–``\\uDFFF`` escape (half of a UTF-16 pair, or one on its own).
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def strict_json(text: str | bytes) -> Any:
    """``json.loads`` without Python's extensions ``NaN``, ``Infinity`` and
    ``-Infinity``, which RFC 8259 does not have: every other parser refuses them
    (PostgreSQL's JSON columns among them), and a NaN passes every comparison (a link's
    ``expiresIn`` of NaN was stored and made a 500). Nor strings holding a UTF-16
    surrogate that is not half of a pair (``"\\ud800"``, or the bytes ED A0 80, which
    ``json.loads`` lets through): such a string is no Unicode text (I-JSON, RFC 7493,
    refuses it), cannot be encoded as UTF-8 and made a 500 wherever it was stored or
    written. Raises ValueError as json.loads, also for values nested too deeply (a
    RecursionError, which a caller catching ValueError let through as a 500)."""
    if isinstance(text, bytes):
        # as json.loads decodes bytes (UTF-8, -16 or -32; surrogates let through)
        text = text.decode(json.detect_encoding(text), "surrogatepass")
    if _SURROGATE.search(text):
        raise ValueError("text with an unpaired UTF-16 surrogate is not a JSON value")
    try:
        value = json.loads(text, parse_constant=_no_constant)
    except RecursionError:  # a ValueError like every other refusal, for every caller
        raise NestedTooDeeply(
            "values nested more deeply than a JSON parser can follow are not a JSON value"
        ) from None
    if _SURROGATE_ESCAPE.search(text) and _holds_surrogate(value):
        raise ValueError(
            "a string with an unpaired UTF-16 surrogate (\\ud800–\\udfff) is not a JSON value"
        )
    return value


def _holds_surrogate(value: Any) -> bool:
    """Whether a string of ``value`` (a key or a value, at any depth) holds a surrogate
    (without recursion: the depth is the client's)."""
    todo = [value]
    while todo:
        item = todo.pop()
        if isinstance(item, str):
            if _SURROGATE.search(item):
                return True
        elif isinstance(item, dict):
            todo.extend(item)
            todo.extend(item.values())
        elif isinstance(item, list):
            todo.extend(item)
    return False
