"""The request headers of resumable uploads (web/resumable.py), read and checked:
integers and structured-field booleans, tus ``Upload-Metadata`` and
``Upload-Checksum``, ``Content-Disposition``'s file name, RFC 9530 ``Repr-Digest``.
Each malformed one is refused with a message naming it."""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from urllib.parse import unquote

from starlette.requests import Request

from osdepot.errors import error
from osdepot.messages import Messages
from osdepot.services.upload_request import CHUNK_ALGORITHMS

#: Upload-Metadata: at most this many bytes (the whole head is bounded anyway)
MAX_METADATA = 8192


def single_header(request: Request, name: str) -> str | None:
    """The value of a header that has one (None when absent); refused when the request
    carries it more than once: which one counts would be a guess, and a proxy in front
    may have guessed otherwise (two ``Upload-Offset``, two ``Upload-Length``)."""
    values = request.headers.getlist(name)
    if len(values) > 1:
        raise error(
            Messages.INVALID_VALUE,
            name=name,
            detail=f"The request carries {name} {len(values)} times; it may carry it once.",
        )
    return values[0] if values else None


def int_header(request: Request, name: str, required: bool = False) -> int | None:
    raw = single_header(request, name)
    if raw is None:
        if required:  # 400, as tus and the draft answer a malformed request
            raise error(
                Messages.INVALID_VALUE,
                name=name,
                detail=f"The request must carry the {name} header.",
            )
        return None
    value = raw.strip()
    if not (value.isascii() and value.isdigit()) or len(value) > 19:
        raise error(
            Messages.INVALID_VALUE,
            name=name,
            detail=f"{name} must be a non-negative integer, not {raw[:40]!r}.",
        )
    return int(value)


def bool_header(request: Request, name: str) -> bool | None:
    """A structured-field Boolean (``?1``/``?0``); None when absent."""
    raw = single_header(request, name)
    if raw is None:
        return None
    value = raw.strip()
    if value not in ("?0", "?1"):
        raise error(
            Messages.INVALID_VALUE, name=name, detail=f"{name} must be ?1 or ?0, not {raw[:20]!r}."
        )
    return value == "?1"


_KEY = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")


def parse_metadata(raw: str | None) -> dict[str, str]:
    """tus ``Upload-Metadata``: ``key base64,key base64,key`` (values UTF-8)."""
    if not raw:
        return {}
    if len(raw) > MAX_METADATA:
        raise error(
            Messages.INVALID_VALUE,
            name="Upload-Metadata",
            detail=f"Upload-Metadata is longer than {MAX_METADATA} bytes.",
        )
    out: dict[str, str] = {}
    for pair in raw.split(","):
        key, _, value = pair.strip().partition(" ")
        if not _KEY.match(key) or key in out:
            raise error(
                Messages.INVALID_VALUE,
                name="Upload-Metadata",
                detail=f"{key[:40]!r} is not a metadata key (or is given twice).",
            )
        try:
            out[key] = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise error(
                Messages.INVALID_VALUE,
                name="Upload-Metadata",
                detail=f"The value of {key!r} is not valid base64 of UTF-8 text.",
            ) from None
    return out


def disposition_filename(raw: str | None) -> str | None:
    """The file name of a ``Content-Disposition`` header (IETF draft creation)."""
    if not raw:
        return None
    m = re.search(r"filename\*\s*=\s*UTF-8''([^;]+)", raw, re.IGNORECASE)
    if m:
        try:
            return unquote(m.group(1).strip(), errors="strict")
        except UnicodeDecodeError:
            raise error(
                Messages.INVALID_VALUE,
                name="Content-Disposition",
                detail="Its filename* is not percent-encoded UTF-8.",
            ) from None
    m = re.search(r'filename\s*=\s*"((?:[^"\\]|\\.)*)"|filename\s*=\s*([^;\s]+)', raw, re.I)
    if m:
        name = (m.group(1) or m.group(2) or "").replace('\\"', '"')
        # header values arrive decoded as ISO-8859-1; a name sent as raw UTF-8 bytes (as
        # curl and browsers send it, and as a multipart part header is read) is UTF-8
        try:
            return name.encode("latin-1").decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError):
            return name
    return None


def chunk_checksum(request: Request) -> tuple[str, bytes] | None:
    """tus ``Upload-Checksum: ALGORITHM BASE64``."""
    raw = single_header(request, "Upload-Checksum")
    if raw is None:
        return None
    algo, _, value = raw.strip().partition(" ")
    algo = algo.lower()
    if algo not in CHUNK_ALGORITHMS:
        raise error(
            Messages.INVALID_VALUE,
            name="Upload-Checksum",
            detail=f"{algo[:20]!r} is not a supported algorithm ({', '.join(CHUNK_ALGORITHMS)}).",
        )
    try:
        digest = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        digest = b""
    size = hashlib.new(algo).digest_size
    if len(digest) != size:  # malformed, not a mismatch: refused before a byte is read
        raise error(
            Messages.INVALID_VALUE,
            name="Upload-Checksum",
            detail=f"A {algo} checksum is {size} bytes in base64 ({(size + 2) // 3 * 4} "
            f"characters) after the algorithm's name, not {value.strip()[:60]!r}.",
        )
    return algo, digest


#: RFC 9530's algorithm names, as checksumType values
DIGESTS = {"sha-256": "sha256", "sha-512": "sha512", "md5": "md5", "sha": "sha1"}


def repr_digest(request: Request) -> tuple[str, str] | None:
    """RFC 9530 ``Repr-Digest: sha-256=:BASE64:`` (the whole file's checksum, on the
    request that completes the upload) as a checksumType and hex value."""
    raw = request.headers.get("repr-digest")
    if raw is None:
        return None
    for member in raw.split(","):
        name, _, value = member.strip().partition("=")
        algo = DIGESTS.get(name.strip().lower())
        value = value.strip()
        if algo is None or not (value.startswith(":") and value.endswith(":")):
            continue
        try:
            digest = base64.b64decode(value[1:-1], validate=True)
        except (binascii.Error, ValueError):
            break
        if len(digest) != hashlib.new(algo).digest_size:
            break  # refused here, before the body: a malformed digest does not end the upload
        return algo, digest.hex()
    raise error(
        Messages.INVALID_VALUE,
        name="Repr-Digest",
        detail="Repr-Digest must name sha-256, sha-512, md5 or sha with the base64 of a "
        "digest of that algorithm's length between colons.",
    )
