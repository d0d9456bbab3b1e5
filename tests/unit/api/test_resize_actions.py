"""resize, migrate, confirmResize, revertResize and the delete of a resized server,
through the whole API on SQLite, with every RPC cast captured.

The conductor creates the migration record of a resize or cold migration, so for those
the cast's payload is what is checked; confirm and revert change a [finished] migration
each test creates, as the destination's finish_resize would have left it.
"""

from __future__ import annotations

import concurrent.futures
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from novalite import quota
from novalite.api import deploy
from novalite.compute.rpcapi import ComputeAPI
from novalite.conductor.rpcapi import ConductorAPI
from novalite.conf import CONF
from novalite.context import get_admin_context
from novalite.db import allocations
from novalite.db import flavors as flavor_db
from novalite.objects.instance import Instance
from novalite.objects.migration import Migration
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


@pytest.fixture
def env(app: Any, database: Any, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    """make_server_env plus flavors 3 (4 vcpus, 4 GiB, 40 GiB) and lowram (4 vcpus,
    1 GiB, 40 GiB), a third compute host c3 (up), and the resize casts captured."""
    with make_server_env(app, database, tmp_path, monkeypatch) as server_env:
        monkeypatch.setattr(ConductorAPI, "migrate_server", _recorder(
            server_env.casts, "migrate_server",
            ("instance", "flavor", "requested_host", "migration_type")))
        for name in ("confirm_resize", "revert_resize"):
            monkeypatch.setattr(ComputeAPI, name, _recorder(
                server_env.casts, name, ("host", "instance", "migration")))
        ctx = get_admin_context()
        flavor_db.flavor_create(ctx, {"flavorid": "3", "name": "m1.medium", "vcpus": 4,
                                      "memory_mb": 4096, "root_gb": 40})
        flavor_db.flavor_create(ctx, {"flavorid": "lowram", "name": "m1.lowram", "vcpus": 4,
                                      "memory_mb": 1024, "root_gb": 40})
        make_service(database, "c3")
        database.compute_node_report(ctx, "c3", "c3", {"vcpus": 16, "memory_mb": 32768,
                                                       "local_gb": 500})
        yield server_env


@pytest.fixture
def token_app(env: Env, tmp_path: Path) -> Any:
    """The same API with token auth: a project manager of 'demo' and the tokens below."""
    tokens = tmp_path / "resize-tokens.json"
    tokens.write_text(json.dumps({
        MANAGER: {"user_id": "mona", "project_id": "demo", "roles": ["manager"]},
        "member-token": {"user_id": "alice", "project_id": "demo", "roles": ["member"]},
        "reader-token": {"user_id": "rita", "project_id": "demo", "roles": ["reader"]},
        "admin-token": {"user_id": "root", "project_id": "ops", "roles": ["admin"]},
    }))
    CONF.set_override("auth_strategy", "token", group="api")
    CONF.set_override("token_file", str(tokens), group="api")
    return deploy.build_app(CONF)


def act(env: Env, server_id: str, body: Any, token: str = MEMBER,
        version: str | None = None, app: Any = None) -> Any:
    return call(app or env.app, f"/v2.1/servers/{server_id}/action", "POST", token=token,
                version=version, body=body)


def row(env: Env, server_id: str) -> Any:
    return env.db.instance_get(get_admin_context(), server_id)


def actions(env: Env, server_id: str) -> list[str]:
    return [a.action for a in env.db.actions_get(get_admin_context(), server_id)]


def snapshot(flavorid: str) -> dict[str, Any]:
    return flavor_db.flavor_snapshot(flavor_db.flavor_get_by_flavorid(get_admin_context(),
                                                                      flavorid))


def resized_server(env: Env, source: str = "c1", dest: str = "c3", old: str = "1",
                   new: str = "2", old_vm_state: str = "active",
                   token: str = MEMBER) -> tuple[str, Any]:
    """A server in VERIFY_RESIZE on `dest` and its [finished] migration from `source`,
    as the destination's finish_resize leaves them."""
    server_id = running_server(env, token=token, host=dest, vm_state="resized",
                               flavor=snapshot(new), old_flavor=snapshot(old),
                               new_flavor=snapshot(new),
                               system_metadata={"old_vm_state": old_vm_state})
    owner = row(env, server_id)
    migration = env.db.migration_create(get_admin_context(), {
        "instance_uuid": server_id, "migration_type": "resize", "status": "finished",
        "source_compute": source, "source_node": source, "dest_compute": dest,
        "dest_node": dest, "dest_host": dest, "old_flavor": snapshot(old),
        "new_flavor": snapshot(new), "project_id": owner.project_id,
        "user_id": owner.user_id})
    return server_id, migration


def migration_status(env: Env, migration: Any) -> str:
    return env.db.migration_get(get_admin_context(), migration.id).status


# -- resize ----------------------------------------------------------------------------

@pytest.mark.parametrize(("vm_state", "flavor_ref"), [
    ("active", "2"), ("stopped", 2), ("active", "http://nova.example/flavors/2")])
def test_resize_marks_the_server_and_casts_migrate_server(env: Env, vm_state: str,
                                                          flavor_ref: Any) -> None:
    server_id = running_server(env, vm_state=vm_state)
    resp = act(env, server_id, {"resize": {"flavorRef": flavor_ref}})
    assert resp.status_int == 202 and resp.body == b""
    # The 202 already shows the new status (clients' --wait loops rely on it).
    server = show(env, server_id)
    assert (server["status"], server["OS-EXT-STS:task_state"]) == ("RESIZE", "resize_prep")
    updated = row(env, server_id)
    assert updated.system_metadata["old_vm_state"] == vm_state
    assert updated.progress == 0 and updated.flavor["flavorid"] == "1"
    assert actions(env, server_id) == ["resize", "create"]
    (name, cast), = env.casts
    assert name == "migrate_server"
    assert isinstance(cast["instance"], Instance)
    assert (cast["instance"].uuid, cast["instance"].task_state) == (server_id, "resize_prep")
    assert cast["flavor"] == snapshot("2")
    assert (cast["requested_host"], cast["migration_type"]) == (None, "resize")
    assert cast["ctxt"].request_id == resp.headers["x-openstack-request-id"]


def test_resize_records_disk_config(env: Env) -> None:
    server_id = running_server(env)
    body = {"resize": {"flavorRef": "2", "OS-DCF:diskConfig": "MANUAL"}}
    assert act(env, server_id, body).status_int == 202
    assert row(env, server_id).system_metadata["auto_disk_config"] is False
    assert show(env, server_id)["OS-DCF:diskConfig"] == "MANUAL"


@pytest.mark.parametrize(("start", "flavor_ref", "message"), [
    ("1", "1", "When resizing, instances must change flavor!"),
    ("1", "nope", "Flavor nope could not be found."),
    ("1", "off", "Flavor off could not be found."),
    ("1", "private", "Flavor private could not be found."),
    ("2", "1", "Resize error: Unable to resize disk down."),
    ("3", "2", "Resize error: Unable to resize disk down."),
    ("1", "zero", "Server disk was unable to be resized because: Resize to zero disk "
                  "flavor is not allowed."),
])
def test_resize_refusals_are_400(env: Env, start: str, flavor_ref: str,
                                 message: str) -> None:
    server_id = running_server(env, flavor=snapshot(start))
    resp = act(env, server_id, {"resize": {"flavorRef": flavor_ref}})
    assert resp.status_int == 400, resp.body
    assert resp.json["badRequest"]["message"] == message
    assert row(env, server_id).task_state is None
    assert env.casts == [] and actions(env, server_id) == ["create"]


def test_resize_from_a_zero_disk_flavor_may_pick_any_disk(env: Env) -> None:
    server_id = running_server(env, flavor=snapshot("zero"))
    assert act(env, server_id, {"resize": {"flavorRef": "1"}}).status_int == 202


def test_resize_checks_the_image_against_the_new_flavor(env: Env) -> None:
    server_id = running_server(env, flavor=snapshot("3"), image_ref=env.images["big-ram"])
    resp = act(env, server_id, {"resize": {"flavorRef": "lowram"}})
    assert resp.status_int == 400
    assert error_message(resp) == "Flavor's memory is too small for requested image."


def test_resize_over_quota_is_403(env: Env) -> None:
    server_id = running_server(env)
    big = running_server(env, flavor=snapshot("3"))
    ctx = get_admin_context()
    quota.set_limit(ctx, "demo", "cores", 5)
    resp = act(env, server_id, {"resize": {"flavorRef": "3"}})
    assert resp.status_int == 403
    assert error_message(resp) == ("Quota exceeded for cores: Requested 3, but already "
                                   "used 5 of 5 cores")
    assert row(env, server_id).task_state is None and env.casts == []
    assert actions(env, server_id) == ["create"]
    # A downsize is never refused by the quota, even over lowered limits.
    quota.set_limit(ctx, "demo", "cores", 0)
    quota.set_limit(ctx, "demo", "ram", 0)
    assert act(env, big, {"resize": {"flavorRef": "lowram"}}).status_int == 202


def test_resize_conflicts_are_409(env: Env) -> None:
    down = running_server(env, host="c2")
    resp = act(env, down, {"resize": {"flavorRef": "2"}})
    assert resp.status_int == 409 and "c2" in error_message(resp)
    busy = running_server(env, task_state="powering-off")
    resp = act(env, busy, {"resize": {"flavorRef": "2"}})
    assert resp.status_int == 409
    assert error_message(resp) == (f"Cannot 'resize' instance {busy} while it is in "
                                   f"task_state powering-off")
    errored = running_server(env, vm_state="error")
    resp = act(env, errored, {"resize": {"flavorRef": "2"}})
    assert error_message(resp) == (f"Cannot 'resize' instance {errored} while it is in "
                                   f"vm_state error")
    locked = running_server(env, locked=True, locked_by="owner")
    resp = act(env, locked, {"resize": {"flavorRef": "2"}})
    assert resp.status_int == 409 and error_message(resp) == f"Instance {locked} is locked"
    # The lock does not stop an administrator (Nova).
    assert act(env, locked, {"resize": {"flavorRef": "2"}}, token=ADMIN).status_int == 202
    assert env.cast_names() == ["migrate_server"]


@pytest.mark.parametrize("body", [
    {"resize": None}, {"resize": {}}, {"resize": {"flavorRef": ""}},
    {"resize": {"flavorRef": "2", "OS-DCF:diskConfig": "auto"}},
    {"resize": {"flavorRef": "2", "host": "c3"}}, {"resize": {"flavorRef": None}},
])
def test_bad_resize_bodies_are_400(env: Env, body: dict) -> None:
    server_id = running_server(env)
    resp = act(env, server_id, body)
    assert resp.status_int == 400 and "resize" in error_message(resp)
    assert env.casts == []


def test_resize_of_another_projects_server_is_404(env: Env) -> None:
    server_id = running_server(env)
    assert act(env, server_id, {"resize": {"flavorRef": "2"}}, token=OTHER).status_int == 404


def test_a_failed_migrate_server_cast_puts_the_task_back(
        env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    server_id = running_server(env)

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("the message bus is gone")

    monkeypatch.setattr(ConductorAPI, "migrate_server", broken)
    resp = act(env, server_id, {"resize": {"flavorRef": "2"}})
    assert resp.status_int == 500
    assert row(env, server_id).task_state is None
    resize = env.db.actions_get(get_admin_context(), server_id)[0]
    assert (resize.action, resize.message) == ("resize", "Error")


# -- migrate ---------------------------------------------------------------------------

@pytest.mark.parametrize(("version", "value"), [
    (None, None), (None, {}), ("2.56", None), ("2.56", {}), ("2.56", {"host": None})])
def test_migrate_without_a_host(env: Env, version: str | None, value: Any) -> None:
    server_id = running_server(env, vm_state="stopped")
    resp = act(env, server_id, {"migrate": value}, token=ADMIN, version=version)
    assert resp.status_int == 202 and resp.body == b""
    server = show(env, server_id)
    assert (server["status"], server["OS-EXT-STS:task_state"]) == ("RESIZE", "resize_prep")
    assert row(env, server_id).system_metadata["old_vm_state"] == "stopped"
    assert actions(env, server_id) == ["migrate", "create"]
    (name, cast), = env.casts
    assert name == "migrate_server"
    assert cast["flavor"] == row(env, server_id).flavor
    assert (cast["requested_host"], cast["migration_type"]) == (None, "migration")


def test_migrate_to_a_named_host_from_2_56(env: Env) -> None:
    server_id = running_server(env)
    resp = act(env, server_id, {"migrate": {"host": "c3"}}, token=ADMIN, version="2.56")
    assert resp.status_int == 202
    (name, cast), = env.casts
    assert (name, cast["requested_host"], cast["migration_type"]) == (
        "migrate_server", "c3", "migration")


@pytest.mark.parametrize(("host", "message"), [
    ("c1", "Cannot migrate to the host where the server exists."),
    ("nowhere", "Compute host nowhere could not be found."),
])
def test_migrate_to_a_bad_host_is_400(env: Env, host: str, message: str) -> None:
    server_id = running_server(env)
    resp = act(env, server_id, {"migrate": {"host": host}}, token=ADMIN, version="2.56")
    assert resp.status_int == 400
    assert resp.json["badRequest"]["message"] == message
    assert row(env, server_id).task_state is None and env.casts == []


@pytest.mark.parametrize(("version", "body"), [
    (None, {"migrate": {"host": "c3"}}), ("2.55", {"migrate": {"host": "c3"}}),
    ("2.56", {"migrate": {"host": ""}}), ("2.56", {"migrate": {"host": "c3", "x": 1}}),
    ("2.56", {"migrate": "c3"}), ("2.90", {"migrate": {"force": True}}),
])
def test_bad_migrate_bodies_are_400(env: Env, version: str | None, body: dict) -> None:
    server_id = running_server(env)
    resp = act(env, server_id, body, token=ADMIN, version=version)
    assert resp.status_int == 400, resp.body
    assert "migrate" in error_message(resp)
    assert env.casts == []


def test_migrate_policy(env: Env, token_app: Any) -> None:
    server_id = running_server(env)
    # A member may resize, not migrate; a project manager may migrate, not name a host.
    for token in ("member-token", "reader-token"):
        resp = act(env, server_id, {"migrate": None}, token=token, app=token_app)
        assert resp.status_int == 403
        assert "os_compute_api:os-migrate-server:migrate" in error_message(resp)
    resp = act(env, server_id, {"migrate": {"host": "c3"}}, token=MANAGER, version="2.56",
               app=token_app)
    assert resp.status_int == 403
    assert "os_compute_api:os-migrate-server:migrate:host" in error_message(resp)
    assert env.casts == []
    assert act(env, server_id, {"migrate": None}, token=MANAGER,
               app=token_app).status_int == 202
    assert env.cast_names() == ["migrate_server"]


def test_resize_confirm_revert_policy(env: Env, token_app: Any) -> None:
    server_id = running_server(env)
    for body in ({"resize": {"flavorRef": "2"}}, {"confirmResize": None},
                 {"revertResize": None}):
        assert act(env, server_id, body, token="reader-token",
                   app=token_app).status_int == 403
    assert act(env, server_id, {"resize": {"flavorRef": "2"}}, token="member-token",
               app=token_app).status_int == 202


def test_migrate_conflicts_are_409(env: Env) -> None:
    down = running_server(env, host="c2")
    resp = act(env, down, {"migrate": None}, token=ADMIN)
    assert resp.status_int == 409 and "c2" in error_message(resp)
    resized, _migration = resized_server(env)
    resp = act(env, resized, {"migrate": None}, token=ADMIN)
    assert error_message(resp) == (f"Cannot 'migrate' instance {resized} while it is in "
                                   f"vm_state resized")
    assert env.casts == []


# -- confirmResize ---------------------------------------------------------------------

@pytest.mark.parametrize("value", [None, {}])
def test_confirm_resize(env: Env, value: Any) -> None:
    server_id, migration = resized_server(env)
    resp = act(env, server_id, {"confirmResize": value})
    assert resp.status_int == 204 and resp.body == b""
    updated = row(env, server_id)
    assert (updated.vm_state, updated.task_state) == ("resized", "resize_confirming")
    assert migration_status(env, migration) == "confirming"
    assert actions(env, server_id) == ["confirmResize", "create"]
    (name, cast), = env.casts
    assert (name, cast["host"]) == ("confirm_resize", "c1")  # the source
    assert isinstance(cast["migration"], Migration)
    assert (cast["migration"].id, cast["migration"].status) == (migration.id, "confirming")
    assert cast["instance"].task_state == "resize_confirming"
    assert cast["instance"].host == "c3"


def test_confirm_refusals(env: Env) -> None:
    active = running_server(env)
    resp = act(env, active, {"confirmResize": None})
    assert resp.status_int == 409
    assert error_message(resp) == (f"Cannot 'confirmResize' instance {active} while it "
                                   f"is in vm_state active")
    # Resized, but its migration is not [finished] (Nova: 400).
    server_id, migration = resized_server(env)
    env.db.migration_update(get_admin_context(), migration.id, {"status": "error"})
    for body in ({"confirmResize": None}, {"revertResize": None}):
        resp = act(env, server_id, body)
        assert resp.status_int == 400
        assert resp.json["badRequest"]["message"] == "Instance has not been resized."
    assert env.casts == []


def test_confirm_needs_the_source_up(env: Env) -> None:
    server_id, migration = resized_server(env, source="c2")
    resp = act(env, server_id, {"confirmResize": None})
    assert resp.status_int == 409 and "c2" in error_message(resp)
    # Nothing changed, so the user can retry once the source is back.
    assert migration_status(env, migration) == "finished"
    assert row(env, server_id).task_state is None
    assert actions(env, server_id) == ["create"] and env.casts == []


def test_confirm_and_revert_of_a_locked_server(env: Env) -> None:
    server_id, migration = resized_server(env)
    env.db.instance_update(get_admin_context(), server_id,
                           {"locked": True, "locked_by": "owner"})
    for body in ({"confirmResize": None}, {"revertResize": None}):
        resp = act(env, server_id, body)
        assert resp.status_int == 409 and error_message(resp).endswith("is locked")
    assert migration_status(env, migration) == "finished"
    assert act(env, server_id, {"confirmResize": None}, token=ADMIN).status_int == 204


@pytest.mark.parametrize("body", [
    {"confirmResize": {"force": True}}, {"confirmResize": "yes"},
    {"revertResize": {"x": 1}}, {"revertResize": []},
])
def test_bad_confirm_and_revert_bodies_are_400(env: Env, body: dict) -> None:
    server_id, _migration = resized_server(env)
    assert act(env, server_id, body).status_int == 400
    assert env.casts == []


def test_a_failed_confirm_cast_puts_the_migration_back(
        env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    server_id, migration = resized_server(env)

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("the message bus is gone")

    monkeypatch.setattr(ComputeAPI, "confirm_resize", broken)
    assert act(env, server_id, {"confirmResize": None}).status_int == 500
    assert row(env, server_id).task_state is None
    assert migration_status(env, migration) == "finished"
    confirm = env.db.actions_get(get_admin_context(), server_id)[0]
    assert (confirm.action, confirm.message) == ("confirmResize", "Error")
    # So confirming again works.
    monkeypatch.undo()
    monkeypatch.setattr(ComputeAPI, "confirm_resize", _recorder(
        env.casts, "confirm_resize", ("host", "instance", "migration")))
    assert act(env, server_id, {"confirmResize": None}).status_int == 204


# -- revertResize ----------------------------------------------------------------------

@pytest.mark.parametrize("value", [None, {}])
def test_revert_resize(env: Env, value: Any) -> None:
    server_id, migration = resized_server(env)
    resp = act(env, server_id, {"revertResize": value})
    assert resp.status_int == 202 and resp.body == b""
    server = show(env, server_id)
    assert (server["status"], server["OS-EXT-STS:task_state"]) == (
        "REVERT_RESIZE", "resize_reverting")
    assert migration_status(env, migration) == "reverting"
    assert actions(env, server_id) == ["revertResize", "create"]
    (name, cast), = env.casts
    assert (name, cast["host"]) == ("revert_resize", "c3")  # the destination
    assert (cast["migration"].id, cast["migration"].status) == (migration.id, "reverting")
    assert cast["instance"].task_state == "resize_reverting"


def test_revert_to_a_bigger_flavor_checks_the_quota(env: Env) -> None:
    # Resized down from m1.small (2 vcpus) to m1.tiny (1): going back adds a core.
    server_id, migration = resized_server(env, old="2", new="1")
    quota.set_limit(get_admin_context(), "demo", "cores", 1)
    resp = act(env, server_id, {"revertResize": None})
    assert resp.status_int == 403
    assert error_message(resp) == ("Quota exceeded for cores: Requested 1, but already "
                                   "used 1 of 1 cores")
    assert migration_status(env, migration) == "finished"
    assert row(env, server_id).task_state is None and env.casts == []
    # Confirming needs no quota.
    assert act(env, server_id, {"confirmResize": None}).status_int == 204


def test_revert_refusals(env: Env) -> None:
    stopped = running_server(env, vm_state="stopped")
    resp = act(env, stopped, {"revertResize": None})
    assert resp.status_int == 409
    assert error_message(resp) == (f"Cannot 'revertResize' instance {stopped} while it "
                                   f"is in vm_state stopped")
    server_id, _migration = resized_server(env)
    assert act(env, server_id, {"revertResize": None}).status_int == 202
    resp = act(env, server_id, {"revertResize": None})
    assert resp.status_int == 409
    assert error_message(resp) == (f"Cannot 'revertResize' instance {server_id} while it "
                                   f"is in task_state resize_reverting")
    assert act(env, server_id, {"confirmResize": None}).status_int == 409
    assert env.cast_names() == ["revert_resize"]


def test_ten_concurrent_confirms_and_reverts_have_one_winner(env: Env) -> None:
    server_id, migration = resized_server(env)
    barrier = threading.Barrier(10)

    def attempt(index: int) -> int:
        body = {"confirmResize": None} if index % 2 else {"revertResize": None}
        barrier.wait()
        return act(env, server_id, body).status_int

    with concurrent.futures.ThreadPoolExecutor(10) as pool:
        codes = list(pool.map(attempt, range(10)))
    winners = [code for code in codes if code in (202, 204)]
    assert len(winners) == 1 and codes.count(409) == 9, codes
    (name, cast), = env.casts
    expected = {204: ("confirm_resize", "confirming", "resize_confirming", "c1"),
                202: ("revert_resize", "reverting", "resize_reverting", "c3")}[winners[0]]
    assert (name, migration_status(env, migration), row(env, server_id).task_state,
            cast["host"]) == expected
    assert len(actions(env, server_id)) == 2


# -- delete of a resized server --------------------------------------------------------

def test_delete_of_a_resized_server_confirms_first(env: Env) -> None:
    server_id, migration = resized_server(env)
    resp = call(env.app, f"/v2.1/servers/{server_id}", "DELETE", token=MEMBER)
    assert resp.status_int == 204
    assert env.cast_names() == ["confirm_resize", "terminate_instance"]
    confirm, terminate = (cast for _name, cast in env.casts)
    assert confirm["host"] == "c1" and confirm["migration"].status == "confirming"
    assert confirm["instance"].task_state == "deleting"
    assert terminate["instance"].host == "c3"  # the destination, where it lives now
    assert migration_status(env, migration) == "confirming"
    updated = row(env, server_id)
    assert (updated.vm_state, updated.task_state) == ("resized", "deleting")
    assert actions(env, server_id) == ["delete", "create"]


def test_delete_while_confirming_or_reverting_only_terminates(env: Env) -> None:
    server_id, _migration = resized_server(env)
    assert act(env, server_id, {"revertResize": None}).status_int == 202
    env.casts.clear()
    assert call(env.app, f"/v2.1/servers/{server_id}", "DELETE",
                token=MEMBER).status_int == 204
    assert env.cast_names() == ["terminate_instance"]


def test_a_failed_confirm_cast_on_delete_changes_nothing(
        env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    server_id, migration = resized_server(env)

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("the message bus is gone")

    monkeypatch.setattr(ComputeAPI, "confirm_resize", broken)
    resp = call(env.app, f"/v2.1/servers/{server_id}", "DELETE", token=MEMBER)
    assert resp.status_int == 500
    assert migration_status(env, migration) == "finished"
    assert row(env, server_id).task_state is None
    assert "terminate_instance" not in env.cast_names()


def test_local_delete_of_a_resized_server(env: Env) -> None:
    """The destination is down: deleted here, every allocation released, and the
    source (up) still asked to remove what it kept of the old guest."""
    ctx = get_admin_context()
    server_id, migration = resized_server(env, dest="c2")
    nodes = {n.host: n for n in env.db.compute_node_get_all(ctx)}
    assert allocations.claim(ctx, server_id, nodes["c2"].uuid, 2, 2048, 20, "demo", "alice")
    assert allocations.claim(ctx, migration.uuid, nodes["c1"].uuid, 1, 512, 1, "demo",
                             "alice")
    resp = call(env.app, f"/v2.1/servers/{server_id}", "DELETE", token=MEMBER)
    assert resp.status_int == 204
    assert call(env.app, f"/v2.1/servers/{server_id}", token=MEMBER).status_int == 404
    assert allocations.get_by_consumer(ctx, server_id) == []
    assert allocations.get_by_consumer(ctx, migration.uuid) == []
    (name, cast), = env.casts
    assert (name, cast["host"], cast["migration"].status) == ("confirm_resize", "c1",
                                                              "confirming")
    assert cast["instance"].vm_state == "deleted"
    assert migration_status(env, migration) == "confirming"
