"""`osdepot fsck`: damage on purpose, and see that it is found and what is repaired."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from unittest import mock

import pytest

from osdepot.cli.main import main
from osdepot.domain.images import ImageType
from osdepot.domain.jobs import JobStatus
from osdepot.services.context import Context
from osdepot.services.fsck import ServerLock
from tests.conftest import Api
from tests.samples import VALID


def blob_path(ctx: Context, file_id: str) -> Path:
    (f,) = [f for f in ctx.catalog.list_files() if f.id == file_id]
    return ctx.settings.data_dir / "blobs" / f.blob_key[:2] / f.blob_key


def fsck(ctx: Context, *extra: str) -> int:
    """`osdepot fsck` on the test's repository (its catalog: OSDEPOT_DATABASE_URL)."""
    env = {"OSDEPOT_DATABASE_URL": ctx.settings.database_url}
    with mock.patch.dict(os.environ, env):
        return main(["fsck", "--data-dir", str(ctx.settings.data_dir), *extra])


def run(ctx: Context, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str]:
    code = fsck(ctx, *extra)
    return code, capsys.readouterr().out


def test_a_sound_repository_is_clean(
    api: Api, ctx: Context, capsys: pytest.CaptureFixture[str]
) -> None:
    for itype in ("SCRIPT", "UNATTEND", "SOFTWARE"):
        name, query, content = VALID[itype]
        api.import_file(itype, name, content, **query)
    code, out = run(ctx, capsys)
    assert code == 0, out
    assert "checked 3 files" in out and "no damage" in out
    code, out = run(ctx, capsys, "--json")
    report = json.loads(out)
    assert code == 0 and report["clean"] and report["findings"] == []
    assert report["bytesChecked"] == sum(f.size for f in ctx.catalog.list_files())


