from __future__ import annotations

import json

from osdepot.domain.images import ImageType
from osdepot.domain.jobs import JobStatus
from osdepot.services.context import Context
from osdepot.services.recovery import recover
from tests.conftest import Api, stored_blobs
from tests.media import medium_bytes


def test_tasks_are_a_bare_array(api: Api) -> None:
    a, b = api.init("OS"), api.init("SCRIPT")
    r = api.c.get("/tasks")
    assert r.status_code == 200 and isinstance(r.json(), list)
    assert [t["jobUID"] for t in r.json()] == [a, b]
    r = api.c.get(f"/tasks/{a},{b}?compact=true")
    assert [t["id"] for t in r.json()] == [a, b] and "children" not in r.json()[0]
    t = api.task(a)
    for key in (
        "jobUID",
        "id",
        "uuid",
        "status",
        "percentage",
        "complete",
        "messages",
        "createdBy",
        "startTime",
        "endTime",
        "isCancelable",
        "children",
    ):
        assert key in t
    assert api.c.get("/tasks/424242").status_code == 404
    assert api.c.get("/tasks/x").status_code == 404


def test_cancel_and_delete(api: Api, make_api) -> None:  # type: ignore[no-untyped-def]
    job = api.init("SCRIPT")
    other = make_api("lxc-os-admin")
    assert other.c.put("/tasks", json={"action": "cancel", "list": [job]}).status_code == 403
    r = api.c.request("DELETE", f"/tasks/{job}", content=b"{}")
    assert r.status_code == 409 and r.json()["messages"][0]["id"] == "FQXHMJM9002J"
    r = api.c.put("/tasks", json={"action": "cancel", "list": [job]})
    assert r.status_code == 200
    t = api.task(job)
    assert (t["status"], t["complete"], t["cancelledBy"]) == ("Cancelled", True, "admin")
    assert api.upload(job, "a.sh", b"x", os="rhel").status_code == 409
    assert api.c.put("/tasks", json={"action": "delete", "list": [job]}).status_code == 400
    assert api.c.put("/tasks", json={"action": "cancel", "list": []}).status_code == 412
    r = api.c.request("DELETE", f"/tasks/{job}", content=b"{}")
    assert r.status_code == 200 and r.json()["result"] == "success"
    assert api.c.get(f"/tasks/{job}").status_code == 404


def test_ruby_client_cancel(api: Api) -> None:
    job = api.init("OS")
    assert api.c.put(f"/jobs/{job}", json={"cancelRequest": "true"}).status_code == 200
    assert api.task(job)["status"] == "Cancelled"
    assert api.c.put(f"/tasks/{job}", json={"jobUID": job, "percentage": 50}).status_code == 400


def test_profiles_filter_and_delete(api: Api, ctx: Context) -> None:
    api.import_file("OS", "a.iso", medium_bytes("sles"), imageName="SLES", os="sles")
    api.import_file("OS", "b.iso", medium_bytes("esxi"), imageName="esxi", os="vmware")
    keep = api.import_file("SCRIPT", "x.sh", b"echo", os="sles")
    r = api.c.get("/osImages?imageType=OSPROFILE")
    assert {i["id"] for i in r.json()["items"]} == {"sles15sp5", "esxi8.0u2"}
    pid = "sles15sp5|sles15sp5-x86_64-install-Minimal"
    r = api.c.get("/osImages?imageType=OSPROFILE&id=" + pid.replace("|", "%7C"))
    (item,) = r.json()["items"]
    assert [p["id"] for p in item["profiles"]] == [pid]
    # Unknown id: 404, nothing deleted.
    r = api.c.request("DELETE", f"/osImages/esxi8.0u2,{keep},ghost", content=b"{}")
    assert r.status_code == 404 and len(api.listing()["items"]) == 2
    # An image together with its own profile: 400, nothing deleted.
    r = api.c.request("DELETE", "/osImages/sles15sp5," + pid.replace("|", "%7C"))
    assert r.status_code == 400 and len(api.listing()["items"]) == 2
    r = api.c.request("DELETE", "/osImages/" + pid.replace("|", "%7C"), content=b"{}")
    assert r.status_code == 200 and r.json() == {"result": "success", "messages": []}
    (sles,) = [i for i in api.listing()["items"] if i["id"] == "sles15sp5"]
    assert pid not in [p["id"] for p in sles["profiles"]] and len(sles["profiles"]) == 2
    r = api.c.request("DELETE", f"/osImages/esxi8.0u2,sles15sp5,{keep}", content=b"{}")
    assert r.status_code == 200
    listing = api.listing()
    assert listing["items"] == [] and listing["installScriptFiles"] == []
    assert stored_blobs(ctx.settings) == []
    assert api.c.request("DELETE", "/osImages/", content=b"{}").status_code == 412


def test_export_and_customisation_answer_clearly(api: Api) -> None:
    api.import_file("OS", "a.iso", medium_bytes("rhel"), os="rhel")
    r = api.c.get("/osImages/rhels9.4%7Crhels9.4-x86_64-install-Basic")
    assert r.status_code == 400 and "predefined" in r.json()["messages"][0]["explanation"]
    assert api.c.get("/osImages/nothing").status_code == 404
    assert (
        api.c.post(
            "/osImages/rhels9.4%7Crhels9.4-x86_64-install-Basic", json={"profile": {}}
        ).status_code
        == 400
    )


def test_recovery_after_a_crash(ctx: Context) -> None:
    cat, blobs = ctx.catalog, ctx.blobs
    job = cat.create_job(ImageType.OS, "admin", 1.0, 100, "")
    assert cat.claim_job(job.id, JobStatus.PENDING, 0, 1.0, 100, "a.iso")
    st = blobs.create_staging(100)
    st.write(b"partial")
    orphan = blobs.create_staging()
    orphan.write(b"renamed but never recorded")
    orphan.finish()
    blobs.commit(orphan)
    report = recover(ctx)
    assert (report.staging_removed, report.jobs_failed, report.orphan_blobs_removed) == (1, 1, 1)
    got = cat.get_job(job.id)
    assert got is not None and got.status is JobStatus.STOPPED
    assert got.message is not None and got.message["id"] == "FQXHMFC9015M"
    assert list(blobs.keys()) == [] and recover(ctx).jobs_failed == 0
    assert json.dumps(got.message)
