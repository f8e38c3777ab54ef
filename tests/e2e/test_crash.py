"""Crash safety: `osdepot serve` killed with SIGKILL at random moments of uploads and
commits, restarted, and the repository checked after every run.

OSDEPOT_CRASH_RUNS sets the number of runs (30 by default, as in CI; the long mode
is simply a larger number, e.g. 1000). OSDEPOT_CRASH_SEED replays a sequence.

After every run the sizes of all files are checked and the file answered in that run
is verified by SHA-256; every VERIFY_EVERY runs, and at the end, every stored byte is
(a full SHA-256 check after every run made the cost grow with the square of the runs:
1,000 runs did not finish in 50 minutes). Progress is printed every 10 runs.
"""

from __future__ import annotations

import hashlib
import io
import os
import random
import signal
import tarfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from osdepot.compose import open_context
from osdepot.config import Settings
from osdepot.domain.jobs import JobStatus
from osdepot.messages import Messages
from osdepot.services.fsck import fsck
from tests.e2e.conftest import Server, start_server, stop_server

RUNS = int(os.environ.get("OSDEPOT_CRASH_RUNS", "30"))
SEED = int(os.environ.get("OSDEPOT_CRASH_SEED", str(random.randrange(1 << 30))))
DAMAGE = {"missing", "size", "checksum", "unreadable"}
VERIFY_EVERY = 50


def tar_gz(size: int, rng: random.Random) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", compresslevel=1) as tar:
        data = rng.randbytes(size)
        info = tarfile.TarInfo("payload/data.bin")
        info.size = size
        tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@dataclass
class Outcome:
    started: threading.Event
    job: str = ""
    status: int | None = None
    body: dict[str, object] | None = None
    error: str = ""


def upload(server: Server, content: bytes, name: str, out: Outcome) -> None:
    try:
        s = server.session()
        r = s.post(
            server.url + "/osImages?imageType=SOFTWARE",
            json={"Action": "Init", "fileSize": len(content)},
            timeout=30,
        )
        out.job = str(r.json()["jobId"])
        out.started.set()
        r = s.post(
            server.url + f"/files/osImages?jobId={out.job}&os=rhel",
            files={"uploadedfile": (name, content)},
            data={"checksumType": "SHA256", "checksumValue": hashlib.sha256(content).hexdigest()},
            timeout=60,
        )
        out.status, out.body = r.status_code, r.json()
    except (requests.RequestException, ValueError, KeyError) as exc:
        out.error = type(exc).__name__


def check(
    data_dir: Path, *, running: bool, hashes: bool = True, verify: tuple[str, ...] = ()
) -> dict[str, object]:
    """The repository's state, read directly; asserts that nothing is damaged (sizes of
    every file, and SHA-256 of every file with ``hashes``, else of those in ``verify``)."""
    ctx = open_context(Settings(data_dir=data_dir))
    try:
        report = fsck(ctx, server_running=running, hashes=hashes)
        damaged = [f.as_json() for f in report.findings if f.kind in DAMAGE]
        assert damaged == [], damaged
        stored = {f.id: f for f in ctx.catalog.list_files()}
        for fid in verify:
            digest = hashlib.sha256()
            with ctx.blobs.open(stored[fid].blob_key) as blob:
                while chunk := blob.read(1 << 20):
                    digest.update(chunk)
            assert digest.hexdigest() == stored[fid].sha256, fid
        files = {f.id: (f.size, f.sha256) for f in stored.values()}
        jobs = {str(j.id): j for j in ctx.catalog.list_jobs()}
        on_disk = set(ctx.blobs.keys())
        referenced = ctx.catalog.blob_keys()
        staging = ctx.blobs.staging_leftovers()
        return {
            "report": report,
            "files": files,
            "jobs": jobs,
            "orphans": on_disk - referenced,
            "staging": staging,
        }
    finally:
        ctx.close()


