"""POST /servers/{id}/action: os-start, os-stop, reboot, lock, unlock (SQLite, casts
captured)."""

from __future__ import annotations

import concurrent.futures
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from novalite.compute.rpcapi import ComputeAPI
from novalite.context import get_admin_context
from tests.unit.api.conftest import ADMIN, MEMBER, call
from tests.unit.api.test_servers import (
    OTHER,
    Env,
    error_message,
    make_server_env,
    new_server,
    place,
    running_server,
    show,
)


@pytest.fixture
def server_env(app: Any, database: Any, tmp_path: Path,
               monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    with make_server_env(app, database, tmp_path, monkeypatch) as env:
        yield env


def act(env: Env, server_id: str, body: Any, token: str = MEMBER,
        version: str | None = None) -> Any:
    return call(env.app, f"/v2.1/servers/{server_id}/action", "POST", token=token,
                version=version, body=body)


def row(env: Env, server_id: str) -> Any:
    return env.db.instance_get(get_admin_context(), server_id)


# -- start / stop ----------------------------------------------------------------------

@pytest.mark.parametrize("value", [None, {}])
def test_stop_then_start(server_env: Env, value: Any) -> None:
    server_id = running_server(server_env)
    resp = act(server_env, server_id, {"os-stop": value})
    assert resp.status_int == 202 and resp.body == b""
    # The 202 already shows the new task, so clients' --wait loops see it.
    server = show(server_env, server_id)
    assert (server["status"], server["OS-EXT-STS:task_state"]) == ("ACTIVE", "powering-off")
    (name, cast), = server_env.casts
    assert name == "stop_instance" and cast["instance"].task_state == "powering-off"
    assert cast["instance"].host == "c1" and cast["clean_shutdown"] is True
    assert cast["ctxt"].request_id == resp.headers["x-openstack-request-id"]

    place(server_env, server_id, vm_state="stopped", power_state=4)
    server_env.casts.clear()
    assert act(server_env, server_id, {"os-start": value}).status_int == 202
    assert row(server_env, server_id).task_state == "powering-on"
    assert server_env.cast_names() == ["start_instance"]
    actions = server_env.db.actions_get(get_admin_context(), server_id)
    assert [a.action for a in actions] == ["start", "stop", "create"]


@pytest.mark.parametrize(("vm_state", "body", "message"), [
    ("stopped", {"os-stop": None}, "Cannot 'stop' instance {id} while it is in vm_state "
                                   "stopped"),
    ("active", {"os-start": None}, "Cannot 'start' instance {id} while it is in vm_state "
                                   "active"),
    ("stopped", {"reboot": {"type": "SOFT"}}, "Cannot 'reboot' instance {id} while it is "
                                              "in vm_state stopped"),
])
def test_wrong_state_is_409_with_novas_message(server_env: Env, vm_state: str, body: dict,
                                               message: str) -> None:
    server_id = running_server(server_env, vm_state=vm_state)
    resp = act(server_env, server_id, body)
    assert resp.status_int == 409
    assert resp.json["conflictingRequest"]["message"] == message.format(id=server_id)
    assert server_env.casts == []


def test_a_task_in_progress_is_409_naming_it(server_env: Env) -> None:
    server_id = running_server(server_env, task_state="powering-off")
    resp = act(server_env, server_id, {"os-stop": None})
    assert resp.status_int == 409
    assert error_message(resp).endswith("while it is in task_state powering-off")


def test_twenty_concurrent_stops_have_one_winner(server_env: Env) -> None:
    server_id = running_server(server_env)
    barrier = threading.Barrier(20)

    def stop(_: int) -> int:
        barrier.wait()
        return act(server_env, server_id, {"os-stop": None}).status_int

    with concurrent.futures.ThreadPoolExecutor(20) as pool:
        codes = list(pool.map(stop, range(20)))
    assert sorted(codes) == [202] + [409] * 19, codes
    assert server_env.cast_names() == ["stop_instance"]
    assert row(server_env, server_id).task_state == "powering-off"
    actions = server_env.db.actions_get(get_admin_context(), server_id)
    assert [a.action for a in actions] == ["stop", "create"]


@pytest.mark.parametrize("body", [{"os-start": None}, {"os-stop": None},
                                  {"reboot": {"type": "HARD"}}])
def test_host_down_is_409_and_changes_nothing(server_env: Env, body: dict) -> None:
    vm_state = "stopped" if "os-start" in body else "active"
    server_id = running_server(server_env, host="c2", vm_state=vm_state)
    resp = act(server_env, server_id, body)
    assert resp.status_int == 409 and "c2" in error_message(resp)
    assert row(server_env, server_id).task_state is None
    assert server_env.casts == []
    assert [a.action for a in server_env.db.actions_get(get_admin_context(), server_id)] == [
        "create"]


def test_no_host_yet_is_409(server_env: Env) -> None:
    server_id = new_server(server_env)
    resp = act(server_env, server_id, {"os-stop": None})
    assert resp.status_int == 409 and "not ready" in error_message(resp)


def test_a_failed_cast_puts_the_task_back(server_env: Env,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    server_id = running_server(server_env)

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("the message bus is gone")

    monkeypatch.setattr(ComputeAPI, "stop_instance", broken)
    resp = act(server_env, server_id, {"os-stop": None})
    assert resp.status_int == 500 and "computeFault" in resp.json
    assert row(server_env, server_id).task_state is None
    stop = server_env.db.actions_get(get_admin_context(), server_id)[0]
    assert (stop.action, stop.message) == ("stop", "Error")


# -- reboot ----------------------------------------------------------------------------

def test_soft_and_hard_reboot(server_env: Env) -> None:
    server_id = running_server(server_env)
    assert act(server_env, server_id, {"reboot": {"type": "SOFT"}}).status_int == 202
    server = show(server_env, server_id)
    assert (server["status"], server["OS-EXT-STS:task_state"]) == ("REBOOT", "reboot_pending")
    (name, cast), = server_env.casts
    assert (name, cast["reboot_type"]) == ("reboot_instance", "SOFT")
    # A hard reboot may take over a soft one in progress; a second soft may not.
    assert act(server_env, server_id, {"reboot": {"type": "soft"}}).status_int == 409
    assert act(server_env, server_id, {"reboot": {"type": "hard"}}).status_int == 202
    assert show(server_env, server_id)["status"] == "HARD_REBOOT"
    assert server_env.casts[-1][1]["reboot_type"] == "HARD"


@pytest.mark.parametrize("vm_state", ["stopped", "error", "paused"])
def test_hard_reboot_from_more_states(server_env: Env, vm_state: str) -> None:
    server_id = running_server(server_env, vm_state=vm_state)
    assert act(server_env, server_id, {"reboot": {"type": "SOFT"}}).status_int == 409
    assert act(server_env, server_id, {"reboot": {"type": "HARD"}}).status_int == 202
    assert row(server_env, server_id).task_state == "reboot_pending_hard"


@pytest.mark.parametrize("body", [
    {"reboot": {"type": "GENTLE"}}, {"reboot": {}}, {"reboot": None},
    {"reboot": {"type": "SOFT", "force": True}}, {"reboot": "HARD"},
])
def test_bad_reboot_bodies_are_400(server_env: Env, body: dict) -> None:
    server_id = running_server(server_env)
    resp = act(server_env, server_id, body)
    assert resp.status_int == 400 and "reboot" in error_message(resp)


# -- dispatch --------------------------------------------------------------------------

@pytest.mark.parametrize("body", [
    {"evacuate": {"host": None}}, {"frobnicate": None}, {"resizeServer": None},
])
def test_unknown_actions_are_400(server_env: Env, body: dict) -> None:
    server_id = running_server(server_env)
    resp = act(server_env, server_id, body)
    assert resp.status_int == 400
    assert error_message(resp) == f"There is no such action: {next(iter(body))}"


@pytest.mark.parametrize("body", [{}, {"os-stop": None, "os-start": None}, [], "os-stop",
                                  {"os-stop": "now"}, {"os-start": 1}])
def test_malformed_action_bodies_are_400(server_env: Env, body: Any) -> None:
    server_id = running_server(server_env)
    assert act(server_env, server_id, body).status_int == 400
    assert server_env.casts == []


def test_actions_on_another_projects_server_are_404(server_env: Env) -> None:
    server_id = running_server(server_env)
    for body in ({"os-stop": None}, {"reboot": {"type": "HARD"}}, {"lock": None},
                 {"unlock": None}):
        assert act(server_env, server_id, body, token=OTHER).status_int == 404
    assert act(server_env, "not-a-uuid", {"os-stop": None}).status_int == 404
    assert server_env.casts == []


def test_admin_acts_on_any_project(server_env: Env) -> None:
    server_id = running_server(server_env, token=OTHER)
    assert act(server_env, server_id, {"os-stop": None}, token=ADMIN).status_int == 202


# -- lock / unlock ---------------------------------------------------------------------

def test_owner_lock_blocks_members_not_admins(server_env: Env) -> None:
    server_id = running_server(server_env)
    assert act(server_env, server_id, {"lock": None}).status_int == 202
    locked = row(server_env, server_id)
    assert (locked.locked, locked.locked_by, locked.locked_reason) == (True, "owner", None)
    for body in ({"os-stop": None}, {"reboot": {"type": "HARD"}}):
        resp = act(server_env, server_id, body)
        assert resp.status_int == 409
        assert error_message(resp) == f"Instance {server_id} is locked"
    assert call(server_env.app, f"/v2.1/servers/{server_id}", "DELETE",
                token=MEMBER).status_int == 409
    assert server_env.casts == []
    # Locking again as the owner changes nothing; renaming is still allowed (Nova).
    assert act(server_env, server_id, {"lock": {}}).status_int == 202
    assert call(server_env.app, f"/v2.1/servers/{server_id}", "PUT", token=MEMBER,
                body={"server": {"name": "renamed"}}).status_int == 200
    assert act(server_env, server_id, {"os-stop": None}, token=ADMIN).status_int == 202
    assert act(server_env, server_id, {"unlock": None}).status_int == 202
    assert row(server_env, server_id).locked is False
    actions = [a.action for a in server_env.db.actions_get(get_admin_context(), server_id)]
    assert actions == ["unlock", "stop", "lock", "create"]


def test_an_admins_lock_needs_an_admin_to_unlock(server_env: Env) -> None:
    server_id = running_server(server_env)
    assert act(server_env, server_id, {"lock": None}, token=ADMIN).status_int == 202
    assert row(server_env, server_id).locked_by == "admin"
    resp = act(server_env, server_id, {"unlock": None})
    assert resp.status_int == 403 and "unlock_override" in error_message(resp)
    assert row(server_env, server_id).locked is True
    assert act(server_env, server_id, {"unlock": None}, token=ADMIN).status_int == 202
    assert row(server_env, server_id).locked is False


def test_lock_reason_from_2_73(server_env: Env) -> None:
    server_id = running_server(server_env)
    body = {"lock": {"locked_reason": "kernel upgrade"}}
    # Before 2.73 Nova has no schema for lock: the body is accepted, the reason ignored.
    assert act(server_env, server_id, body, version="2.72").status_int == 202
    assert row(server_env, server_id).locked_reason is None
    assert act(server_env, server_id, {"unlock": None}, version="2.72").status_int == 202
    assert act(server_env, server_id, body, version="2.73").status_int == 202
    server = show(server_env, server_id, version="2.73")
    assert (server["locked"], server["locked_reason"]) == (True, "kernel upgrade")
    assert act(server_env, server_id, {"unlock": None}, version="2.73").status_int == 202
    server = show(server_env, server_id, version="2.73")
    assert (server["locked"], server["locked_reason"]) == (False, None)
    for bad in ({"lock": {"locked_reason": ""}}, {"lock": {"locked_reason": "x" * 256}},
                {"lock": {"reason": "x"}}, {"lock": "x"}):
        assert act(server_env, server_id, bad, version="2.73").status_int == 400, bad


def test_lock_and_unlock_are_recorded_with_an_api_event(server_env: Env) -> None:
    server_id = running_server(server_env)
    act(server_env, server_id, {"lock": None})
    lock = server_env.db.actions_get(get_admin_context(), server_id)[0]
    assert lock.action == "lock" and lock.finish_time is not None
    assert [(e.event, e.result) for e in lock.events] == [("api_lock", "Success")]
