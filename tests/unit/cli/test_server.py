"""``novalite server ...`` against a mocked client."""

from __future__ import annotations

import json

from novalite.client import exceptions, resources
from tests.unit.cli.fakes import OTHER_ID, SERVER_ID, fake_wait, server


def test_list_table(run, client):
    client.servers.list.return_value = [server(), server(OTHER_ID, "vm2", "SHUTOFF",
                                                         host="c2")]
    result = run("server", "list")
    assert result.code == 0, result
    lines = result.out.splitlines()
    header = [c.strip() for c in lines[1].strip("|").split("|")]
    assert header == ["ID", "Name", "Status", "Task State", "Power State", "Host"]
    assert any(SERVER_ID in line and "vm1" in line and "Running" in line for line in lines)
    assert any("vm2" in line and "SHUTOFF" in line and "Shutdown" in line for line in lines)
    client.servers.list.assert_called_once_with(detailed=True, all_projects=False, limit=None)


def test_list_filters_and_long(run, client):
    client.servers.list.return_value = [server()]
    client.images.list.return_value = [resources.Image(None, {"id": "img-1",
                                                              "name": "cirros"})]
    result = run("server", "list", "--all-projects", "--status", "ACTIVE", "--host", "c1",
                 "--name", "vm", "--limit", "5", "--long", "-f", "json")
    assert result.code == 0, result
    client.servers.list.assert_called_once_with(detailed=True, all_projects=True, limit=5,
                                                status="ACTIVE", host="c1", name="vm")
    (row,) = json.loads(result.out)
    assert row["Flavor"] == "small" and row["Image"] == "cirros"
    assert row["AZ"] == "nova" and row["Created"] == "2024-05-01T10:00:00Z"


def test_value_format_prints_bare_ids(run, client):
    client.servers.list.return_value = [server(), server(OTHER_ID, "vm2")]
    result = run("server", "list", "-f", "value", "-c", "id")
    assert result.code == 0, result
    assert result.out.splitlines() == [SERVER_ID, OTHER_ID]


def test_show_json_has_raw_and_readable_fields(run, client):
    client.servers.find.return_value = server(task_state=None)
    result = run("server", "show", "vm1", "-f", "json")
    assert result.code == 0, result
    data = json.loads(result.out)
    assert data["OS-EXT-STS:vm_state"] == "active" and data["vm_state"] == "active"
    assert data["OS-EXT-SRV-ATTR:host"] == "c1" and data["host"] == "c1"
    assert data["availability_zone"] == "nova" and data["power_state"] == "Running"
    assert data["flavor"]["original_name"] == "small"  # dicts stay dicts in json
    assert "task_state" in data and data["task_state"] is None
    client.servers.find.assert_called_once_with("vm1")


def test_show_table_flattens_dicts(run, client):
    client.servers.find.return_value = server()
    result = run("server", "show", "vm1")
    assert result.code == 0, result
    assert "original_name=small" in result.out


def test_create_wait_shows_build_steps(run, client):
    client.servers.create.return_value = server(status="BUILD", task_state="scheduling",
                                                host=None)
    client.servers.wait_for.side_effect = fake_wait([
        server(status="BUILD", task_state="scheduling", host=None),
        server(status="BUILD", task_state="spawning"),
        server(status="BUILD", task_state="spawning"),
        server(status="ACTIVE"),
    ])
    result = run("server", "create", "--flavor", "small", "--image", "cirros",
                 "--availability-zone", "nova", "--host", "c1", "--max", "2",
                 "--property", "role=web", "--wait", "vm1", "-f", "json")
    assert result.code == 0, result
    client.servers.create.assert_called_once_with(
        "vm1", "small", "cirros", min_count=1, max_count=2, availability_zone="nova",
        host="c1", metadata={"role": "web"})
    assert client.servers.wait_for.call_args.args[1] == "ACTIVE"
    assert result.err.splitlines() == ["status BUILD, task scheduling",
                                       "status BUILD, task spawning", "status ACTIVE"]
    assert json.loads(result.out)["status"] == "ACTIVE"


def test_create_without_wait_does_not_poll(run, client):
    client.servers.create.return_value = server(status="BUILD", task_state="scheduling")
    result = run("server", "create", "--flavor", "1", "--image", "img-1", "vm1")
    assert result.code == 0, result
    assert "BUILD" in result.out and result.err == ""
    client.servers.wait_for.assert_not_called()


