"""The catalog's BMCs, hosts and settings documents, and deployments against the
deletion of what they install, on every catalog backend."""

from __future__ import annotations

import contextlib
import threading

import pytest

from osdepot.domain.images import ImageType
from osdepot.domain.jobs import JobStatus
from osdepot.domain.records import Bmc, Host, OsImage, Profile, StoredFile
from osdepot.errors import Duplicate, InUse, Missing
from osdepot.services.context import Context

A, B, C = "A" * 32, "B" * 32, "C" * 32


def host(uuid: str, name: str, now: float = 1.0, power: str = "Off") -> Host:
    return Host(
        uuid=uuid,
        bmc_id=0,
        system_path=f"/redfish/v1/Systems/{name}",
        name=name,
        macs=("00:11:22:33:44:55",),
        power_state=power,
        virtual_cd=True,
        refreshed_at=now,
    )


def bmc(url: str) -> Bmc:
    return Bmc(id=0, url=url, username="u", password_enc="sealed", created_by="admin",
               created_at=1.0, refreshed_at=1.0)  # fmt: skip


def test_bmcs_hosts_and_their_settings(ctx: Context) -> None:
    cat = ctx.catalog
    one = cat.add_bmc(bmc("https://bmc1"), [host(A, "a"), host(B, "b")])
    assert one.id > 0 and one.verify_tls and one.password_enc == "sealed"
    hosts = {h.uuid: h for h in cat.list_hosts()}
    assert set(hosts) == {A, B} and hosts[A].bmc_id == one.id
    assert hosts[A].macs == ("00:11:22:33:44:55",) and hosts[A].virtual_cd is True
    assert hosts[A].network is None and hosts[A].deploy_status == 0

    with pytest.raises(Duplicate) as dup:
        cat.add_bmc(bmc("https://bmc1"), [])
    assert dup.value.kind == "BMC"
    with pytest.raises(Duplicate) as dup:  # a system another BMC manages
        cat.add_bmc(bmc("https://bmc2"), [host(B, "b-again")])
    assert dup.value.kind == "host" and dup.value.key == B
    assert [b.url for b in cat.list_bmcs()] == ["https://bmc1"]  # nothing of it stayed

    assert cat.set_host_settings(A, {"hostname": "a1", "vlanId": 5}, {"targetDevice": "usbdisk"})
    assert not cat.set_host_settings(C, {}, {})
    # a refresh: B gone, C new, A described anew with its settings kept
    assert cat.refresh_bmc(one.id, [host(A, "a-renamed", 2.0, "On"), host(C, "c", 2.0)], 2.0, "")
    hosts = {h.uuid: h for h in cat.list_hosts()}
    assert set(hosts) == {A, C}
    assert hosts[A].name == "a-renamed" and hosts[A].power_state == "On"
    assert hosts[A].network == {"hostname": "a1", "vlanId": 5}
    assert hosts[A].storage == {"targetDevice": "usbdisk"}
    # a failed read keeps what is known and records why
    assert cat.refresh_bmc(one.id, None, 3.0, "unreachable")
    found = cat.get_bmc(one.id)
    assert found is not None and found.last_error == "unreachable" and found.refreshed_at == 3.0
    assert {h.uuid for h in cat.list_hosts()} == {A, C}
    assert cat.set_host_settings(A, None, None)
    cleared = cat.get_host(A)
    assert cleared is not None and cleared.network is None and cleared.storage is None

    assert cat.delete_bmc(one.id) and cat.list_hosts() == [] and cat.get_bmc(one.id) is None
    assert not cat.delete_bmc(one.id) and not cat.refresh_bmc(one.id, [], 4.0, "")


