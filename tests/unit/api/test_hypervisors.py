"""/os-hypervisors against the real database layer on SQLite."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from novalite.context import get_admin_context
from novalite.db import models
from tests.unit.api.conftest import MEMBER, call, make_service

INDEX_FIELDS = {"id", "hypervisor_hostname", "state", "status"}
RESOURCE_FIELDS = {"vcpus", "memory_mb", "local_gb", "vcpus_used", "memory_mb_used",
                   "local_gb_used", "free_ram_mb", "free_disk_gb", "current_workload",
                   "running_vms", "disk_available_least", "cpu_info"}
DETAIL_FIELDS_2_87 = INDEX_FIELDS | RESOURCE_FIELDS | {
    "hypervisor_type", "hypervisor_version", "host_ip", "service"}
CPU_INFO = {"arch": "x86_64", "model": "Haswell", "topology": {"sockets": 1}}


def _node(db: Any, host: str, **values: Any) -> Any:
    report = {"vcpus": 16, "memory_mb": 32768, "local_gb": 500, "hypervisor_type": "QEMU",
              "hypervisor_version": 8002000, "cpu_info": CPU_INFO, "host_ip": "192.0.2.10",
              "reserved_host_memory_mb": 512, "reserved_host_disk_mb": 2048}
    report.update(values)
    return db.compute_node_report(get_admin_context(), host, f"{host}.example.org", report)


def _allocate(db: Any, node: Any, vcpus: int, memory_mb: int, disk_gb: int) -> Any:
    instance = db.instance_create(get_admin_context(), {
        "host": node.host, "node": node.hypervisor_hostname, "name": f"vm-{vcpus}"})
    with db.transaction() as session:
        session.add(models.Allocation(consumer_uuid=instance.uuid, compute_node_id=node.id,
                                      vcpus=vcpus, memory_mb=memory_mb, disk_gb=disk_gb))
    return instance


@pytest.fixture
def nodes(database: Any) -> dict[str, Any]:
    """compute-1 (up, two instances), compute-2 (down, disabled, empty); both nodes."""
    svc1 = make_service(database, "compute-1")
    svc2 = make_service(database, "compute-2", up=False)
    database.service_update(get_admin_context(), svc2.id,
                            {"disabled": True, "disabled_reason": "broken fan"})
    node1 = _node(database, "compute-1")
    node2 = _node(database, "compute-2", disk_available_least=None)
    vm_a = _allocate(database, node1, 2, 2048, 20)
    vm_b = _allocate(database, node1, 4, 4096, 40)
    return {"node1": node1, "node2": node2, "svc1": svc1, "svc2": svc2,
            "vms": [vm_a, vm_b]}


def _detail(app, version="2.1", query=""):
    resp = call(app, f"/v2.1/os-hypervisors/detail{query}", version=version)
    assert resp.status_int == 200, resp.text
    return {h["hypervisor_hostname"]: h for h in resp.json["hypervisors"]}


def test_list_at_2_1(app, nodes) -> None:
    resp = call(app, "/v2.1/os-hypervisors")
    assert resp.status_int == 200
    assert resp.json == {"hypervisors": [
        {"id": nodes["node1"].id, "hypervisor_hostname": "compute-1.example.org",
         "state": "up", "status": "enabled"},
        {"id": nodes["node2"].id, "hypervisor_hostname": "compute-2.example.org",
         "state": "down", "status": "disabled"},
    ]}


def test_detail_at_2_1(app, nodes) -> None:
    found = _detail(app)
    one, two = found["compute-1.example.org"], found["compute-2.example.org"]
    assert set(one) == DETAIL_FIELDS_2_87
    assert (one["vcpus"], one["memory_mb"], one["local_gb"]) == (16, 32768, 500)
    # Allocations plus the host's reservations, as Nova's resource tracker counts them.
    assert one["vcpus_used"] == 6
    assert one["memory_mb_used"] == 6144 + 512
    assert one["local_gb_used"] == 60 + 2
    assert one["free_ram_mb"] == 32768 - 6656
    assert one["free_disk_gb"] == 500 - 62
    assert one["running_vms"] == 2 and one["current_workload"] == 0
    assert one["disk_available_least"] == 500 - 62
    assert json.loads(one["cpu_info"]) == CPU_INFO
    assert (one["hypervisor_type"], one["hypervisor_version"], one["host_ip"]) == \
        ("QEMU", 8002000, "192.0.2.10")
    assert one["service"] == {"id": nodes["svc1"].id, "host": "compute-1",
                              "disabled_reason": None}
    assert (two["running_vms"], two["vcpus_used"], two["memory_mb_used"]) == (0, 0, 512)
    assert two["service"]["disabled_reason"] == "broken fan"
    assert (two["state"], two["status"]) == ("down", "disabled")


def test_cpu_info_is_an_object_from_2_28(app, nodes) -> None:
    assert isinstance(_detail(app, "2.27")["compute-1.example.org"]["cpu_info"], str)
    assert _detail(app, "2.28")["compute-1.example.org"]["cpu_info"] == CPU_INFO


def test_uuids_from_2_53(app, nodes) -> None:
    one = _detail(app, "2.53")["compute-1.example.org"]
    assert one["id"] == nodes["node1"].uuid
    assert one["service"]["id"] == nodes["svc1"].uuid
    listed = call(app, "/v2.1/os-hypervisors", version="2.53").json["hypervisors"]
    assert [h["id"] for h in listed] == [nodes["node1"].uuid, nodes["node2"].uuid]


def test_resource_fields_are_gone_from_2_88(app, nodes) -> None:
    one = _detail(app, "2.88")["compute-1.example.org"]
    assert set(one) == DETAIL_FIELDS_2_87 - RESOURCE_FIELDS
    resp = call(app, f"/v2.1/os-hypervisors/{nodes['node1'].uuid}", version="2.88")
    shown = resp.json["hypervisor"]
    assert set(shown) == DETAIL_FIELDS_2_87 - RESOURCE_FIELDS | {"uptime"}
    assert shown["uptime"] is None


def test_show(app, nodes) -> None:
    resp = call(app, f"/v2.1/os-hypervisors/{nodes['node1'].id}")
    assert resp.status_int == 200
    shown = resp.json["hypervisor"]
    assert shown == _detail(app)["compute-1.example.org"]
    resp = call(app, f"/v2.1/os-hypervisors/{nodes['node1'].uuid}", version="2.53")
    assert resp.json["hypervisor"]["id"] == nodes["node1"].uuid


@pytest.mark.parametrize("version,ident,code", [
    ("2.1", "999", 404), ("2.1", "abc", 404),
    ("2.53", "999", 400), ("2.53", str(uuid.uuid4()), 404),
])
def test_show_unknown(app, nodes, version, ident, code) -> None:
    resp = call(app, f"/v2.1/os-hypervisors/{ident}", version=version)
    assert resp.status_int == code
    assert resp.json[{400: "badRequest", 404: "itemNotFound"}[code]]["code"] == code


def test_paging_from_2_33(app, nodes) -> None:
    resp = call(app, "/v2.1/os-hypervisors?limit=1", version="2.33")
    body = resp.json
    assert [h["id"] for h in body["hypervisors"]] == [nodes["node1"].id]
    (link,) = body["hypervisors_links"]
    assert link["rel"] == "next"
    assert link["href"].startswith("http://localhost/v2.1/os-hypervisors?")
    assert f"marker={nodes['node1'].id}" in link["href"] and "limit=1" in link["href"]
    resp = call(app, f"/v2.1/os-hypervisors/detail?limit=5&marker={nodes['node1'].id}",
                version="2.33")
    assert [h["id"] for h in resp.json["hypervisors"]] == [nodes["node2"].id]
    assert "hypervisors_links" not in resp.json
    resp = call(app, "/v2.1/os-hypervisors?marker=4242", version="2.33")
    assert resp.status_int == 400
    assert "marker" in resp.json["badRequest"]["message"]
    # Before 2.33 paging parameters are ignored.
    resp = call(app, "/v2.1/os-hypervisors?limit=1")
    assert len(resp.json["hypervisors"]) == 2 and "hypervisors_links" not in resp.json


def test_paging_by_uuid_from_2_53(app, nodes) -> None:
    resp = call(app, f"/v2.1/os-hypervisors?marker={nodes['node1'].uuid}", version="2.53")
    assert [h["id"] for h in resp.json["hypervisors"]] == [nodes["node2"].uuid]


def test_hostname_pattern_from_2_53(app, nodes) -> None:
    resp = call(app, "/v2.1/os-hypervisors?hypervisor_hostname_pattern=compute-2",
                version="2.53")
    assert [h["hypervisor_hostname"] for h in resp.json["hypervisors"]] == \
        ["compute-2.example.org"]
    resp = call(app, "/v2.1/os-hypervisors?hypervisor_hostname_pattern=nothing",
                version="2.53")
    assert resp.status_int == 404
    resp = call(app, "/v2.1/os-hypervisors?hypervisor_hostname_pattern=c&limit=1",
                version="2.53")
    assert resp.status_int == 400


def test_unknown_query_parameters_are_refused_from_2_53(app, nodes) -> None:
    assert call(app, "/v2.1/os-hypervisors?foo=1", version="2.52").status_int == 200
    resp = call(app, "/v2.1/os-hypervisors?foo=1", version="2.53")
    assert resp.status_int == 400
    assert "foo" in resp.json["badRequest"]["message"]
    resp = call(app, "/v2.1/os-hypervisors?limit=-1", version="2.53")
    assert resp.status_int == 400 and "limit" in resp.json["badRequest"]["message"]


def test_with_servers(app, nodes) -> None:
    resp = call(app, "/v2.1/os-hypervisors?with_servers=true", version="2.53")
    one, two = resp.json["hypervisors"]
    assert sorted(s["uuid"] for s in one["servers"]) == sorted(v.uuid for v in nodes["vms"])
    assert set(one["servers"][0]) == {"name", "uuid"}
    assert "servers" not in two
    resp = call(app, "/v2.1/os-hypervisors/detail?with_servers=1", version="2.75")
    assert resp.json["hypervisors"][1]["servers"] == []
    resp = call(app, f"/v2.1/os-hypervisors/{nodes['node1'].uuid}?with_servers=yes",
                version="2.53")
    assert len(resp.json["hypervisor"]["servers"]) == 2
    assert "servers" not in call(app, "/v2.1/os-hypervisors", version="2.53").json[
        "hypervisors"][0]


def test_statistics_until_2_87(app, nodes) -> None:
    stats = call(app, "/v2.1/os-hypervisors/statistics").json["hypervisor_statistics"]
    assert stats["count"] == 2
    assert stats["vcpus"] == 32 and stats["vcpus_used"] == 6
    assert stats["running_vms"] == 2
    assert stats["memory_mb_used"] == 6144 + 2 * 512
    assert call(app, "/v2.1/os-hypervisors/statistics", version="2.88").status_int == 404


def test_search_until_2_52(app, nodes) -> None:
    resp = call(app, "/v2.1/os-hypervisors/compute-1/search")
    assert [h["id"] for h in resp.json["hypervisors"]] == [nodes["node1"].id]
    assert call(app, "/v2.1/os-hypervisors/zzz/search").status_int == 404
    assert call(app, "/v2.1/os-hypervisors/compute-1/search",
                version="2.53").status_int == 404


def test_nodes_without_a_compute_service_are_left_out(app, nodes, database) -> None:
    _node(database, "orphan")
    names = [h["hypervisor_hostname"] for h in
             call(app, "/v2.1/os-hypervisors").json["hypervisors"]]
    assert "orphan.example.org" not in names


@pytest.mark.parametrize("path", ["/v2.1/os-hypervisors", "/v2.1/os-hypervisors/detail",
                                  "/v2.1/os-hypervisors/1",
                                  "/v2.1/os-hypervisors/statistics"])
def test_non_admin_is_403(app, nodes, path) -> None:
    resp = call(app, path, token=MEMBER)
    assert resp.status_int == 403
    assert resp.json["forbidden"]["code"] == 403


def test_aggregates_list_is_empty(app) -> None:
    assert call(app, "/v2.1/os-aggregates").json == {"aggregates": []}
    assert call(app, "/v2.1/os-aggregates", token=MEMBER).status_int == 403
