"""os-migrateLive, force_complete and the abort of a live migration, through the whole
API on SQLite, with the conductor and compute casts captured.

The API creates the live migration [accepted] in the same transaction that marks the
server (…, migrating); force_complete and abort act on a migration each test creates in
the status the source would have left it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from novalite.api import deploy
from novalite.compute.rpcapi import ComputeAPI
from novalite.conductor.rpcapi import ConductorAPI
from novalite.conf import CONF
from novalite.context import get_admin_context
from novalite.objects.instance import Instance
from novalite.objects.migration import Migration
from novalite.states import MigrationStatus, MigrationType
from tests.unit.api.conftest import ADMIN, MEMBER, call, make_service
from tests.unit.api.test_servers import (
    OTHER,
    Env,
    _recorder,
    error_message,
    make_server_env,
    running_server,
    show,
)

MANAGER = "manager-token"
MEMBER_TOKEN = "member-token"
READER = "reader-token"
LIVE = {"host": None, "block_migration": "auto"}  # a valid 2.25+ body
LIVE_V21 = {"host": None, "block_migration": False, "disk_over_commit": False}


@pytest.fixture
def env(app: Any, database: Any, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    """make_server_env (c1 up, c2 down) plus c3 (up) and the live migration casts."""
    with make_server_env(app, database, tmp_path, monkeypatch) as server_env:
        monkeypatch.setattr(ConductorAPI, "live_migrate_instance", _recorder(
            server_env.casts, "live_migrate_instance",
            ("instance", "migration", "block_migration", "requested_host", "force")))
        monkeypatch.setattr(ComputeAPI, "live_migration_force_complete", _recorder(
            server_env.casts, "live_migration_force_complete", ("host", "instance")))
        monkeypatch.setattr(ComputeAPI, "live_migration_abort", _recorder(
            server_env.casts, "live_migration_abort", ("host", "instance", "migration_id")))
        make_service(database, "c3")
        database.compute_node_report(get_admin_context(), "c3", "c3",
                                     {"vcpus": 16, "memory_mb": 32768, "local_gb": 500})
        yield server_env


@pytest.fixture
def token_app(env: Env, tmp_path: Path) -> Any:
    """The same API with token auth: manager, member and reader of 'demo', an admin."""
    tokens = tmp_path / "live-tokens.json"
    tokens.write_text(json.dumps({
        MANAGER: {"user_id": "mona", "project_id": "demo", "roles": ["manager"]},
        MEMBER_TOKEN: {"user_id": "alice", "project_id": "demo", "roles": ["member"]},
        READER: {"user_id": "rita", "project_id": "demo", "roles": ["reader"]},
        "admin-token": {"user_id": "root", "project_id": "ops", "roles": ["admin"]},
    }))
    CONF.set_override("auth_strategy", "token", group="api")
    CONF.set_override("token_file", str(tokens), group="api")
    return deploy.build_app(CONF)


def live(env: Env, server_id: str, args: Any, token: str = ADMIN,
         version: str | None = "2.90", app: Any = None) -> Any:
    return call(app or env.app, f"/v2.1/servers/{server_id}/action", "POST", token=token,
                version=version, body={"os-migrateLive": args})


def row(env: Env, server_id: str) -> Any:
    return env.db.instance_get(get_admin_context(), server_id)


def actions(env: Env, server_id: str) -> list[str]:
    return [a.action for a in env.db.actions_get(get_admin_context(), server_id)]


def migrations_of(env: Env, server_id: str) -> list[Any]:
    return env.db.migration_get_all(get_admin_context(), instance_uuid=server_id)


def migrating(env: Env, status: str, vm_state: str = "active", token: str = MEMBER,
              migration_type: str = MigrationType.LIVE_MIGRATION.value) -> tuple[str, Any]:
    """A server in (vm_state, migrating) on c1 and its migration to c3 in `status`."""
    server_id = running_server(env, token=token, vm_state=vm_state, task_state="migrating")
    owner = row(env, server_id)
    migration = env.db.migration_create(get_admin_context(), {
        "instance_uuid": server_id, "migration_type": migration_type, "status": status,
        "source_compute": "c1", "source_node": "c1", "dest_compute": "c3",
        "dest_node": "c3", "old_flavor": owner.flavor, "new_flavor": owner.flavor,
        "project_id": owner.project_id, "user_id": owner.user_id})
    return server_id, migration


def force_complete(env: Env, server_id: str, migration_id: Any, token: str = ADMIN,
                   version: str | None = "2.22", body: Any = None, app: Any = None) -> Any:
    return call(app or env.app, f"/v2.1/servers/{server_id}/migrations/{migration_id}/action",
                "POST", token=token, version=version,
                body={"force_complete": None} if body is None else body)


def abort(env: Env, server_id: str, migration_id: Any, token: str = ADMIN,
          version: str | None = "2.24", app: Any = None) -> Any:
    return call(app or env.app, f"/v2.1/servers/{server_id}/migrations/{migration_id}",
                "DELETE", token=token, version=version)


# -- os-migrateLive: the transaction and the cast ----------------------------------------

def test_live_migrate_marks_the_server_creates_the_migration_and_casts(env: Env) -> None:
    server_id = running_server(env)
    before = row(env, server_id)
    resp = live(env, server_id, {"host": "c3", "block_migration": True, "force": False},
                version="2.30")
    assert resp.status_int == 202 and resp.body == b""
    server = show(env, server_id)
    assert (server["status"], server["OS-EXT-STS:task_state"]) == ("MIGRATING", "migrating")
    assert row(env, server_id).vm_state == "active"
    assert actions(env, server_id) == ["live-migration", "create"]
    (migration,) = migrations_of(env, server_id)
    assert (migration.migration_type, migration.status) == ("live-migration", "accepted")
    assert (migration.source_compute, migration.source_node) == ("c1", "c1")
    assert (migration.dest_compute, migration.dest_node) == ("c3", None)
    assert migration.old_flavor == migration.new_flavor == before.flavor
    (name, cast), = env.casts
    assert name == "live_migrate_instance"
    assert isinstance(cast["instance"], Instance)
    assert (cast["instance"].uuid, cast["instance"].task_state) == (server_id, "migrating")
    assert isinstance(cast["migration"], Migration)
    assert (cast["migration"].id, cast["migration"].status) == (migration.id,
                                                                MigrationStatus.ACCEPTED)
    assert (cast["block_migration"], cast["requested_host"], cast["force"]) == (
        True, "c3", False)
    assert cast["ctxt"].request_id == resp.headers["x-openstack-request-id"]


def test_a_paused_server_live_migrates_too(env: Env) -> None:
    server_id = running_server(env, vm_state="paused")
    assert live(env, server_id, LIVE).status_int == 202
    assert (row(env, server_id).vm_state, row(env, server_id).task_state) == (
        "paused", "migrating")


@pytest.mark.parametrize(("version", "args", "expected"), [
    # Before 2.25 block_migration is a boolean (Nova's strings too); a host is forced.
    ("2.1", {"host": None, "block_migration": False, "disk_over_commit": False},
     (False, None, False)),
    ("2.24", {"host": "c3", "block_migration": "True", "disk_over_commit": "no"},
     (True, "c3", True)),
    ("2.25", {"host": None, "block_migration": "auto"}, ("auto", None, False)),
    ("2.29", {"host": "c3", "block_migration": False}, (False, "c3", True)),
    # 2.30-2.67: the host is checked by the scheduler unless force is true.
    ("2.30", {"host": "c3", "block_migration": "auto"}, ("auto", "c3", False)),
    ("2.67", {"host": "c3", "block_migration": True, "force": True}, (True, "c3", True)),
    ("2.67", {"host": None, "block_migration": True, "force": False}, (True, None, False)),
    # 2.68: never forced.
    ("2.68", {"host": "c3", "block_migration": "auto"}, ("auto", "c3", False)),
    ("2.90", {"host": None, "block_migration": False}, (False, None, False)),
])
def test_live_migrate_arguments_per_microversion(env: Env, version: str, args: dict,
                                                 expected: tuple) -> None:
    server_id = running_server(env)
    resp = live(env, server_id, args, version=version)
    assert resp.status_int == 202, resp.body
    (_name, cast), = env.casts
    assert (cast["block_migration"], cast["requested_host"], cast["force"]) == expected


@pytest.mark.parametrize(("version", "args", "field"), [
    # 2.1-2.24: all three keys required, booleans only.
    ("2.1", None, "os-migrateLive"),
    ("2.1", {"block_migration": False, "disk_over_commit": False}, "host"),
    ("2.1", {"host": None, "disk_over_commit": False}, "block_migration"),
    ("2.1", {"host": None, "block_migration": False}, "disk_over_commit"),
    ("2.24", {**LIVE_V21, "block_migration": "auto"}, "block_migration"),
    ("2.1", {**LIVE_V21, "disk_over_commit": "maybe"}, "disk_over_commit"),
    ("2.1", {**LIVE_V21, "block_migration": 1}, "block_migration"),
    ("2.1", {**LIVE_V21, "host": ""}, "host"),
    ("2.1", {**LIVE_V21, "host": 7}, "host"),
    ("2.1", {**LIVE_V21, "force": True}, "force"),
    ("2.1", {**LIVE_V21, "extra": 1}, "extra"),
    # 2.25: disk_over_commit is gone; block_migration true|false|"auto" and host required.
    ("2.25", {**LIVE, "disk_over_commit": False}, "disk_over_commit"),
    ("2.25", {"host": None}, "block_migration"),
    ("2.25", {"block_migration": "auto"}, "host"),
    ("2.25", {**LIVE, "block_migration": "sometimes"}, "block_migration"),
    ("2.25", {**LIVE, "block_migration": None}, "block_migration"),
    ("2.29", {**LIVE, "force": False}, "force"),
    # 2.30-2.67: force is a boolean, and true needs a host.
    ("2.30", {**LIVE, "force": "maybe"}, "force"),
    ("2.30", {**LIVE, "force": True}, "force"),
    ("2.67", {"block_migration": "auto", "host": None, "force": "yes"}, "force"),
    # 2.68: force is refused whatever its value.
    ("2.68", {**LIVE, "force": False}, "force"),
    ("2.90", {**LIVE, "host": "c3", "force": True}, "force"),
])
def test_bad_live_migrate_bodies_are_400_naming_the_field(env: Env, version: str,
                                                          args: Any, field: str) -> None:
    server_id = running_server(env)
    resp = live(env, server_id, args, version=version)
    assert resp.status_int == 400, resp.body
    assert field in error_message(resp)
    assert row(env, server_id).task_state is None
    assert env.casts == [] and migrations_of(env, server_id) == []


# -- os-migrateLive: policy --------------------------------------------------------------

def test_live_migrate_is_for_project_managers_and_admins(env: Env, token_app: Any) -> None:
    server_id = running_server(env)
    for token in (MEMBER_TOKEN, READER):
        resp = live(env, server_id, LIVE, token=token, app=token_app)
        assert resp.status_int == 403, token
        assert "os_compute_api:os-migrate-server:migrate_live" in error_message(resp)
    assert env.casts == [] and row(env, server_id).task_state is None
    assert live(env, server_id, LIVE, token=MANAGER, app=token_app).status_int == 202
    assert env.cast_names() == ["live_migrate_instance"]


def test_naming_a_host_is_for_admins(env: Env, token_app: Any) -> None:
    server_id = running_server(env)
    resp = live(env, server_id, {**LIVE, "host": "c3"}, token=MANAGER, app=token_app)
    assert resp.status_int == 403
    assert "os_compute_api:os-migrate-server:migrate_live:host" in error_message(resp)
    assert env.casts == []
    resp = live(env, server_id, {**LIVE, "host": "c3"}, token="admin-token", app=token_app)
    assert resp.status_int == 202


def test_live_migrate_of_another_projects_server_is_404(env: Env) -> None:
    server_id = running_server(env)
    assert live(env, server_id, LIVE, token=OTHER).status_int == 404


# -- os-migrateLive: refusals ------------------------------------------------------------

@pytest.mark.parametrize(("values", "attr", "state"), [
    ({"vm_state": "stopped"}, "vm_state", "stopped"),
    ({"vm_state": "error"}, "vm_state", "error"),
    ({"task_state": "powering-off"}, "task_state", "powering-off"),
    ({"task_state": "migrating"}, "task_state", "migrating"),
])
def test_live_migrate_wrong_state_is_409(env: Env, values: dict, attr: str,
                                         state: str) -> None:
    server_id = running_server(env, **values)
    resp = live(env, server_id, LIVE)
    assert resp.status_int == 409
    assert error_message(resp) == (f"Cannot 'os-migrateLive' instance {server_id} while "
                                   f"it is in {attr} {state}")
    assert env.casts == [] and migrations_of(env, server_id) == []


def test_live_migrate_source_down_or_locked_is_409(env: Env) -> None:
    down = running_server(env, host="c2")
    resp = live(env, down, LIVE)
    assert resp.status_int == 409 and "c2" in error_message(resp)
    assert env.casts == []


def test_live_migrate_locked_is_409_unless_admin(env: Env, token_app: Any) -> None:
    locked = running_server(env, locked=True, locked_by="owner")
    resp = live(env, locked, LIVE, token=MANAGER, app=token_app)
    assert resp.status_int == 409 and error_message(resp) == f"Instance {locked} is locked"
    assert env.casts == []
    assert live(env, locked, LIVE, token=ADMIN).status_int == 202  # admins pass locks
    assert env.cast_names() == ["live_migrate_instance"]


@pytest.mark.parametrize(("host", "message"), [
    ("nope", "Compute host nope could not be found."),
    ("c3-disabled", "Compute host c3-disabled could not be found."),
    ("c1", "Unable to migrate instance ({server_id}) to current host (c1)."),
])
def test_live_migrate_bad_destination_is_400(env: Env, host: str, message: str) -> None:
    make_service(env.db, "c3-disabled")
    ctx = get_admin_context()
    service = env.db.service_get_by_host_and_binary(ctx, "c3-disabled", "novalite-compute")
    env.db.service_update(ctx, service.id, {"disabled": True})
    server_id = running_server(env)
    resp = live(env, server_id, {**LIVE, "host": host})
    assert resp.status_int == 400
    assert error_message(resp) == message.format(server_id=server_id)
    assert row(env, server_id).task_state is None
    assert env.casts == [] and migrations_of(env, server_id) == []


def test_a_failed_live_migrate_cast_undoes_everything(
        env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    server_id = running_server(env)

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("the message bus is gone")

    monkeypatch.setattr(ConductorAPI, "live_migrate_instance", broken)
    resp = live(env, server_id, LIVE)
    assert resp.status_int == 500
    assert row(env, server_id).task_state is None
    (migration,) = migrations_of(env, server_id)
    assert migration.status == "error"
    action = env.db.actions_get(get_admin_context(), server_id)[0]
    assert (action.action, action.message) == ("live-migration", "Error")


# -- force_complete ------------------------------------------------------------------------

def test_force_complete_casts_to_the_source(env: Env) -> None:
    server_id, migration = migrating(env, "running")
    resp = force_complete(env, server_id, migration.id)
    assert resp.status_int == 202 and resp.body == b""
    (name, cast), = env.casts
    assert name == "live_migration_force_complete"
    assert cast["host"] == "c1" and cast["instance"].uuid == server_id
    assert actions(env, server_id)[0] == "live_migration_force_complete"
    # Nothing changes here: the source's monitor reports the outcome.
    assert row(env, server_id).task_state == "migrating"
    assert env.db.migration_get(get_admin_context(), migration.id).status == "running"


@pytest.mark.parametrize("status", ["accepted", "queued", "preparing", "post-migrating",
                                    "completed", "failed", "cancelled", "error"])
def test_force_complete_needs_a_running_migration(env: Env, status: str) -> None:
    server_id, migration = migrating(env, status)
    resp = force_complete(env, server_id, migration.id)
    assert resp.status_int == 400
    assert error_message(resp) == (
        f"Migration {migration.id} state of instance {server_id} is {status}. Cannot "
        f"force complete while the migration is in this state.")
    assert env.casts == []


def test_force_complete_of_a_cold_migration_is_400(env: Env) -> None:
    server_id, migration = migrating(env, "migrating",
                                     migration_type=MigrationType.MIGRATION.value)
    assert force_complete(env, server_id, migration.id).status_int == 400
    assert env.casts == []


@pytest.mark.parametrize("migration_id", ["999", "abc"])
def test_force_complete_of_an_unknown_migration_is_400_as_in_nova(env: Env,
                                                                  migration_id: str) -> None:
    server_id, _migration = migrating(env, "running")
    resp = force_complete(env, server_id, migration_id)
    assert resp.status_int == 400
    assert error_message(resp) == (f"Migration {migration_id} not found for instance "
                                   f"{server_id}")


def test_force_complete_of_another_servers_migration_is_400(env: Env) -> None:
    server_id, _ = migrating(env, "running")
    _other, migration = migrating(env, "running")
    assert force_complete(env, server_id, migration.id).status_int == 400


@pytest.mark.parametrize(("vm_state", "task_state", "attr", "state"), [
    ("paused", "migrating", "vm_state", "paused"),
    ("active", None, "task_state", "None"),
])
def test_force_complete_wrong_instance_state_is_409(env: Env, vm_state: str,
                                                    task_state: str | None, attr: str,
                                                    state: str) -> None:
    server_id, migration = migrating(env, "running", vm_state=vm_state)
    env.db.instance_update(get_admin_context(), server_id, {"task_state": task_state})
    resp = force_complete(env, server_id, migration.id)
    assert resp.status_int == 409
    assert error_message(resp) == (f"Cannot 'force_complete' instance {server_id} while "
                                   f"it is in {attr} {state}")


def test_force_complete_of_a_locked_server_is_409_unless_admin(env: Env,
                                                               token_app: Any) -> None:
    server_id, migration = migrating(env, "running")
    env.db.instance_update(get_admin_context(), server_id,
                           {"locked": True, "locked_by": "owner"})
    resp = force_complete(env, server_id, migration.id, token=MANAGER, app=token_app)
    assert resp.status_int == 409
    assert force_complete(env, server_id, migration.id).status_int == 202


@pytest.mark.parametrize("body", [{"force_complete": {}}, {"force_complete": 1},
                                  {"other": None}, {"force_complete": None, "x": None}])
def test_bad_force_complete_bodies_are_400(env: Env, body: dict) -> None:
    server_id, migration = migrating(env, "running")
    resp = force_complete(env, server_id, migration.id, body=body)
    assert resp.status_int == 400
    assert env.casts == []


def test_force_complete_exists_from_2_22(env: Env) -> None:
    server_id, migration = migrating(env, "running")
    assert force_complete(env, server_id, migration.id, version="2.21").status_int == 404
    assert force_complete(env, server_id, migration.id, version=None).status_int == 404
    assert env.casts == []


def test_force_complete_policy(env: Env, token_app: Any) -> None:
    server_id, migration = migrating(env, "running")
    for token in (MEMBER_TOKEN, READER):
        resp = force_complete(env, server_id, migration.id, token=token, app=token_app)
        assert resp.status_int == 403
        assert "os_compute_api:servers:migrations:force_complete" in error_message(resp)
    assert force_complete(env, server_id, migration.id, token=OTHER).status_int == 404
    assert env.casts == []
    resp = force_complete(env, server_id, migration.id, token=MANAGER, app=token_app)
    assert resp.status_int == 202


# -- abort (DELETE) ------------------------------------------------------------------------

@pytest.mark.parametrize("vm_state", ["active", "paused"])
def test_abort_casts_to_the_source(env: Env, vm_state: str) -> None:
    server_id, migration = migrating(env, "running", vm_state=vm_state)
    resp = abort(env, server_id, migration.id)
    assert resp.status_int == 202 and resp.body == b""
    (name, cast), = env.casts
    assert name == "live_migration_abort"
    assert (cast["host"], cast["instance"].uuid, cast["migration_id"]) == (
        "c1", server_id, migration.id)
    assert actions(env, server_id)[0] == "live_migration_cancel"
    assert env.db.migration_get(get_admin_context(), migration.id).status == "running"


@pytest.mark.parametrize(("status", "version", "code"), [
    ("running", "2.24", 202),
    ("queued", "2.24", 400), ("preparing", "2.64", 400),
    ("queued", "2.65", 202), ("preparing", "2.65", 202), ("running", "2.90", 202),
    ("accepted", "2.65", 400), ("accepted", "2.24", 400),
    ("post-migrating", "2.65", 400), ("completed", "2.65", 400),
    ("cancelled", "2.90", 400), ("error", "2.90", 400),
])
def test_abort_status_rules(env: Env, status: str, version: str, code: int) -> None:
    server_id, migration = migrating(env, status)
    resp = abort(env, server_id, migration.id, version=version)
    assert resp.status_int == code, resp.body
    if code == 400:
        assert error_message(resp) == (
            f"Migration {migration.id} state of instance {server_id} is {status}. Cannot "
            f"abort live migration while the migration is in this state.")
        assert env.casts == []
    else:
        assert env.cast_names() == ["live_migration_abort"]


def test_abort_of_a_cold_migration_is_400(env: Env) -> None:
    server_id, migration = migrating(env, "migrating",
                                     migration_type=MigrationType.MIGRATION.value)
    assert abort(env, server_id, migration.id, version="2.65").status_int == 400


@pytest.mark.parametrize("migration_id", ["999", "abc"])
def test_abort_of_an_unknown_migration_is_404(env: Env, migration_id: str) -> None:
    server_id, _ = migrating(env, "running")
    resp = abort(env, server_id, migration_id)
    assert resp.status_int == 404
    assert error_message(resp) == (f"Migration {migration_id} not found for instance "
                                   f"{server_id}")


def test_abort_of_another_servers_migration_is_404(env: Env) -> None:
    server_id, _ = migrating(env, "running")
    _other, migration = migrating(env, "running")
    assert abort(env, server_id, migration.id).status_int == 404


def test_abort_when_not_migrating_or_locked_is_409(env: Env, token_app: Any) -> None:
    server_id, migration = migrating(env, "running")
    env.db.instance_update(get_admin_context(), server_id, {"task_state": None})
    resp = abort(env, server_id, migration.id)
    assert resp.status_int == 409
    assert error_message(resp) == (f"Cannot 'abort live migration' instance {server_id} "
                                   f"while it is in task_state None")
    locked, locked_migration = migrating(env, "running")
    env.db.instance_update(get_admin_context(), locked,
                           {"locked": True, "locked_by": "owner"})
    resp = abort(env, locked, locked_migration.id, token=MANAGER, app=token_app)
    assert resp.status_int == 409 and error_message(resp) == f"Instance {locked} is locked"
    assert env.casts == []


def test_abort_exists_from_2_24(env: Env) -> None:
    server_id, migration = migrating(env, "running")
    assert abort(env, server_id, migration.id, version="2.23").status_int == 404
    assert env.casts == []


def test_abort_policy(env: Env, token_app: Any) -> None:
    server_id, migration = migrating(env, "running")
    for token in (MEMBER_TOKEN, READER):
        resp = abort(env, server_id, migration.id, token=token, app=token_app)
        assert resp.status_int == 403
        assert "os_compute_api:servers:migrations:delete" in error_message(resp)
    assert abort(env, server_id, migration.id, token=OTHER).status_int == 404
    assert env.casts == []
    assert abort(env, server_id, migration.id, token=MANAGER, app=token_app).status_int == 202


def test_the_migration_show_route_still_answers(env: Env) -> None:
    server_id, migration = migrating(env, "running")
    resp = call(env.app, f"/v2.1/servers/{server_id}/migrations/{migration.id}",
                version="2.23")
    assert resp.status_int == 200 and resp.json["migration"]["status"] == "running"
