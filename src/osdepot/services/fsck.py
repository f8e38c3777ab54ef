"""``osdepot fsck``: check the whole repository, and repair what is safe to repair.

Checks every file of the catalog against its blob (present, size, SHA-256), blobs no
catalog row references (orphans), staging leftovers, and jobs left Running by a server
that is gone. Repairs, with ``repair=True``: orphan blobs are moved to
``<data>/lost+found/`` (their bytes are kept), staging leftovers are removed, jobs left
Running are stopped with a message. A missing or damaged blob is never "repaired": its
bytes are gone; fsck names the file so it can be restored or deleted.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from osdepot.domain.jobs import JobStatus
from osdepot.errors import ServerRunning
from osdepot.messages import Messages
from osdepot.services.context import Context
from osdepot.services.orphans import old_enough, staged_key


@dataclass
class Finding:
    """One thing `osdepot fsck` found: its kind, what it concerns, and whether it was
    repaired."""

    kind: str  # missing, size, checksum, unreadable, orphan, staging, job
    subject: str  # a file id, a blob key, a staging file name or a job id
    detail: str
    repaired: bool = False

    def as_json(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "subject": self.subject,
            "detail": self.detail,
            "repaired": self.repaired,
        }


@dataclass
class Report:
    """What `osdepot fsck` checked and found."""

    files: int = 0
    bytes_checked: int = 0
    blobs: int = 0
    seconds: float = 0.0
    findings: list[Finding] = field(default_factory=list)

    @property
    def damaged(self) -> list[Finding]:
        return [f for f in self.findings if not f.repaired]

    def as_json(self) -> dict[str, object]:
        return {
            "files": self.files,
            "bytesChecked": self.bytes_checked,
            "blobs": self.blobs,
            "seconds": round(self.seconds, 3),
            "clean": not self.damaged,
            "findings": [f.as_json() for f in self.findings],
        }


class ServerLock:
    """The data folder's lock: held exclusively by ``osdepot serve`` for its lifetime
    (one server per data folder: a second one's start-up recovery would stop the first
    one's imports and remove what it is committing) and by ``osdepot fsck`` (which
    therefore never repairs under a running server). ``holder`` is written into the
    lock file; raises ServerRunning, with the holder's words, when another holds it."""

    def __init__(self, data_dir: Path, exclusive: bool, holder: str = "") -> None:
        run = data_dir / "run"
        run.mkdir(parents=True, exist_ok=True)
        self._fd: int | None = os.open(run / "server.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self._fd, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
        except BlockingIOError:
            held_by = os.pread(self._fd, 200, 0).decode("utf-8", "replace").strip()
            self.release()
            raise ServerRunning(held_by or str(data_dir)) from None
        if holder:
            os.ftruncate(self._fd, 0)
            os.pwrite(self._fd, f"{holder} (pid {os.getpid()})\n".encode(), 0)

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the file releases the lock
            self._fd = None

    def __enter__(self) -> ServerLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def fsck(  # noqa: C901 (one pass per kind of finding; to be split with the import pipeline (issue 16))
    ctx: Context,
    *,
    repair: bool = False,
    hashes: bool = True,
    server_running: bool = False,
    progress: Callable[[str], None] | None = None,
) -> Report:
    """With ``server_running``, only the catalog's files are checked against their blobs:
    staging files, Running jobs and a blob between its rename and its catalog row are
    then a live server's work, not damage."""
    assert not (repair and server_running)
    start = time.monotonic()
    report = Report()
    cat, blobs = ctx.catalog, ctx.blobs
    files = cat.list_files()
    report.files = len(files)
    for f in files:
        try:
            size = blobs.size(f.blob_key)
        except FileNotFoundError:
            report.findings.append(
                Finding("missing", f.id, f"the blob {f.blob_key} of {f.name} is missing")
            )
            continue
        except OSError as exc:
            report.findings.append(Finding("unreadable", f.id, f"{f.blob_key}: {exc}"))
            continue
        if size != f.size:
            report.findings.append(
                Finding("size", f.id, f"{f.name} is {size} bytes; the catalog says {f.size}")
            )
            continue
        if hashes:
            h = hashlib.sha256()
            try:
                with blobs.open(f.blob_key) as fh:
                    while chunk := fh.read(4 << 20):
                        h.update(chunk)
            except OSError as exc:
                report.findings.append(Finding("unreadable", f.id, f"{f.blob_key}: {exc}"))
                continue
            report.bytes_checked += size
            if h.hexdigest() != f.sha256:
                report.findings.append(
                    Finding(
                        "checksum",
                        f.id,
                        f"{f.name}: SHA-256 is {h.hexdigest()}; the catalog says {f.sha256}",
                    )
                )
                continue
        if progress is not None:
            progress(f.id)

    keys = list(blobs.keys())
    report.blobs = len(keys)
    if server_running:
        report.seconds = time.monotonic() - start
        return report
    # What the Running jobs of live nodes are writing (on a catalog shared with other
    # nodes: an object store's upload, or a blob finished and not yet committed) is
    # their work, not damage. Read before the blobs the catalog names: a job that ends
    # in between is named there.
    now = ctx.clock()
    live = {n[0] for n in cat.list_nodes() if n[3] >= now - ctx.settings.node_timeout}
    running = [j for j in cat.list_jobs() if j.status is JobStatus.RUNNING]
    resumable = {up.job_id for up in cat.list_uploads()}
    owned = {j.staging for j in running if j.node in live and j.staging}
    # a resumable upload's staging area is its job's whichever node ran its last request
    owned |= {j.staging for j in running if j.id in resumable and j.staging}
    owned_keys = {staged_key(name) for name in owned}
    # and what a live node is committing that no job names (a profile archive's files
    # before its row): young blobs and staging areas are not taken for orphans while
    # another node is alive (services/orphans.py)
    grace = ctx.settings.orphan_grace if live else 0.0
    referenced = cat.blob_keys()
    for key in keys:
        if key in referenced or key in owned_keys:
            continue
        if grace and not old_enough(blobs.committed_at(key), now, grace):
            continue
        size = blobs.size(key)
        finding = Finding("orphan", key, f"blob {key} ({size} bytes) is in no catalog row")
        if repair:
            where = blobs.quarantine(key)
            finding.repaired = True
            finding.detail += f"; moved to {where}"
        report.findings.append(finding)

    for name, size in blobs.staging_leftovers():
        if name in owned:
            continue
        if grace and not old_enough(blobs.staging_touched_at(name), now, grace):
            continue
        finding = Finding("staging", name, f"staging leftover of {size} bytes (no job owns it)")
        if repair:
            blobs.remove_staging(name)
            finding.repaired = True
            finding.detail += "; removed"
        report.findings.append(finding)

    stale = [
        Finding("job", str(job.id), f"job {job.id} is Running but no server runs it")
        for job in running
        if job.node not in live and job.id not in resumable
    ]
    if repair:
        for finding in stale:
            cat.finish_job(
                int(finding.subject),
                JobStatus.STOPPED,
                ctx.clock(),
                Messages.SERVER_INTERRUPTED.render({}),
            )
            finding.repaired = True
            finding.detail += "; stopped"
    report.findings += stale
    report.seconds = time.monotonic() - start
    return report
