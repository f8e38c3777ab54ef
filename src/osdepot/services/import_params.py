"""The parameters of an import request: parsed and checked before any of the body is
read (job id, sizes, checksums, labels)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from osdepot.domain.images import ImageType
from osdepot.domain.text import has_control
from osdepot.errors import error
from osdepot.messages import Messages

CHECKSUM_ALGORITHMS = {"MD5": "md5", "SHA1": "sha1", "SHA256": "sha256", "SHA512": "sha512"}
#: the algorithms for people, strongest first (the web UI's choice)
ALGORITHM_LABELS = {"SHA256": "SHA-256", "SHA512": "SHA-512", "SHA1": "SHA-1", "MD5": "MD5"}


_HEX_LEN = {"md5": 32, "sha1": 40, "sha256": 64, "sha512": 128}


def parse_checksum_type(value: str | None) -> str | None:
    """hashlib name for a ``checksumType`` value (``SHA-256``, ``sha256`` …), or None."""
    if value is None or value.strip() == "":
        return None
    key = value.strip().upper().replace("-", "").replace("_", "")
    if key not in CHECKSUM_ALGORITHMS:
        raise error(
            Messages.INVALID_VALUE,
            name="checksumType",
            detail=f"{value!r} is not supported; use MD5, SHA1, SHA256 or SHA512.",
        )
    return CHECKSUM_ALGORITHMS[key]


def parse_size(value: Any, name: str = "fileSize") -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise error(Messages.INVALID_VALUE, name=name, detail=f"{name} must be a number of bytes.")
    try:
        size = int(str(value).strip())
    except ValueError:
        raise error(
            Messages.INVALID_VALUE,
            name=name,
            detail=f"{name} must be a number of bytes, not {value!r}.",
        ) from None
    if size < 0 or size > 1 << 53:
        raise error(Messages.INVALID_VALUE, name=name, detail=f"{name} is out of range.")
    return size


@dataclass(frozen=True)
class UploadParams:
    """The query parameters of ``POST /files/osImages``."""

    job_id: int
    image_type: ImageType | None
    image_name: str | None
    os: str | None
    osrelease: str | None
    description: str
    checksum_type: str | None = None
    checksum_value: str | None = None


def parse_job_id(value: str | None) -> int:
    if value is None or value.strip() == "":
        raise error(
            Messages.MISSING_PARAMETER,
            name="jobId",
            detail="The import job id (jobId) is required; create a job with POST /osImages first.",
        )
    try:
        job_id = int(value.strip())
    except ValueError:
        raise error(Messages.JOB_NOT_FOUND, job_id=value) from None
    if job_id <= 0 or job_id > 2**62:
        raise error(Messages.JOB_NOT_FOUND, job_id=value)
    return job_id


def check_label(text: str | None, name: str, limit: int) -> str | None:
    """A free-text parameter (``description``, ``imageName`` …): at most ``limit``
    characters and no control characters but tabs (400 otherwise)."""
    if text is not None and len(text) > limit:
        raise error(
            Messages.INVALID_VALUE, name=name, detail=f"{name} is longer than {limit} characters."
        )
    if text is not None and has_control(text, allowed="\t"):
        raise error(
            Messages.INVALID_VALUE, name=name, detail=f"{name} contains control characters."
        )
    return text


def check_checksum_pair(ctype: str | None, cvalue: str | None, *, final: bool) -> str | None:
    """Validate a checksumType/checksumValue pair; returns the hashlib name or None."""
    algo = parse_checksum_type(ctype)
    value = (cvalue or "").strip()
    if final and algo and not value:
        raise error(
            Messages.MISSING_PARAMETER,
            name="checksumValue",
            detail="checksumType was given without checksumValue.",
        )
    if final and value and not algo:
        raise error(
            Messages.MISSING_PARAMETER,
            name="checksumType",
            detail="checksumValue was given without checksumType.",
        )
    if (
        algo
        and value
        and (len(value) != _HEX_LEN[algo] or any(c not in "0123456789abcdefABCDEF" for c in value))
    ):
        raise error(
            Messages.INVALID_VALUE,
            name="checksumValue",
            detail=f"A {algo.upper()} checksum is {_HEX_LEN[algo]} hexadecimal digits.",
        )
    return algo