def test_create_wait_error_state_is_one_line(run, client):
    client.servers.create.return_value = server(status="BUILD", task_state="scheduling")
    client.servers.wait_for.side_effect = exceptions.ResourceInErrorState(
        "No valid host was found. There are not enough hosts available.")
    result = run("server", "create", "--flavor", "1", "--image", "img-1", "--wait", "vm1")
    assert result.code == 1
    assert result.err == ("Error: No valid host was found. There are not enough hosts "
                          "available.\n")
    assert result.out == ""


def test_wait_timeout_exits_1(run, client):
    client.servers.find.return_value = server()
    client.servers.wait_for.side_effect = exceptions.WaitTimeout(
        "Timed out after 600s waiting for server vm1 to become SHUTOFF; it is ACTIVE.")
    result = run("server", "stop", "--wait", "vm1")
    assert result.code == 1
    assert result.err.startswith("Error: Timed out after 600s")


def test_stop_start_reboot(run, client):
    vm = server()
    client.servers.find.return_value = vm
    client.servers.wait_for.side_effect = fake_wait([
        server(task_state="powering-off"), server(status="SHUTOFF")])
    result = run("server", "stop", "--wait", "vm1")
    assert result.code == 0, result
    client.servers.stop.assert_called_once_with(vm)
    assert client.servers.wait_for.call_args.args[1] == "SHUTOFF"
    assert result.err.splitlines() == ["status ACTIVE, task powering-off", "status SHUTOFF"]

    assert run("server", "start", "vm1").code == 0
    client.servers.start.assert_called_once_with(vm)
    assert run("server", "reboot", "--hard", "vm1").code == 0
    client.servers.reboot.assert_called_once_with(vm, hard=True)


def test_resize_wait_shows_step_and_migration(run, client):
    vm = server()
    client.servers.find.return_value = vm
    large = resources.Flavor(None, {"id": "2", "name": "large"})
    client.flavors.find.return_value = large
    steps = [("RESIZE", "resize_prep", "pre-migrating"),
             ("RESIZE", "resize_migrating", "migrating"),
             ("RESIZE", "resize_migrating", "migrating"),
             ("RESIZE", "resize_finish", "post-migrating"),
             ("VERIFY_RESIZE", None, "finished")]
    older = resources.Migration(None, {"id": 3, "status": "reverted"})
    # First the migrations before the resize (ignored), then one answer per poll.
    client.migrations.list.side_effect = [[older]] + [
        [older, resources.Migration(None, {"id": 4, "status": status})]
        for _, _, status in steps]
    client.servers.wait_for.side_effect = fake_wait(
        [server(status=status, task_state=task) for status, task, _ in steps])
    result = run("server", "resize", "--flavor", "large", "--wait", "vm1")
    assert result.code == 0, result
    client.servers.resize.assert_called_once_with(vm, large)
    assert client.servers.wait_for.call_args.args[1] == "VERIFY_RESIZE"
    assert client.migrations.list.call_args.kwargs == {"instance_uuid": SERVER_ID,
                                                       "migration_type": "resize"}
    assert result.err.splitlines() == [
        "resize: resize_prep (migration: pre-migrating)",
        "resize: resize_migrating (migration: migrating)",
        "resize: resize_finish (migration: post-migrating)",
        "resize: VERIFY_RESIZE (migration: finished)",
    ]


def test_resize_progress_without_migration_listing(run, client):
    client.servers.find.return_value = server()
    client.migrations.list.side_effect = exceptions.Forbidden("Policy doesn't allow", 403)
    client.servers.wait_for.side_effect = fake_wait([
        server(status="RESIZE", task_state="resize_migrating"),
        server(status="VERIFY_RESIZE")])
    result = run("server", "resize", "--flavor", "large", "--wait", "vm1")
    assert result.code == 0, result
    assert result.err.splitlines() == ["resize: resize_migrating", "resize: VERIFY_RESIZE"]
    assert client.migrations.list.call_count == 1  # not asked again once refused


