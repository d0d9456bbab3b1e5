"""The standard OpenStack SDK drives a running deployment unmodified (token auth with
an endpoint override, no Keystone)."""

from __future__ import annotations

import pytest

from tests.functional.fixtures import ADMIN_TOKEN, MEMBER_TOKEN, wait_for

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
    flavor_id = dep.add_flavor("m1.tiny", ram=256)
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


def test_resize_and_migrate_through_openstacksdk(deployment):
    dep = deployment
    dep.start_controller()
    for host in ("c1", "c2"):
        dep.start(host, "compute", dep.compute_config(host))
    dep.wait_computes_up(["c1", "c2"])
    small, big = dep.add_flavor("small", ram=256), dep.add_flavor("big", ram=512)
    image_id = dep.add_image("cirros")

    conn = _connect(dep, MEMBER_TOKEN)
    server = conn.compute.create_server(name="sdk-vm", flavor_id=small, image_id=image_id,
                                        networks="none")
    server = conn.compute.wait_for_server(server, status="ACTIVE", wait=60, interval=0.5)

    conn.compute.resize_server(server, big)
    conn.compute.wait_for_server(server, status="VERIFY_RESIZE", wait=60, interval=0.5)
    conn.compute.confirm_server_resize(server)
    server = conn.compute.wait_for_server(server, status="ACTIVE", wait=60, interval=0.5)
    assert server.flavor.original_name == "big"

    conn.compute.resize_server(server, small)
    conn.compute.wait_for_server(server, status="VERIFY_RESIZE", wait=60, interval=0.5)
    conn.compute.revert_server_resize(server)
    server = conn.compute.wait_for_server(server, status="ACTIVE", wait=60, interval=0.5)
    assert server.flavor.original_name == "big"

    admin = _connect(dep, ADMIN_TOKEN)
    admin.compute.migrate_server(server)
    admin.compute.wait_for_server(server, status="VERIFY_RESIZE", wait=60, interval=0.5)
    admin.compute.confirm_server_resize(server)
    admin.compute.wait_for_server(server, status="ACTIVE", wait=60, interval=0.5)

    statuses = sorted(m.status for m in admin.compute.migrations(instance_uuid=server.id))
    assert statuses == ["confirmed", "confirmed", "reverted"]


def test_live_migration_through_openstacksdk(deployment):
    dep = deployment
    dep.start_controller()
    for host in ("c1", "c2", "c3"):
        dep.start(host, "compute", dep.compute_config(host, live_migration_seconds=2,
                                                      live_migration_converges=False))
    dep.wait_computes_up(["c1", "c2", "c3"])
    flavor_id = dep.add_flavor("m1.tiny", ram=256)
    image_id = dep.add_image("cirros")
    admin = _connect(dep, ADMIN_TOKEN)
    server = admin.compute.create_server(name="sdk-vm", flavor_id=flavor_id,
                                         image_id=image_id, networks="none")
    server = admin.compute.wait_for_server(server, status="ACTIVE", wait=60, interval=0.5)
    source = server.compute_host
    target = next(h for h in ("c1", "c2", "c3") if h != source)

    def running():
        migs = list(admin.compute.server_migrations(server))
        return migs[0] if migs and migs[0].status == "running" else None

    # Never converges: force it to complete.
    admin.compute.live_migrate_server(server, host=target, block_migration=True)
    migration = wait_for(running, 20, interval=0.1, what="a running migration")
    shown = admin.compute.get_server_migration(migration, server)
    assert shown.dest_compute == target
    admin.compute.force_complete_server_migration(migration, server)
    wait_for(lambda: admin.compute.get_server(server.id).compute_host == target
             and admin.compute.get_server(server.id).task_state is None, 20,
             what="forced to complete")

    # And abort the next one: it stays where it is.
    admin.compute.live_migrate_server(server, block_migration="auto")
    migration = wait_for(running, 20, interval=0.1, what="a second running migration")
    admin.compute.abort_server_migration(migration, server)
    wait_for(lambda: admin.compute.get_server(server.id).task_state is None, 20,
             what="aborted")
    assert admin.compute.get_server(server.id).compute_host == target
    statuses = sorted(m.status for m in admin.compute.migrations(instance_uuid=server.id))
    assert statuses == ["cancelled", "completed"]
