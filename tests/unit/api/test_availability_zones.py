"""/os-availability-zone and its admin detail view."""

from __future__ import annotations

from typing import Any

from novalite.conf import CONF
from novalite.context import get_admin_context
from tests.unit.api.conftest import MEMBER, call, make_service


def _zones(resp: Any) -> list[tuple[str, bool]]:
    assert resp.status_int == 200, resp.text
    return [(z["zoneName"], z["zoneState"]["available"]) for z in
            resp.json["availabilityZoneInfo"]]


def test_list_shows_compute_zones_only(app, services) -> None:
    resp = call(app, "/v2.1/os-availability-zone", token=MEMBER)
    assert _zones(resp) == [("nova", True)]
    assert resp.json["availabilityZoneInfo"][0]["hosts"] is None
    assert set(resp.json["availabilityZoneInfo"][0]) == {"zoneName", "zoneState", "hosts"}


def test_no_compute_services_means_no_zones(app, database) -> None:
    make_service(database, "ctl", "novalite-conductor")
    assert _zones(call(app, "/v2.1/os-availability-zone")) == []


def test_zone_with_only_down_or_disabled_hosts_is_not_available(app, database,
                                                                 services) -> None:
    ctx = get_admin_context()
    database.service_update(ctx, services["compute-1"].id, {"disabled": True})
    assert _zones(call(app, "/v2.1/os-availability-zone")) == [("nova", False)]
    database.service_update(ctx, services["compute-1"].id, {"disabled": False,
                                                            "forced_down": True})
    assert _zones(call(app, "/v2.1/os-availability-zone")) == [("nova", False)]


def test_zones_reported_by_compute_nodes_and_the_default_zone(app, database,
                                                              services) -> None:
    ctx = get_admin_context()
    database.compute_node_report(ctx, "compute-2", "compute-2",
                                 {"vcpus": 4, "memory_mb": 4096, "local_gb": 40,
                                  "availability_zone": "az-b"})
    make_service(database, "compute-3")
    database.compute_node_report(ctx, "compute-3", "compute-3",
                                 {"vcpus": 4, "memory_mb": 4096, "local_gb": 40,
                                  "availability_zone": "az-c"})
    CONF.set_override("default_availability_zone", "az-a")
    try:
        zones = _zones(call(app, "/v2.1/os-availability-zone"))
    finally:
        CONF.clear_override("default_availability_zone")
    # Available zones first, then the others; compute-2's heartbeat is stale.
    assert zones == [("az-a", True), ("az-c", True), ("az-b", False)]


def test_detail_lists_hosts_and_services_with_the_internal_zone(app, database,
                                                                services) -> None:
    database.service_update(get_admin_context(), services["compute-1"].id,
                            {"disabled": True})
    make_service(database, "compute-4")
    resp = call(app, "/v2.1/os-availability-zone/detail")
    zones = {z["zoneName"]: z for z in resp.json["availabilityZoneInfo"]}
    assert set(zones) == {"nova", "internal"}
    internal = zones["internal"]
    assert internal["zoneState"] == {"available": True}
    # The API's own service row is left out, as Nova leaves out its API services.
    assert list(internal["hosts"]) == ["ctl"]
    conductor = internal["hosts"]["ctl"]["novalite-conductor"]
    assert conductor["available"] is True and conductor["active"] is True
    assert "T" in conductor["updated_at"]
    nova = zones["nova"]
    assert nova["zoneState"] == {"available": True}
    # compute-1 is disabled: not listed; compute-2 is down: listed, unavailable.
    assert sorted(nova["hosts"]) == ["compute-2", "compute-4"]
    assert nova["hosts"]["compute-2"]["novalite-compute"]["available"] is False
    assert nova["hosts"]["compute-4"]["novalite-compute"] == {
        "available": True, "active": True,
        "updated_at": nova["hosts"]["compute-4"]["novalite-compute"]["updated_at"]}


def test_detail_is_admin_only(app, services) -> None:
    resp = call(app, "/v2.1/os-availability-zone/detail", token=MEMBER)
    assert resp.status_int == 403
    assert call(app, "/v2.1/os-availability-zone", token=None).status_int == 401


def test_os_services_shows_the_zone_a_compute_node_reports(app, database, services) -> None:
    database.compute_node_report(get_admin_context(), "compute-2", "compute-2",
                                 {"vcpus": 4, "memory_mb": 4096, "local_gb": 40,
                                  "availability_zone": "az-b"})
    resp = call(app, "/v2.1/os-services")
    assert resp.status_int == 200, resp.text
    zones = {(s["host"], s["binary"]): s["zone"] for s in resp.json["services"]}
    assert zones[("compute-2", "novalite-compute")] == "az-b"
    assert zones[("compute-1", "novalite-compute")] == CONF.default_availability_zone
    assert {zone for (_, binary), zone in zones.items()
            if binary != "novalite-compute"} <= {"internal"}