def test_migrate_confirm_revert(run, client):
    vm = server()
    client.servers.find.return_value = vm
    client.migrations.list.return_value = []
    client.servers.wait_for.side_effect = fake_wait([server(status="VERIFY_RESIZE")])
    assert run("server", "migrate", "--host", "c2", "--wait", "vm1").code == 0
    client.servers.migrate.assert_called_once_with(vm, host="c2")
    assert client.servers.wait_for.call_args.args[1] == "VERIFY_RESIZE"
    assert client.migrations.list.call_args.kwargs["migration_type"] == "migration"

    assert run("server", "resize-confirm", "vm1").code == 0
    client.servers.confirm_resize.assert_called_once_with(vm)

    # A stopped server's revert settles in SHUTOFF, which --wait accepts too.
    client.servers.wait_for.side_effect = fake_wait([
        server(status="REVERT_RESIZE", task_state="resize_reverting"),
        server(status="SHUTOFF")])
    result = run("server", "resize-revert", "--wait", "vm1")
    assert result.code == 0, result
    client.servers.revert_resize.assert_called_once_with(vm)
    assert result.err.splitlines() == ["revert: resize_reverting", "revert: SHUTOFF"]


def test_delete_several_with_wait_and_one_failure(run, client):
    vm1, vm2 = server(), server(OTHER_ID, "vm2")
    client.servers.find.side_effect = [
        vm1, exceptions.NotFound("No server with a name or ID of 'ghost' exists."), vm2]
    client.servers.wait_for.side_effect = lambda srv, status, **kw: srv
    result = run("server", "delete", "--wait", "vm1", "ghost", "vm2")
    assert result.code == 1
    assert result.err == "Error: No server with a name or ID of 'ghost' exists.\n"
    assert [c.args[0] for c in client.servers.delete.call_args_list] == [vm1, vm2]
    assert [c.args[1] for c in client.servers.wait_for.call_args_list] == ["DELETED"] * 2


def test_lock_unlock(run, client):
    vm = server()
    client.servers.find.return_value = vm
    assert run("server", "lock", "--reason", "maintenance", "vm1").code == 0
    client.servers.lock.assert_called_once_with(vm, reason="maintenance")
    assert run("server", "unlock", "vm1").code == 0
    client.servers.unlock.assert_called_once_with(vm)


def test_server_migrations_and_actions(run, client):
    vm = server()
    client.servers.find.return_value = vm
    client.servers.migrations.return_value = [resources.ServerMigration(None, {
        "id": 7, "uuid": "m-7", "status": "running", "source_compute": "c1",
        "dest_compute": "c2", "dest_host": "10.0.0.2",
        "memory_total_bytes": 128 * 1048576, "memory_processed_bytes": 64 * 1048576,
        "memory_remaining_bytes": 64 * 1048576, "disk_total_bytes": 0,
        "disk_processed_bytes": 0, "disk_remaining_bytes": 0,
        "created_at": "2024-05-01T10:00:00.000000", "updated_at": None})]
    result = run("server", "migration-list", "vm1")
    assert result.code == 0, result
    assert "64.0/128.0 MiB" in result.out and "running" in result.out
    rows = json.loads(run("server", "migration-list", "vm1", "-f", "json").out)
    assert rows[0]["ID"] == 7 and rows[0]["Memory"]["total"] == 128 * 1048576

    client.servers.get_migration.return_value = client.servers.migrations.return_value[0]
    shown = json.loads(run("server", "migration-show", "vm1", "7", "-f", "json").out)
    assert shown["dest_compute"] == "c2"
    client.servers.get_migration.assert_called_once_with(vm, "7")

    assert run("server", "migration-abort", "vm1", "7").code == 0
    client.servers.abort_migration.assert_called_once_with(vm, "7")
    assert run("server", "migration-force-complete", "vm1", "7").code == 0
    client.servers.force_complete_migration.assert_called_once_with(vm, "7")

    client.servers.actions.return_value = [resources.InstanceAction(None, {
        "request_id": "req-1", "action": "create", "start_time": "t0", "message": None})]
    listed = run("server", "action-list", "vm1", "-f", "value", "-c", "Action")
    assert listed.out.split() == ["create"]
    client.servers.get_action.return_value = resources.InstanceAction(None, {
        "request_id": "req-1", "action": "create", "events": [
            {"event": "compute_build_and_run_instance", "result": "Success",
             "start_time": "t0", "finish_time": "t1", "host": "c1"}]})
    table = run("server", "action-show", "vm1", "req-1")
    assert "compute_build_and_run_instance: Success (t0 -> t1) on c1" in table.out
    data = json.loads(run("server", "action-show", "vm1", "req-1", "-f", "json").out)
    assert data["events"][0]["result"] == "Success"