def test_settings_documents(ctx: Context) -> None:
    cat = ctx.catalog
    assert cat.get_setting("globalSettings") is None
    first: dict[str, object] = {"ipAssignment": "dhcpv4", "n": [1, 2]}
    assert cat.change_setting("globalSettings", lambda old: first, 1.0) == first
    seen: list[object] = []

    def replace_it(old: dict[str, object] | None) -> dict[str, object]:
        seen.append(old)
        return {"ipAssignment": "staticv4"}

    cat.change_setting("globalSettings", replace_it, 2.0)
    assert seen == [first]
    assert cat.get_setting("globalSettings") == {"ipAssignment": "staticv4"}

    def refuse(old: object) -> dict[str, object]:
        raise ValueError("refused")

    with pytest.raises(ValueError, match="refused"):
        cat.change_setting("globalSettings", refuse, 3.0)
    assert cat.get_setting("globalSettings") == {"ipAssignment": "staticv4"}  # unchanged
    assert cat.get_setting("other") is None


def _image_with_profile(ctx: Context, n: int) -> tuple[str, str]:
    """An OS image r{n} (file f{n}) with one profile; its id and the profile's."""
    cat = ctx.catalog
    job = cat.create_job(ImageType.OS, "admin", 1.0, None, "")
    assert cat.claim_job(job.id, JobStatus.PENDING, 0, 1.0, None, f"r{n}.iso")
    prof = Profile(id=f"r{n}|r{n}-x86_64-install-Basic", image_id=f"r{n}", name="B", profile="B")
    img = OsImage(id=f"r{n}", name=f"r{n}", file_id=f"f{n}", created_at=1.0, profiles=(prof,))
    stored = StoredFile(id=f"f{n}", image_type=ImageType.OS, name=f"r{n}.iso", size=3,
                        sha256="0" * 64, blob_key=f"{n:032d}", imported_by="admin",
                        imported_at=1.0, job_id=job.id)  # fmt: skip
    cat.commit_import(job.id, stored, img, 2.0, {})
    return img.id, prof.id


def _deployment(ctx: Context, profile: str) -> int:
    job = ctx.catalog.create_job(ImageType.OSPROFILE, "admin", 1.0, None, "Deployment")
    assert ctx.catalog.claim_job(job.id, JobStatus.PENDING, 0, 1.0, None, profile)
    return job.id


def test_a_deployment_and_the_deletion_of_its_profile_exclude_each_other(ctx: Context) -> None:
    """Deleting a profile (its image, its medium) while a deployment from it begins:
    whichever commits first wins, the other is refused — never both."""
    cat = ctx.catalog
    cat.add_bmc(bmc("https://bmc1"), [host(A, "a")])
    image, profile = _image_with_profile(ctx, 1)
    job = _deployment(ctx, profile)
    assert not cat.begin_deploys([(A, job, profile, "f" * 64)], 2.0, [4])
    for going in ([profile], [image], ["f1"]):
        with pytest.raises(InUse) as exc:
            cat.delete_objects(going)
        assert exc.value.job_id == job
    assert cat.get_image(image) is not None and cat.find_profiles([profile])
    # the deployment over, the profile goes; a deployment that begins after it is told
    cat.finish_job(job, JobStatus.COMPLETE, 3.0, {})
    assert cat.delete_objects([image]) == [f"{1:032d}"]
    later = _deployment(ctx, profile)
    with pytest.raises(Missing):
        cat.begin_deploys([(A, later, profile, "f" * 64)], 4.0, [4])
    assert cat.get_host(A) is not None and cat.get_host(A).deploy_job == job  # type: ignore[union-attr]