@pytest.mark.local_store
def test_damage_is_found_and_only_safe_repairs_are_made(
    api: Api, ctx: Context, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = {}
    for itype in ("SCRIPT", "UNATTEND", "SOFTWARE", "CONFIG"):
        name, query, content = VALID[itype]
        ids[itype] = api.import_file(itype, name, content, **query)
    intact = blob_path(ctx, ids["CONFIG"]).read_bytes()
    # One flipped byte, same size: only the SHA-256 can tell.
    p = blob_path(ctx, ids["SCRIPT"])
    data = bytearray(p.read_bytes())
    data[3] ^= 0x01
    p.write_bytes(bytes(data))
    # A truncated blob, and a missing one.
    q = blob_path(ctx, ids["UNATTEND"])
    q.write_bytes(q.read_bytes()[:-5])
    blob_path(ctx, ids["SOFTWARE"]).unlink()
    # An orphan blob, a staging leftover, and a job left Running by a dead server.
    orphan = ctx.settings.data_dir / "blobs" / "ab" / ("ab" + "0" * 30)
    orphan.parent.mkdir(exist_ok=True)
    orphan.write_bytes(b"orphan bytes")
    leftover = ctx.settings.data_dir / "blobs" / ".staging" / "leftover.part"
    leftover.write_bytes(b"x" * 10)
    # a day old: the in-process server's node beats, and what is younger than the grace
    # may be a live node's work (test_what_a_live_node_commits_unnamed_…)
    for p in (orphan, leftover):
        os.utime(p, (time.time() - 86400,) * 2)
    job = ctx.catalog.create_job(ImageType.OS, "admin", ctx.clock(), None, "")
    assert ctx.catalog.claim_job(job.id, JobStatus.PENDING, 0, ctx.clock(), None, "a.iso")

    code, out = run(ctx, capsys)
    assert code == 1
    lines = out.splitlines()

    def line(kind: str, subject: str) -> str:
        return next(ln for ln in lines if f" {kind} " in f" {ln} " and subject in ln)

    assert line("checksum", ids["SCRIPT"]).startswith("DAMAGED")
    assert line("size", ids["UNATTEND"]).startswith("DAMAGED")
    assert line("missing", ids["SOFTWARE"]).startswith("DAMAGED")
    assert line("orphan", orphan.name).startswith("found")
    assert line("staging", "leftover.part").startswith("found")
    assert line("job", str(job.id)).startswith("found")
    assert ids["CONFIG"] not in out
    assert "6 problem(s)" in lines[-1]
    # --quick checks sizes only: the flipped byte goes unnoticed, the rest does not.
    code, out = run(ctx, capsys, "--quick")
    assert code == 1 and ids["SCRIPT"] not in out and ids["UNATTEND"] in out

    code, out = run(ctx, capsys, "--repair", "--json")
    report = json.loads(out)
    assert code == 1  # the damaged files remain damaged
    repaired = {f["kind"] for f in report["findings"] if f["repaired"]}
    assert repaired == {"orphan", "staging", "job"}
    assert {f["kind"] for f in report["findings"] if not f["repaired"]} == {
        "checksum",
        "size",
        "missing",
    }
    lost = ctx.settings.data_dir / "lost+found" / orphan.name
    assert lost.read_bytes() == b"orphan bytes" and not orphan.exists()
    assert list((ctx.settings.data_dir / "blobs" / ".staging").iterdir()) == []
    assert ctx.catalog.get_job(job.id).status is JobStatus.STOPPED  # type: ignore[union-attr]
    assert blob_path(ctx, ids["CONFIG"]).read_bytes() == intact  # nothing sound was touched

    # Deleting the damaged entries leaves a clean repository.
    for itype in ("SCRIPT", "UNATTEND", "SOFTWARE"):
        assert api.c.delete(f"/osImages/{ids[itype]}").status_code == 200
    code, out = run(ctx, capsys)
    assert code == 0, out


def test_what_a_live_node_commits_unnamed_is_not_taken_for_an_orphan(
    ctx: Context, capsys: pytest.CaptureFixture[str]
) -> None:
    """On a catalog and a store that nodes share, a node unpacking a profile archive
    has its files committed (and the next one staged) before the archive's row, and no
    job names them: `fsck --repair` run on a stopped node moved them to lost+found,
    and the archive was recorded without their bytes. While another node beats, blobs
    and staging areas younger than OSDEPOT_ORPHAN_GRACE are left alone."""
    st = ctx.blobs.create_staging()
    st.write(b"a file of node-b's profile archive, its row on the way")
    st.finish()
    key = ctx.blobs.commit(st)
    member = ctx.blobs.create_staging()  # the archive's next file, being staged
    member.write(b"the next file")
    ctx.catalog.heartbeat("node-b/42", "127.0.0.1:1", ctx.clock())
    code, out = run(ctx, capsys, "--repair", "--json")
    assert code == 0 and json.loads(out)["findings"] == [], out
    assert key in set(ctx.blobs.keys()) and member.name in dict(ctx.blobs.staging_leftovers())
    # node-b silent past the timeout: nothing is committing them, they are leftovers
    ctx.catalog.heartbeat("node-b/42", "127.0.0.1:1", ctx.clock() - 3600)
    code, out = run(ctx, capsys, "--repair", "--json")
    kinds = {(f["kind"], f["subject"]) for f in json.loads(out)["findings"]}
    assert ("orphan", key) in kinds and ("staging", member.name) in kinds, out
    assert key not in set(ctx.blobs.keys())


@pytest.mark.local_store
def test_repair_waits_for_a_running_server(
    api: Api, ctx: Context, capsys: pytest.CaptureFixture[str]
) -> None:
    name, query, content = VALID["SCRIPT"]
    api.import_file("SCRIPT", name, content, **query)
    (ctx.settings.data_dir / "blobs" / ".staging" / "live.part").write_bytes(b"x")
    with ServerLock(ctx.settings.data_dir, exclusive=True, holder="osdepot serve"):  # as serve
        code = fsck(ctx, "--repair")
        err = capsys.readouterr().err
        assert code == 2 and "stop it before" in err
        # Checking is safe meanwhile; a live upload's staging is not reported.
        code, out = run(ctx, capsys)
        assert code == 0 and "a server is running" in out and "live.part" not in out
    assert (ctx.settings.data_dir / "blobs" / ".staging" / "live.part").exists()


def test_no_repository_here(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    os.environ.pop("OSDEPOT_DATABASE_URL", None)
    assert main(["fsck", "--data-dir", str(tmp_path / "nothing")]) == 2
    assert "holds no osdepot repository" in capsys.readouterr().err
