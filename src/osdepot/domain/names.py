"""Names that come from users: file names, image names, file ids.

User-supplied names are only ever *labels*; blobs are stored under keys the server
generates. These functions still make the labels safe to show and to use in the
comma-separated id lists of the API.
"""

from __future__ import annotations

import re
import time
import unicodedata

from osdepot.errors import error
from osdepot.messages import Messages

MAX_NAME = 200
_UNSAFE = re.compile(r"[\x00-\x1f\x7f,|/\\]")
_IMAGE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$")


def clean_filename(raw: str) -> str:
    """The base name of an uploaded file, fit to be shown and put into a file id.

    Drops any directory part (``/`` or ``\\``), normalises Unicode (NFC), and refuses
    names that are empty, only dots, contain control characters, or are too long.
    """
    name = raw.replace("\\", "/").rsplit("/", 1)[-1]
    name = unicodedata.normalize("NFC", name).strip()
    if not name or set(name) <= {"."}:
        raise error(Messages.MALFORMED_BODY, detail="The uploaded file has no usable file name.")
    if any(unicodedata.category(c) in ("Cc", "Cf", "Cs", "Co", "Cn") for c in name):
        raise error(
            Messages.MALFORMED_BODY,
            detail="The file name contains control or unassigned characters.",
        )
    if len(name) > MAX_NAME:
        raise error(
            Messages.MALFORMED_BODY,
            detail=f"The file name is longer than {MAX_NAME} characters.",
        )
    return name


def make_file_id(filename: str, now: float | None = None, attempt: int = 0) -> str:
    """File id in the LXCA style: a UTC timestamp prefix and the file name.

    ``attempt`` > 0 adds a counter, for a name imported twice in the same second.
    """
    stamp = time.strftime("%Y%m%d%H%M%S", time.gmtime(time.time() if now is None else now))
    safe = _UNSAFE.sub("_", filename)
    if attempt:
        stamp = f"{stamp}{attempt:02d}"
    return f"{stamp}_{safe}"


def check_image_id(name: str) -> str:
    """An OS image id: letters, digits, ``. _ + -``; up to 128 characters."""
    if not _IMAGE_ID.match(name):
        raise error(
            Messages.INVALID_VALUE,
            name="imageName",
            detail="An image name starts with a letter or digit and holds only letters, "
            "digits and . _ + - (at most 128 characters).",
        )
    return name