@pytest.mark.e2e
@pytest.mark.slow
def test_sigkill_during_uploads_and_commits_loses_nothing(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    print(f"crash runs: {RUNS}, seed {SEED}")
    contents = [tar_gz(n, rng) for n in (50_000, 1_500_000, 6_000_000, 16_000_000)]
    data_dir = tmp_path / "data"
    # No osinfo-db: loading it takes a core for ~0.6 s after every start, which would
    # shift the kills away from the uploads (the files here are not media anyway).
    (tmp_path / "no-osinfo").mkdir()
    env = {"OSDEPOT_OSINFO_PATH": str(tmp_path / "no-osinfo")}
    server = start_server(data_dir, env)
    completed: dict[str, tuple[int, str]] = {}  # file id -> (size, sha256) answered 201
    interrupted = stopped_with_message = committed_unanswered = before_file = 0
    full_checks = 0
    began = time.monotonic()
    try:
        for run in range(RUNS):
            if run and run % 10 == 0:
                print(
                    f"  run {run}/{RUNS}: {len(completed)} answered 201, "
                    f"{stopped_with_message} stopped, {time.monotonic() - began:.0f} s",
                    flush=True,
                )
            content = rng.choice(contents)
            out = Outcome(threading.Event())
            t = threading.Thread(target=upload, args=(server, content, f"r{run}.tar.gz", out))
            t.start()
            # Kill somewhere between the first byte and a little after the commit
            # (transfer, hashing, fsync, content check, rename, catalog transaction).
            assert out.started.wait(30), "the import job was not created"
            time.sleep(rng.uniform(0.005, 0.04 + len(content) / 120e6))
            server.proc.send_signal(signal.SIGKILL)
            server.proc.wait(timeout=10)
            t.join(timeout=60)
            assert not t.is_alive()
            answered: tuple[str, ...] = ()
            if out.status == 201:
                assert out.body is not None
                answered = (str(out.body["fileid"]),)
                completed[answered[0]] = (len(content), hashlib.sha256(content).hexdigest())
            # Dead server: the store may hold a staging file, an orphan blob (killed
            # between rename and catalog commit) and a Running job, but no damage.
            full = (run + 1) % VERIFY_EVERY == 0
            full_checks += full
            check(data_dir, running=False, hashes=full, verify=() if full else answered)
            server = start_server(data_dir, env)
            state = check(data_dir, running=True, hashes=False)  # after start-up recovery
            assert state["staging"] == [], state["staging"]
            assert state["orphans"] == set(), state["orphans"]
            files = state["files"]
            assert isinstance(files, dict)
            for fid, want in completed.items():
                assert files.get(fid) == want, (fid, files.get(fid), want)
            jobs = state["jobs"]
            assert isinstance(jobs, dict)
            assert not [j for j in jobs.values() if j.status is JobStatus.RUNNING]
            if out.job:
                job = jobs[out.job]
                if out.status != 201:
                    interrupted += 1
                if job.status is JobStatus.COMPLETE:
                    assert job.file_id in files
                    if out.status != 201:
                        committed_unanswered += 1  # killed after commit, before the answer
                elif job.status is JobStatus.PENDING:
                    # Killed before the server reached the file part: the job never took
                    # a file and can still take one (or expires).
                    assert job.uploads == 0
                    before_file += 1
                else:
                    assert job.status is JobStatus.STOPPED, job
                    assert job.message and job.message["id"] == Messages.SERVER_INTERRUPTED.id
                    stopped_with_message += 1
        final = check(data_dir, running=True)
        report = final["report"]
        print(
            f"{RUNS} SIGKILL runs in {time.monotonic() - began:.0f} s "
            f"({full_checks + 1} full SHA-256 checks of the store): "
            f"{len(completed)} imports answered 201 and intact, "
            f"{interrupted} interrupted: {stopped_with_message} while receiving or "
            f"committing (job Stopped with {Messages.SERVER_INTERRUPTED.id}), "
            f"{committed_unanswered} after the commit (Complete, intact), {before_file} "
            f"before the file part (job still Pending); "
            f"{report.files} files verified by SHA-256"  # type: ignore[attr-defined]
        )
        assert RUNS < 10 or stopped_with_message > 0, "no kill landed in an upload"
    finally:
        stop_server(server)
