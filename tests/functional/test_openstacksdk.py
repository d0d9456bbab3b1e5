"""The standard OpenStack SDK drives a running deployment unmodified (token auth with
an endpoint override, no Keystone)."""

from __future__ import annotations

import pytest

from tests.functional.fixtures import MEMBER_TOKEN

openstack = pytest.importorskip("openstack")

pytestmark = pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)


def _connect(dep, token: str):
    base = dep.endpoint.rsplit("/v2.1", 1)[0]
    return openstack.connect(
        auth_type="admin_token",
        auth={"endpoint": dep.endpoint, "token": token},
        compute_endpoint_override=dep.endpoint,
        image_endpoint_override=f"{base}/image",
        identity_endpoint_override=f"{base}/identity",
        load_yaml_config=False,
        load_envvars=False,
    )


def test_server_lifecycle_through_openstacksdk(deployment):
    dep = deployment
    dep.start_controller()
    dep.start("c1", "compute", dep.compute_config("c1"))
    dep.wait_computes_up(["c1"])
    flavor_id = dep.api("POST", "/flavors", json={"flavor": {
        "name": "m1.tiny", "ram": 256, "vcpus": 1, "disk": 1, "id": None}}).json()["flavor"]["id"]
    image_id = dep.add_image("cirros")

    conn = _connect(dep, MEMBER_TOKEN)
    server = conn.compute.create_server(name="sdk-vm", flavor_id=flavor_id, image_id=image_id,
                                        networks="none")
    server = conn.compute.wait_for_server(server, status="ACTIVE", wait=60, interval=0.5)
    assert server.name == "sdk-vm"
    assert [s.id for s in conn.compute.servers()] == [server.id]
    assert conn.compute.get_server(server.id).status == "ACTIVE"

    conn.compute.stop_server(server)
    conn.compute.wait_for_server(server, status="SHUTOFF", wait=30, interval=0.5)
    conn.compute.start_server(server)
    conn.compute.wait_for_server(server, status="ACTIVE", wait=30, interval=0.5)
    conn.compute.reboot_server(server, "HARD")
    conn.compute.wait_for_server(server, status="ACTIVE", wait=30, interval=0.5)

    conn.compute.delete_server(server)
    conn.compute.wait_for_delete(server, wait=30, interval=0.5)
    assert list(conn.compute.servers()) == []
    assert {f.name for f in conn.compute.flavors()} == {"m1.tiny"}
