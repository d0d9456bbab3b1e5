"""GET /servers/{id}/os-instance-actions[/{request_id}] across microversions."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from novalite.context import get_admin_context
from tests.unit.api.conftest import ADMIN, MEMBER, call
from tests.unit.api.test_servers import (
    OTHER,
    Env,
    error_message,
    make_server_env,
    new_server,
    running_server,
)

ACTION_KEYS = {"action", "instance_uuid", "message", "project_id", "request_id",
               "start_time", "user_id"}
EVENT_KEYS = {"event", "start_time", "finish_time", "result"}


@pytest.fixture
def server_env(app: Any, database: Any, tmp_path: Path,
               monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    with make_server_env(app, database, tmp_path, monkeypatch) as env:
        yield env


def actions(env: Env, server_id: str, token: str = MEMBER, version: str | None = None,
            query: str = "") -> Any:
    return call(env.app, f"/v2.1/servers/{server_id}/os-instance-actions{query}",
                token=token, version=version)


def action(env: Env, server_id: str, request_id: str, token: str = MEMBER,
           version: str | None = None) -> Any:
    return call(env.app, f"/v2.1/servers/{server_id}/os-instance-actions/{request_id}",
                token=token, version=version)


@pytest.fixture
def stopped_with_error(server_env: Env) -> tuple[str, str]:
    """A server whose stop failed on c1: (server id, the stop's request id)."""
    server_id = running_server(server_env)
    resp = call(server_env.app, f"/v2.1/servers/{server_id}/action", "POST", token=MEMBER,
                body={"os-stop": None})
    request_id = resp.headers["x-openstack-request-id"]
    ctx = get_admin_context()
    server_env.db.action_event_start(ctx, server_id, "compute_stop_instance",
                                     request_id=request_id, host="c1")
    server_env.db.action_event_finish(ctx, server_id, "compute_stop_instance", result="Error",
                                      request_id=request_id, traceback="Traceback: boom",
                                      details="the guest did not stop", host="c1")
    return server_id, request_id


def test_list_newest_first(server_env: Env, stopped_with_error: tuple[str, str]) -> None:
    server_id, request_id = stopped_with_error
    resp = actions(server_env, server_id)
    assert resp.status_int == 200
    listed = resp.json["instanceActions"]
    assert [a["action"] for a in listed] == ["stop", "create"]
    assert all(set(a) == ACTION_KEYS for a in listed)
    stop = listed[0]
    assert (stop["request_id"], stop["instance_uuid"], stop["project_id"], stop["user_id"],
            stop["message"]) == (request_id, server_id, "demo", "alice", "Error")
    assert "T" in stop["start_time"] and "." in stop["start_time"]
    at_258 = actions(server_env, server_id, version="2.58").json["instanceActions"]
    assert all(set(a) == ACTION_KEYS | {"updated_at"} for a in at_258)
    assert "instance_actions_links" not in actions(server_env, server_id, version="2.58").json


def test_show_events_per_version_and_policy(server_env: Env,
                                            stopped_with_error: tuple[str, str]) -> None:
    server_id, request_id = stopped_with_error
    # Before 2.51 a member sees no events at all; an administrator sees them.
    member = action(server_env, server_id, request_id, version="2.50").json["instanceAction"]
    assert set(member) == ACTION_KEYS
    admin = action(server_env, server_id, request_id, token=ADMIN,
                   version="2.50").json["instanceAction"]
    (event,) = admin["events"]
    assert set(event) == EVENT_KEYS | {"traceback"}
    assert (event["event"], event["result"], event["traceback"]) == (
        "compute_stop_instance", "Error", "Traceback: boom")
    # 2.51: events for everyone, the traceback still for administrators only.
    (event,) = action(server_env, server_id, request_id,
                      version="2.51").json["instanceAction"]["events"]
    assert set(event) == EVENT_KEYS
    # 2.62: hostId for everyone, host for administrators.
    (event,) = action(server_env, server_id, request_id,
                      version="2.62").json["instanceAction"]["events"]
    assert set(event) == EVENT_KEYS | {"hostId"}
    assert event["hostId"] == hashlib.sha224(b"democ1").hexdigest()
    (event,) = action(server_env, server_id, request_id, token=ADMIN,
                      version="2.62").json["instanceAction"]["events"]
    assert set(event) == EVENT_KEYS | {"traceback", "hostId", "host"} and event["host"] == "c1"
    # 2.84: details (administrators by default).
    (event,) = action(server_env, server_id, request_id, token=ADMIN,
                      version="2.84").json["instanceAction"]["events"]
    assert event["details"] == "the guest did not stop"
    (event,) = action(server_env, server_id, request_id,
                      version="2.84").json["instanceAction"]["events"]
    assert "details" not in event and "traceback" not in event
    shown = action(server_env, server_id, request_id, version="2.58").json["instanceAction"]
    assert set(shown) == ACTION_KEYS | {"updated_at", "events"}


def test_paging_from_2_58(server_env: Env) -> None:
    server_id = running_server(server_env)
    for body in ({"lock": None}, {"unlock": None}, {"lock": None}, {"unlock": None}):
        call(server_env.app, f"/v2.1/servers/{server_id}/action", "POST", token=MEMBER,
             body=body)
    everything = [a["request_id"] for a in actions(
        server_env, server_id, version="2.58").json["instanceActions"]]
    assert len(everything) == 5
    seen, query = [], "?limit=2"
    while True:
        body = actions(server_env, server_id, version="2.58", query=query).json
        seen += [a["request_id"] for a in body["instanceActions"]]
        links = body.get("instance_actions_links")
        if not links:
            break
        assert links[0]["rel"] == "next"
        query = "?" + links[0]["href"].split("?", 1)[1]
    assert seen == everything
    # Before 2.58 paging parameters are not read.
    assert len(actions(server_env, server_id, query="?limit=1").json["instanceActions"]) == 5


@pytest.mark.parametrize(("query", "version"), [
    ("?marker=req-nope", "2.58"), ("?limit=x", "2.58"), ("?bogus=1", "2.58"),
    ("?changes-since=never", "2.58"), ("?changes-before=2020-01-01T00:00:00", "2.65"),
])
def test_bad_list_parameters_are_400(server_env: Env, query: str, version: str) -> None:
    server_id = running_server(server_env)
    assert actions(server_env, server_id, version=version, query=query).status_int == 400


def test_changes_since(server_env: Env) -> None:
    server_id = running_server(server_env)
    found = actions(server_env, server_id, version="2.66",
                    query="?changes-since=2000-01-01T00:00:00Z").json["instanceActions"]
    assert len(found) == 1
    assert actions(server_env, server_id, version="2.66",
                   query="?changes-since=2999-01-01T00:00:00").json["instanceActions"] == []
    assert actions(server_env, server_id, version="2.66",
                   query="?changes-before=2000-01-01T00:00:00").json["instanceActions"] == []


def test_deleted_servers_from_2_21(server_env: Env) -> None:
    server_id = new_server(server_env)
    call(server_env.app, f"/v2.1/servers/{server_id}", "DELETE", token=MEMBER)
    assert actions(server_env, server_id, version="2.20").status_int == 404
    listed = actions(server_env, server_id, version="2.21").json["instanceActions"]
    assert [a["action"] for a in listed] == ["delete", "create"]


def test_not_found(server_env: Env) -> None:
    server_id = running_server(server_env)
    resp = action(server_env, server_id, "req-unknown")
    assert resp.status_int == 404 and "req-unknown" in error_message(resp)
    request_id = actions(server_env, server_id).json["instanceActions"][0]["request_id"]
    assert action(server_env, server_id, request_id, token=OTHER).status_int == 404
    assert actions(server_env, server_id, token=OTHER).status_int == 404
    assert action(server_env, server_id, request_id, token=ADMIN).status_int == 200
