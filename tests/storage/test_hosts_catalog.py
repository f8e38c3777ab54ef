"""The catalog's BMCs, hosts and settings documents, on every catalog backend."""

from __future__ import annotations

import pytest

from osdepot.domain.records import Bmc, Host
from osdepot.errors import Duplicate
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
    cat.put_setting("globalSettings", {"ipAssignment": "dhcpv4", "n": [1, 2]}, 1.0)
    cat.put_setting("globalSettings", {"ipAssignment": "staticv4"}, 2.0)
    assert cat.get_setting("globalSettings") == {"ipAssignment": "staticv4"}
    assert cat.get_setting("other") is None
