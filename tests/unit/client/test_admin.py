"""Services, migrations, hypervisors, zones, limits, flavors and images managers."""

from __future__ import annotations

from typing import Any

import pytest

from novalite.client import Client, exceptions
from tests.unit.client.conftest import Recorded, Stub, fault, make_client

SERVICE_UUID = "5e2c0f3a-0000-4000-8000-000000000001"
COMPUTE_C1 = {"id": SERVICE_UUID, "binary": "novalite-compute", "host": "c1",
              "status": "enabled", "state": "up", "forced_down": False}


# -- services ------------------------------------------------------------------------


@pytest.mark.parametrize("call, body", [
    (lambda m: m.enable("c1"), {"status": "enabled"}),
    (lambda m: m.disable("c1"), {"status": "disabled"}),
    (lambda m: m.disable("c1", reason="maintenance"),
     {"status": "disabled", "disabled_reason": "maintenance"}),
    (lambda m: m.force_down("c1"), {"forced_down": True}),
    (lambda m: m.force_down("c1", down=False), {"forced_down": False}),
])
def test_services_from_2_53(stub: Stub, client: Client, call: Any, body: dict) -> None:
    stub.reply("GET", "/os-services", 200, {"services": [COMPUTE_C1]})
    stub.reply("PUT", f"/os-services/{SERVICE_UUID}", 200,
               {"service": {**COMPUTE_C1, "status": "disabled"}})
    service = call(client.services)
    listing, update = stub.api_requests()
    assert (listing.param("host"), listing.param("binary")) == ("c1", "novalite-compute")
    assert (update.method, update.body) == ("PUT", body)
    assert (service.id, service.status) == (SERVICE_UUID, "disabled")


def test_services_from_2_53_unknown_host(stub: Stub, client: Client) -> None:
    stub.reply("GET", "/os-services", 200, {"services": []})
    with pytest.raises(exceptions.NotFound, match="No novalite-compute service on host 'c9'"):
        client.services.enable("c9")


@pytest.mark.parametrize("call, action, body", [
    (lambda m: m.enable("c1"), "enable", {"host": "c1", "binary": "novalite-compute"}),
    (lambda m: m.disable("c1", binary="novalite-conductor"), "disable",
     {"host": "c1", "binary": "novalite-conductor"}),
    (lambda m: m.disable("c1", reason="disk"), "disable-log-reason",
     {"host": "c1", "binary": "novalite-compute", "disabled_reason": "disk"}),
    (lambda m: m.force_down("c1"), "force-down",
     {"host": "c1", "binary": "novalite-compute", "forced_down": True}),
])
def test_services_legacy(stub: Stub, call: Any, action: str, body: dict) -> None:
    stub.reply("PUT", f"/os-services/{action}", 200, {"service": {
        "host": "c1", "binary": body["binary"], "status": "enabled"}})
    service = call(make_client(stub, api_version="2.52").services)
    assert [(r.method, r.path, r.body) for r in stub.api_requests()] == [
        ("PUT", f"/v2.1/os-services/{action}", body)]
    assert service.host == "c1" and service.id is None


def test_force_down_needs_2_11(stub: Stub) -> None:
    with pytest.raises(exceptions.UnsupportedVersion, match="2.11"):
        make_client(stub, api_version="2.10").services.force_down("c1")


def test_services_list(stub: Stub, client: Client) -> None:
    stub.reply("GET", "/os-services", 200, {"services": [COMPUTE_C1]})
    assert [s.host for s in client.services.list(binary="novalite-compute")] == ["c1"]
    assert stub.last().query == {"binary": ["novalite-compute"]}


# -- migrations ------------------------------------------------------------------------


def test_migrations_list_pages_and_filters(stub: Stub, client: Client) -> None:
    pages = {None: ([{"id": 3, "uuid": "m3"}, {"id": 2, "uuid": "m2"}], "m2"),
             "m2": ([{"id": 1, "uuid": "m1"}], None)}

    def handler(req: Recorded) -> tuple[int, dict]:
        items, marker = pages[req.param("marker")]
        body: dict[str, Any] = {"migrations": items}
        if marker:
            body["migrations_links"] = [
                {"rel": "next", "href": f"http://x/v2.1/os-migrations?marker={marker}"}]
        return 200, body

    stub.route("GET", "/os-migrations", handler)
    found = client.migrations.list(instance_uuid="i-1", migration_type="live-migration")
    assert [m.id for m in found] == [3, 2, 1]
    assert stub.api_requests()[0].query == {"instance_uuid": ["i-1"],
                                            "migration_type": ["live-migration"]}
    assert [m.id for m in client.migrations.list(limit=1)] == [3]
    assert stub.last().param("limit") == "1"