def test_a_deployment_racing_the_deletion_of_its_profile(ctx: Context) -> None:
    """The two at once, in threads, a few rounds: one of the two outcomes each time."""
    cat = ctx.catalog
    cat.add_bmc(bmc("https://bmc1"), [host(A, "a")])
    for n in range(2, 10):
        image, profile = _image_with_profile(ctx, n)
        job = _deployment(ctx, profile)
        barrier = threading.Barrier(2)
        result: dict[str, object] = {}

        def deploy(job: int = job, profile: str = profile, barrier: threading.Barrier = barrier,
                   result: dict[str, object] = result) -> None:  # fmt: skip
            barrier.wait()
            try:
                result["deploy"] = not cat.begin_deploys([(A, job, profile, "f" * 64)], 2.0, [4])
            except Missing:
                result["deploy"] = "missing"

        def remove(image: str = image, barrier: threading.Barrier = barrier,
                   result: dict[str, object] = result) -> None:  # fmt: skip
            barrier.wait()
            try:
                result["delete"] = bool(cat.delete_objects([image]))
            except InUse:
                result["delete"] = "in use"

        threads = [threading.Thread(target=deploy), threading.Thread(target=remove)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        outcome = (result["deploy"], result["delete"])
        assert outcome in {(True, "in use"), ("missing", True)}, outcome
        cat.finish_job(job, JobStatus.COMPLETE, 3.0, {})
        cat.deploy_state(A, job, 0, "", 3.0)  # the host free for the next round


def test_a_system_being_deployed_is_kept_when_its_bmc_stops_listing_it(ctx: Context) -> None:
    """A BMC read that no longer lists a system removes it — not while a deployment to
    it runs (its state, its token and its job would go with the row): then it stays
    until a read after the deployment ends."""
    cat = ctx.catalog
    one = cat.add_bmc(bmc("https://bmc1"), [host(A, "a"), host(B, "b")])
    _image, profile = _image_with_profile(ctx, 1)
    job = _deployment(ctx, profile)
    assert not cat.begin_deploys([(A, job, profile, "f" * 64)], 2.0, [4])
    assert cat.refresh_bmc(one.id, [host(B, "b")], 3.0, "")
    assert cat.get_host(A) is not None and cat.get_host(A).deploy_job == job  # type: ignore[union-attr]
    assert cat.refresh_bmc(one.id, [], 4.0, "")  # B goes, A still deploying
    assert cat.get_host(B) is None and cat.get_host(A) is not None
    cat.finish_job(job, JobStatus.COMPLETE, 5.0, {})
    assert cat.refresh_bmc(one.id, [], 6.0, "")
    assert cat.get_host(A) is None


@pytest.mark.parametrize("stored", [False, True])
def test_changes_of_a_setting_at_once_both_count(ctx: Context, stored: bool) -> None:
    """Two changes of the global settings at once, each adding to what is stored (as a
    PUT keeps the credentials it does not name): before, each read the document and
    then wrote it, and the later write lost the other's change. Also for the first
    write of the name (no row yet: one insert loses and reads again)."""
    cat = ctx.catalog
    if stored:
        cat.change_setting("globalSettings", lambda old: {"n": []}, 1.0)
    barrier = threading.Barrier(2)

    def add(n: int) -> None:
        def change(old: dict[str, object] | None) -> dict[str, object]:
            with contextlib.suppress(threading.BrokenBarrierError):
                barrier.wait(0.5)  # both read before either writes, if they can
            return {"n": sorted([*((old or {}).get("n") or []), n])}  # type: ignore[misc]

        cat.change_setting("globalSettings", change, 2.0)

    threads = [threading.Thread(target=add, args=(n,)) for n in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert cat.get_setting("globalSettings") == {"n": [1, 2]}


def test_several_hosts_settings_are_stored_together_or_not_at_all(ctx: Context) -> None:
    cat = ctx.catalog
    cat.add_bmc(bmc("https://bmc1"), [host(A, "a"), host(B, "b")])
    cat.set_hosts_settings([(A, {"hostname": "a1"}, {"targetDevice": "localdisk"}),
                            (B, {"hostname": "b1"}, {"targetDevice": "usbdisk"})])  # fmt: skip
    with pytest.raises(Missing) as gone:
        cat.set_hosts_settings([(A, {"hostname": "a2"}, {}), (C, {}, {})])
    assert gone.value.keys == [C]
    a, b = cat.get_host(A), cat.get_host(B)
    assert a is not None and a.network == {"hostname": "a1"}  # A as it was
    assert b is not None and b.storage == {"targetDevice": "usbdisk"}


def test_deployments_to_several_hosts_begin_together_or_not_at_all(ctx: Context) -> None:
    cat = ctx.catalog
    cat.add_bmc(bmc("https://bmc1"), [host(A, "a"), host(B, "b")])
    _image, profile = _image_with_profile(ctx, 1)
    first, second, third = (_deployment(ctx, profile) for _ in range(3))
    assert not cat.begin_deploys([(B, first, profile, "f" * 64)], 2.0, [4])  # B is deploying
    starts = [(A, second, profile, "e" * 64), (B, third, profile, "d" * 64)]
    assert cat.begin_deploys(starts, 3.0, [4]) == {B: "busy"}
    a, b = cat.get_host(A), cat.get_host(B)
    assert a is not None and a.deploy_status == 0  # A not begun either
    assert b is not None and b.deploy_job == first
    gone = [(A, second, profile, "e" * 64), (C, third, profile, "d" * 64)]
    assert cat.begin_deploys(gone, 3.0, [4]) == {C: "gone"}
    with pytest.raises(Missing) as missing:
        cat.begin_deploys([(A, second, "r9|nothing", "e" * 64)], 3.0, [4])
    assert missing.value.keys == ["r9|nothing"]
    a = cat.get_host(A)
    assert a is not None and a.deploy_status == 0
    assert cat.begin_deploys(starts[:1], 3.0, [4]) == {}
    a = cat.get_host(A)
    assert a is not None and a.deploy_status == 4 and a.deploy_job == second


@pytest.mark.parametrize("backend", ["postgresql"])
def test_a_bmc_is_not_deleted_under_a_deployment_beginning_at_once(ctx: Context) -> None:
    """On PostgreSQL the deletion's check for running deployments read the hosts before
    a deployment beginning on one committed, and then deleted the host under it."""
    from sqlalchemy import text

    cat = ctx.catalog
    one = cat.add_bmc(bmc("https://bmc1"), [host(A, "a")])
    _image, profile = _image_with_profile(ctx, 1)
    job = _deployment(ctx, profile)
    outcome: list[object] = []

    def delete() -> None:
        try:
            outcome.append(cat.delete_bmc(one.id))
        except InUse as exc:
            outcome.append(exc.job_id)

    with cat.engine.connect() as other:  # type: ignore[attr-defined]
        other.execute(  # a deployment beginning on A, not committed yet
            text("UPDATE hosts SET deploy_status = 4, deploy_job = :j WHERE uuid = :u"),
            {"j": job, "u": A},
        )
        deletion = threading.Thread(target=delete)
        deletion.start()
        deletion.join(1.0)
        assert deletion.is_alive()  # waits for it
        other.commit()
    deletion.join(20)
    assert outcome == [job]  # before: True, the host deleted under the deployment
    assert cat.get_host(A) is not None


@pytest.mark.parametrize("backend", ["postgresql"])
@pytest.mark.parametrize("through", ["add", "refresh"])
def test_a_system_two_bmcs_report_at_once_is_told_as_taken(ctx: Context, through: str) -> None:
    """On PostgreSQL a BMC's add or refresh read the registered systems before another
    BMC's insert of the same system committed; its own insert then failed on the
    host's key: told as "BMC exists" (add) or not caught at all (refresh, a 500)."""
    from sqlalchemy import insert

    from osdepot.storage.schema import hosts as hosts_table

    cat = ctx.catalog
    one = cat.add_bmc(bmc("https://bmc1"), [host(A, "a")])
    two = cat.add_bmc(bmc("https://bmc2"), [])
    outcome: list[object] = []

    def report_c() -> None:
        try:
            if through == "add":
                outcome.append(cat.add_bmc(bmc("https://bmc3"), [host(C, "c")]))
            else:
                outcome.append(cat.refresh_bmc(one.id, [host(A, "a"), host(C, "c")], 2.0, ""))
        except Duplicate as dup:
            outcome.append((dup.kind, dup.key))

    with cat.engine.connect() as other:  # type: ignore[attr-defined]
        other.execute(  # the second BMC's refresh adding C, not committed yet
            insert(hosts_table).values(
                uuid=C,
                bmc_id=two.id,
                system_path="/redfish/v1/Systems/c",
                name="c",
                macs="[]",
                virtual_cd=True,
                refreshed_at=2.0,
            )
        )
        reporter = threading.Thread(target=report_c)
        reporter.start()
        reporter.join(1.0)
        other.commit()
    reporter.join(20)
    assert outcome == [("host", C)]  # before: ("BMC", "https://bmc3") or IntegrityError
    assert {h.uuid: h.bmc_id for h in cat.list_hosts()} == {A: one.id, C: two.id}
    assert [b.url for b in cat.list_bmcs()] == ["https://bmc1", "https://bmc2"]


@pytest.mark.parametrize("backend", ["postgresql"])
def test_deployments_to_the_same_hosts_in_other_orders_do_not_deadlock(ctx: Context) -> None:
    """On PostgreSQL two requests deploying to hosts A and B, one listing B first and
    the other A first (seen on the two-node cluster under load): each marked its first
    host and waited for the other's — a deadlock, one request answered 503 and its
    jobs Stopped. Hosts are now marked in one order: the second waits, then finds them
    busy."""
    from sqlalchemy import text

    cat = ctx.catalog
    cat.add_bmc(bmc("https://bmc1"), [host(A, "a"), host(B, "b")])
    _image, profile = _image_with_profile(ctx, 1)
    first, second, third, fourth = (_deployment(ctx, profile) for _ in range(4))
    outcome: list[object] = []
    mark = text("UPDATE hosts SET deploy_status = 4, deploy_job = :j WHERE uuid = :u")
    with cat.engine.connect() as other:  # type: ignore[attr-defined]
        other.execute(mark, {"j": first, "u": A})  # the other request: A first, not committed
        starts = [(B, third, profile, "d" * 64), (A, fourth, profile, "c" * 64)]
        beginner = threading.Thread(
            target=lambda: outcome.append(cat.begin_deploys(starts, 3.0, [4]))
        )
        beginner.start()
        beginner.join(1.0)
        other.execute(mark, {"j": second, "u": B})  # ... then B (a deadlock here, before)
        other.commit()
    beginner.join(20)
    assert outcome == [{A: "busy", B: "busy"}]
    a, b = cat.get_host(A), cat.get_host(B)
    assert a is not None and a.deploy_job == first and b is not None and b.deploy_job == second


@pytest.mark.parametrize("backend", ["postgresql"])
def test_host_settings_of_the_same_hosts_in_other_orders_do_not_deadlock(ctx: Context) -> None:
    """The same for two host-settings requests naming A and B in other orders."""
    from sqlalchemy import text

    cat = ctx.catalog
    cat.add_bmc(bmc("https://bmc1"), [host(A, "a"), host(B, "b")])
    outcome: list[object] = []
    change = text("UPDATE hosts SET network = :n WHERE uuid = :u")
    items: list[tuple[str, dict[str, object], dict[str, object]]] = [
        (B, {"hostname": "b2"}, {}),
        (A, {"hostname": "a2"}, {}),
    ]
    done = "stored"

    def store() -> None:
        cat.set_hosts_settings(items)
        outcome.append(done)

    with cat.engine.connect() as other:  # type: ignore[attr-defined]
        other.execute(change, {"n": '{"hostname": "a1"}', "u": A})  # A first, not committed
        setter = threading.Thread(target=store)
        setter.start()
        setter.join(1.0)
        other.execute(change, {"n": '{"hostname": "b1"}', "u": B})  # (a deadlock, before)
        other.commit()
    setter.join(20)
    assert outcome == [done]  # the second request's settings, stored after the first's
    a, b = cat.get_host(A), cat.get_host(B)
    assert a is not None and a.network == {"hostname": "a2"}
    assert b is not None and b.network == {"hostname": "b2"}
