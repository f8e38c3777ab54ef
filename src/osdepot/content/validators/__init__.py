"""Content checks for every kind of file the repository keeps.

Each check reads the file through a :class:`~osdepot.content.source.Source` and
raises :class:`~osdepot.errors.ContentError` with what it found when the content is
not what the declared type promises: archives and packages in ``archives``, text in
``text``; :func:`sniff` says what a refused file looks like instead.
"""

from __future__ import annotations

from osdepot.content.validators.archives import (
    check_dud_iso,
    check_rpm,
    check_tar_gz,
    check_zip,
    list_zip,
    open_disc,
)
from osdepot.content.validators.findings import Findings, sniff
from osdepot.content.validators.text import (
    TEXT_ENCODINGS,
    check_asc,
    check_json,
    check_kickstart,
    check_script,
    check_xml,
)

__all__ = [
    "TEXT_ENCODINGS",
    "Findings",
    "check_asc",
    "check_dud_iso",
    "check_json",
    "check_kickstart",
    "check_rpm",
    "check_script",
    "check_tar_gz",
    "check_xml",
    "check_zip",
    "list_zip",
    "open_disc",
    "sniff",
]