# -- hypervisors, zones, limits --------------------------------------------------------


def test_hypervisor_find_by_hostname(stub: Stub, client: Client) -> None:
    # From 2.53 ids are uuids: a hostname in the id's place is a 400.
    stub.reply("GET", "/os-hypervisors/c2", 400, fault(400, "Invalid uuid c2"))
    stub.reply("GET", "/os-hypervisors/detail", 200, {"hypervisors": [
        {"id": "u1", "hypervisor_hostname": "c1"}, {"id": "u2", "hypervisor_hostname": "c2"}]})
    assert client.hypervisors.find("c2").id == "u2"
    stub.route("GET", "/os-hypervisors/detail", lambda req: (200, {"hypervisors": []}))
    with pytest.raises(exceptions.NotFound, match="No hypervisor with a name or ID of 'c2'"):
        client.hypervisors.find("c2")


def test_zones_and_limits(stub: Stub, client: Client) -> None:
    stub.reply("GET", "/os-availability-zone/detail", 200, {"availabilityZoneInfo": [
        {"zoneName": "nova", "zoneState": {"available": True}, "hosts": {"c1": {}}}]})
    stub.reply("GET", "/limits", 200, {"limits": {"rate": [], "absolute": {
        "maxTotalCores": 20, "totalCoresUsed": 2}}})
    zone = client.availability_zones.list(detailed=True)[0]
    assert (zone.id, zone.name, zone.available, zone.hosts) == ("nova", "nova", True,
                                                                 {"c1": {}})
    assert client.limits.get() == {"maxTotalCores": 20, "totalCoresUsed": 2}


# -- flavors and images ----------------------------------------------------------------


def test_flavor_create_find_delete(stub: Stub, client: Client) -> None:
    stub.reply("POST", "/flavors", 200, {"flavor": {
        "id": "f1", "name": "tiny", "OS-FLV-EXT-DATA:ephemeral": 1,
        "os-flavor-access:is_public": False}})
    flavor = client.flavors.create("tiny", 512, 1, 1, ephemeral=1, is_public=False)
    assert stub.last().body == {"flavor": {
        "name": "tiny", "ram": 512, "vcpus": 1, "disk": 1, "id": None,
        "OS-FLV-EXT-DATA:ephemeral": 1, "swap": 0, "os-flavor-access:is_public": False}}
    assert (flavor.id, flavor.ephemeral, flavor.is_public) == ("f1", 1, False)

    stub.reply("GET", "/flavors/tiny", 404, fault(404, "Flavor tiny could not be found.",
                                                  "itemNotFound"))
    stub.reply("GET", "/flavors/detail", 200, {"flavors": [{"id": "f1", "name": "tiny"}]})
    stub.reply("DELETE", "/flavors/f1", 202)
    client.flavors.delete("tiny")
    listing = next(r for r in stub.requests if r.path == "/v2.1/flavors/detail")
    assert listing.param("is_public") == "None"  # private flavors too, for admins
    assert (stub.last().method, stub.last().path) == ("DELETE", "/v2.1/flavors/f1")


def test_images_use_the_proxy_version(stub: Stub, client: Client) -> None:
    stub.reply("GET", "/images/cirros", 404, fault(404, "Image not found.", "itemNotFound"))
    stub.reply("GET", "/images/detail", 200, {"images": [
        {"id": "i1", "name": "cirros", "OS-EXT-IMG-SIZE:size": 12}]})
    image = client.images.find("cirros")
    assert (image.id, image.size) == ("i1", 12)
    assert {r.version for r in stub.api_requests()} == {"2.35"}
    assert stub.last().param("name") == "cirros"
    make_client(stub, api_version="2.20").images.list()
    assert stub.last().version == "2.20"
