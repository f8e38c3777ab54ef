"""The project's shared test data (../shared next to the checkout): the corpus of
real media headers and .treeinfo files, and the vendored osinfo-db build.

They are read in place, never copied into the repository. Where they are missing,
the tests that need them are skipped with the reason, except under
OSDEPOT_STRICT_TESTS=1 (set by .ci/run), where a missing input is a failure.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tarfile
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("OSDEPOT_SHARED_DIR") or ROOT.parent / "shared")
OSINFO_TARBALL = "osinfo-db-20260517.tar.xz"


def missing(what: str) -> None:
    """Skip (or, in strict mode, fail) a test whose input is absent."""
    if os.environ.get("OSDEPOT_STRICT_TESTS") == "1":
        pytest.fail(f"{what} is missing and OSDEPOT_STRICT_TESTS=1", pytrace=False)
    pytest.skip(f"{what} is missing")


def shared(*parts: str) -> Path:
    p = SHARED.joinpath(*parts)
    if not p.exists():
        missing(f"shared test data {p}")
    return p


def osinfo_db_dir() -> Path | None:
    """The vendored osinfo-db, unpacked once into the temporary folder."""
    tarball = SHARED / "vendor" / OSINFO_TARBALL
    if not tarball.is_file():
        return None
    target = Path(tempfile.gettempdir()) / f"osdepot-tests-{OSINFO_TARBALL[:-7]}"
    if (target / "os").is_dir():
        return target
    work = Path(tempfile.mkdtemp(prefix="osinfo-unpack-"))
    with tarfile.open(tarball) as tf:
        tf.extractall(work, filter="data")
    (inner,) = [p for p in work.iterdir() if p.is_dir()]
    with contextlib.suppress(OSError):  # another test process got there first
        inner.rename(target)
    shutil.rmtree(work, ignore_errors=True)
    return target
