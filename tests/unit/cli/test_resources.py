"""flavor, hypervisor, service, migration, az and limits commands."""

from __future__ import annotations

import json

from novalite.client import exceptions, resources
from tests.unit.cli.fakes import SERVER_ID, server


def test_flavor_commands(run, client):
    flavor = resources.Flavor(None, {"id": "1", "name": "small", "ram": 512, "disk": 1,
                                     "vcpus": 1, "OS-FLV-EXT-DATA:ephemeral": 0,
                                     "os-flavor-access:is_public": True})
    client.flavors.list.return_value = [flavor]
    listed = json.loads(run("flavor", "list", "--all", "-f", "json").out)
    assert listed == [{"ID": "1", "Name": "small", "RAM": 512, "Disk": 1, "Ephemeral": 0,
                       "VCPUs": 1, "Is Public": True}]
    client.flavors.list.assert_called_once_with(detailed=True, is_public="none")

    client.flavors.find.return_value = flavor
    shown = json.loads(run("flavor", "show", "small", "-f", "json").out)
    assert shown["ephemeral"] == 0 and shown["is_public"] is True

    client.flavors.create.return_value = flavor
    assert run("flavor", "create", "--ram", "512", "--vcpus", "1", "--disk", "1",
               "--swap", "64", "--id", "42", "--private", "tiny").code == 0
    client.flavors.create.assert_called_once_with("tiny", 512, 1, 1, flavorid="42",
                                                  ephemeral=0, swap=64, is_public=False)

    assert run("flavor", "delete", "small").code == 0
    client.flavors.delete.assert_called_once_with(flavor)


def test_hypervisor_commands(run, client):
    hypervisor = resources.Hypervisor(None, {
        "id": "h-1", "hypervisor_hostname": "c1", "hypervisor_type": "fake",
        "hypervisor_version": 1000, "host_ip": "10.0.0.1", "state": "up",
        "status": "enabled", "service": {"host": "c1", "disabled_reason": None}})
    client.hypervisors.list.return_value = [hypervisor]
    rows = json.loads(run("hypervisor", "list", "--long", "-f", "json").out)
    assert rows[0]["Hypervisor Hostname"] == "c1" and rows[0]["Host"] == "c1"
    client.hypervisors.find.return_value = hypervisor
    shown = json.loads(run("hypervisor", "show", "c1", "-f", "json").out)
    assert shown["service"] == {"host": "c1", "disabled_reason": None}
    client.hypervisors.find.assert_called_once_with("c1")


def test_service_commands(run, client):
    client.services.list.return_value = [resources.Service(None, {
        "id": "s-1", "binary": "novalite-compute", "host": "c1", "zone": "nova",
        "status": "enabled", "state": "up", "updated_at": "t", "disabled_reason": None,
        "forced_down": False})]
    out = run("service", "list", "--host", "c1", "-f", "value", "-c", "Binary").out
    assert out.split() == ["novalite-compute"]
    client.services.list.assert_called_once_with(binary=None, host="c1")

    assert run("service", "disable", "c1", "--reason", "maintenance").code == 0
    client.services.disable.assert_called_once_with("c1", binary="novalite-compute",
                                                    reason="maintenance")
    assert run("service", "enable", "c1").code == 0
    client.services.enable.assert_called_once_with("c1", binary="novalite-compute")
    assert run("service", "force-down", "c1").code == 0
    assert run("service", "force-down", "c1", "--unset", "--binary", "x").code == 0
    assert [c.kwargs for c in client.services.force_down.call_args_list] == [
        {"binary": "novalite-compute", "down": True}, {"binary": "x", "down": False}]

    client.services.enable.side_effect = exceptions.NotFound(
        "No novalite-compute service on host 'c9' exists.")
    result = run("service", "enable", "c9")
    assert (result.code, result.err) == (
        1, "Error: No novalite-compute service on host 'c9' exists.\n")


def test_migration_list(run, client):
    client.servers.find.return_value = server()
    client.migrations.list.return_value = [resources.Migration(None, {
        "id": 4, "uuid": "m-4", "instance_uuid": SERVER_ID, "migration_type": "resize",
        "status": "finished", "source_compute": "c1", "dest_compute": "c2"})]
    rows = json.loads(run("migration", "list", "--server", "vm1", "--status", "finished",
                          "--type", "resize", "-f", "json").out)
    assert rows[0]["Type"] == "resize" and rows[0]["Server UUID"] == SERVER_ID
    client.migrations.list.assert_called_once_with(
        instance_uuid=SERVER_ID, status="finished", host=None, migration_type="resize",
        limit=None)


def test_az_list(run, client):
    zone = resources.AvailabilityZone(None, {
        "zoneName": "nova", "zoneState": {"available": True},
        "hosts": {"c1": {"novalite-compute": {"available": True, "active": False,
                                              "updated_at": "t"}}}})
    client.availability_zones.list.return_value = [zone]
    short = json.loads(run("az", "list", "-f", "json").out)
    assert short == [{"Zone Name": "nova", "Zone Status": "available"}]
    long = json.loads(run("az", "list", "--long", "-f", "json").out)
    assert long[0]["Host Name"] == "c1" and long[0]["Service Status"] == "disabled"
    assert client.availability_zones.list.call_args_list[-1].kwargs == {"detailed": True}


def test_limits(run, client):
    client.limits.get.return_value = {"maxTotalCores": 20, "totalCoresUsed": 2}
    result = run("limits", "-f", "value")
    assert result.code == 0
    assert result.out.splitlines() == ["maxTotalCores 20", "totalCoresUsed 2"]


def test_columns_are_picked_whatever_their_case(run, client):
    client.services.list.return_value = [resources.Service(None, {
        "id": "s-1", "binary": "novalite-compute", "host": "c1", "zone": "nova",
        "status": "enabled", "state": "up", "updated_at": None, "disabled_reason": None,
        "forced_down": False})]
    assert run("service", "list", "-f", "value", "-c", "binary").out.split() == [
        "novalite-compute"]
    assert run("service", "list", "-f", "value", "-c", "id").out.split() == ["s-1"]
