"""ServerManager and Server: paging, find, create, actions per microversion, waits."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from novalite.client import Client, exceptions
from novalite.client.resources import Server
from tests.unit.client.conftest import Recorded, Stub, fault, make_client, server_body

UUIDS = [f"00000000-0000-0000-0000-{n:012d}" for n in range(1, 8)]
S1 = UUIDS[0]


def _not_found(path: str = "") -> tuple[int, dict]:
    return 404, fault(404, f"Instance {path} could not be found.", "itemNotFound")


# -- listing ------------------------------------------------------------------------


def _paged_servers(stub: Stub, page_size: int = 3) -> None:
    """/servers/detail over UUIDS, Nova-style: pages of at most `page_size` (or the
    asked limit), a next link on full pages, marker = the page's last id. The link
    names another host: only its marker may be used."""
    def handler(req: Recorded) -> tuple[int, dict]:
        marker = req.param("marker")
        start = UUIDS.index(marker) + 1 if marker else 0
        size = min(page_size, int(req.param("limit") or page_size))
        page = UUIDS[start:start + size]
        body: dict[str, Any] = {"servers": [server_body(i, name=f"vm{i[-1]}") for i in page]}
        if len(page) == size:
            body["servers_links"] = [{"rel": "next", "href":
                                      f"http://elsewhere:8774/v2.1/servers/detail?"
                                      f"status=ACTIVE&marker={page[-1]}"}]
        return 200, body

    stub.route("GET", "/servers/detail", handler)


def test_list_follows_next_links_across_pages(stub: Stub, client: Client) -> None:
    _paged_servers(stub)
    servers = client.servers.list(status="ACTIVE")
    assert [s.id for s in servers] == UUIDS
    sent = stub.api_requests()
    assert [r.param("marker") for r in sent] == [None, UUIDS[2], UUIDS[5]]
    assert all(r.param("status") == "ACTIVE" and r.param("limit") is None for r in sent)


def test_list_stops_at_limit(stub: Stub, client: Client) -> None:
    _paged_servers(stub)
    servers = client.servers.list(limit=5)
    assert [s.id for s in servers] == UUIDS[:5]
    assert [(r.param("limit"), r.param("marker")) for r in stub.api_requests()] == [
        ("5", None), ("2", UUIDS[2])]


def test_list_filters(stub: Stub, client: Client) -> None:
    stub.reply("GET", "/servers", 200, {"servers": []})
    client.servers.list(detailed=False, all_projects=True, host="c1",
                        changes_since="2026-01-01T00:00:00Z", locked=False)
    assert stub.last().query == {"all_tenants": ["true"], "host": ["c1"],
                                 "changes-since": ["2026-01-01T00:00:00Z"],
                                 "locked": ["false"]}


# -- find -----------------------------------------------------------------------------


def test_find_by_id(stub: Stub, client: Client) -> None:
    stub.reply("GET", f"/servers/{S1}", 200, {"server": server_body(S1, "web1")})
    assert client.servers.find(S1).name == "web1"
    assert len(stub.api_requests()) == 1


def test_find_by_exact_name(stub: Stub, client: Client) -> None:
    stub.reply("GET", "/servers/web.1", *_not_found())
    # Nova's name filter is a regular expression: only the exact name counts.
    stub.reply("GET", "/servers/detail", 200, {"servers": [
        server_body(UUIDS[1], "web.10"), server_body(UUIDS[2], "web.1")]})
    assert client.servers.find("web.1").id == UUIDS[2]
    assert stub.last().param("name") == r"^web\.1$"
    assert stub.last().param("all_tenants") is None


def test_find_in_other_projects_when_allowed(stub: Stub, client: Client) -> None:
    stub.reply("GET", "/servers/db", *_not_found())
    stub.route("GET", "/servers/detail", lambda req: (200, {"servers": [
        server_body(UUIDS[3], "db")] if req.param("all_tenants") == "true" else []}))
    assert client.servers.find("db").id == UUIDS[3]


def test_find_nothing(stub: Stub, client: Client) -> None:
    stub.reply("GET", "/servers/ghost", *_not_found())
    stub.route("GET", "/servers/detail", lambda req: (
        (403, fault(403, "Policy does not allow it", "forbidden"))
        if req.param("all_tenants") else (200, {"servers": []})))
    with pytest.raises(exceptions.NotFound) as err:
        client.servers.find("ghost")
    assert str(err.value) == "No server with a name or ID of 'ghost' exists."


def test_find_duplicate_names(stub: Stub, client: Client) -> None:
    stub.reply("GET", "/servers/twin", *_not_found())
    stub.reply("GET", "/servers/detail", 200, {"servers": [
        server_body(UUIDS[4], "twin"), server_body(UUIDS[5], "twin")]})
    with pytest.raises(exceptions.NoUniqueMatch) as err:
        client.servers.find("twin")
    assert UUIDS[4] in str(err.value) and UUIDS[5] in str(err.value)


# -- create and delete ----------------------------------------------------------------


def _create_routes(stub: Stub) -> None:
    stub.reply("GET", "/flavors/m1.small", *_not_found())
    stub.reply("GET", "/flavors/detail", 200, {"flavors": [{"id": "42", "name": "m1.small"}]})
    stub.reply("GET", "/images/img-1", 200, {"image": {"id": "img-1", "name": "cirros"}})
    stub.reply("POST", "/servers", 202, {"server": {"id": S1, "adminPass": "pw"}})
    stub.reply("GET", f"/servers/{S1}", 200, {"server": server_body(S1, "web", "BUILD")})


def test_create(stub: Stub, client: Client) -> None:
    _create_routes(stub)
    server = client.servers.create("web", "m1.small", "img-1", max_count=2,
                                   availability_zone="az1", host="c2",
                                   metadata={"k": "v"}, user_data="#!/bin/sh\necho hi\n")
    post = next(r for r in stub.requests if r.method == "POST")
    assert post.body == {"server": {
        "name": "web", "flavorRef": "42", "imageRef": "img-1", "min_count": 1,
        "max_count": 2, "networks": "none", "availability_zone": "az1", "host": "c2",
        "metadata": {"k": "v"},
        "user_data": base64.b64encode(b"#!/bin/sh\necho hi\n").decode()}}
    assert (server.id, server.status, server.get("adminPass")) == (S1, "BUILD", "pw")
    image_get = next(r for r in stub.requests if r.path.startswith("/v2.1/images"))
    assert image_get.version == "2.35"  # the image proxy's last version


def test_create_before_2_37_leaves_networks_out(stub: Stub) -> None:
    _create_routes(stub)
    make_client(stub, api_version="2.36").servers.create("web", "m1.small", "img-1")
    post = next(r for r in stub.requests if r.method == "POST")
    assert "networks" not in post.body["server"]


def test_create_on_a_host_needs_2_74(stub: Stub) -> None:
    with pytest.raises(exceptions.UnsupportedVersion, match="2.74"):
        make_client(stub, api_version="2.73").servers.create("web", "1", "img", host="c1")
    assert stub.api_requests() == []


def test_delete_by_name(stub: Stub, client: Client) -> None:
    stub.reply("GET", "/servers/web", *_not_found())
    stub.reply("GET", "/servers/detail", 200, {"servers": [server_body(S1, "web")]})
    stub.reply("DELETE", f"/servers/{S1}", 204)
    assert client.servers.delete("web") is None
    assert stub.last().method == "DELETE"


# -- actions --------------------------------------------------------------------------


@pytest.mark.parametrize("call, body", [
    (lambda m: m.start(S1), {"os-start": None}),
    (lambda m: m.stop(S1), {"os-stop": None}),
    (lambda m: m.reboot(S1), {"reboot": {"type": "SOFT"}}),
    (lambda m: m.reboot(S1, hard=True), {"reboot": {"type": "HARD"}}),
    (lambda m: m.confirm_resize(S1), {"confirmResize": None}),
    (lambda m: m.revert_resize(S1), {"revertResize": None}),
    (lambda m: m.migrate(S1), {"migrate": None}),
    (lambda m: m.migrate(S1, host="c2"), {"migrate": {"host": "c2"}}),
    (lambda m: m.lock(S1), {"lock": None}),
    (lambda m: m.lock(S1, reason="audit"), {"lock": {"locked_reason": "audit"}}),
    (lambda m: m.unlock(S1), {"unlock": None}),
])
def test_action_bodies(stub: Stub, client: Client, call: Any, body: dict) -> None:
    stub.reply("POST", f"/servers/{S1}/action", 202)
    assert call(client.servers) is None
    assert (stub.last().path, stub.last().body) == (f"/v2.1/servers/{S1}/action", body)


def test_resize_resolves_the_flavor(stub: Stub, client: Client) -> None:
    stub.reply("GET", "/flavors/2", 200, {"flavor": {"id": "2", "name": "m1.medium"}})
    stub.reply("POST", f"/servers/{S1}/action", 202)
    client.servers.resize(Server(client.servers, {"id": S1}), "2")
    assert stub.last().body == {"resize": {"flavorRef": "2"}}


@pytest.mark.parametrize("version, call, needs", [
    ("2.55", lambda m: m.migrate(S1, host="c2"), "2.56"),
    ("2.72", lambda m: m.lock(S1, reason="x"), "2.73"),
])
def test_actions_needing_a_newer_version(stub: Stub, version: str, call: Any,
                                         needs: str) -> None:
    with pytest.raises(exceptions.UnsupportedVersion, match=needs):
        call(make_client(stub, api_version=version).servers)
    assert stub.api_requests() == []


@pytest.mark.parametrize("version, kwargs, body", [
    ("2.1", {}, {"host": None, "block_migration": False, "disk_over_commit": False}),
    ("2.1", {"host": "c2", "block_migration": True},
     {"host": "c2", "block_migration": True, "disk_over_commit": False}),
    ("2.25", {}, {"host": None, "block_migration": "auto"}),
    ("2.25", {"host": "c2", "block_migration": False},
     {"host": "c2", "block_migration": False}),
    ("2.30", {"host": "c2", "force": True},
     {"host": "c2", "block_migration": "auto", "force": True}),
    ("2.30", {}, {"host": None, "block_migration": "auto"}),
    ("2.68", {"host": "c2"}, {"host": "c2", "block_migration": "auto"}),
    ("2.68", {"force": False}, {"host": None, "block_migration": "auto"}),
])
def test_live_migrate_body_per_microversion(stub: Stub, version: str, kwargs: dict,
                                            body: dict) -> None:
    stub.reply("POST", f"/servers/{S1}/action", 202)
    make_client(stub, api_version=version).servers.live_migrate(S1, **kwargs)
    assert stub.last().body == {"os-migrateLive": body}
    assert stub.last().version == version


@pytest.mark.parametrize("version, kwargs", [
    ("2.68", {"host": "c2", "force": True}),
    ("2.29", {"force": True}),
])
def test_live_migrate_force_outside_its_versions(stub: Stub, version: str,
                                                 kwargs: dict) -> None:
    with pytest.raises(exceptions.UnsupportedVersion):
        make_client(stub, api_version=version).servers.live_migrate(S1, **kwargs)
    assert stub.api_requests() == []


# -- server migrations and instance actions ----------------------------------------------


def test_server_migrations(stub: Stub, client: Client) -> None:
    base = f"/servers/{S1}/migrations"
    stub.reply("GET", base, 200, {"migrations": [{"id": 7, "status": "running"}]})
    stub.reply("GET", f"{base}/7", 200, {"migration": {"id": 7, "server_uuid": S1}})
    stub.reply("DELETE", f"{base}/7", 202)
    stub.reply("POST", f"{base}/7/action", 202)
    assert [m.id for m in client.servers.migrations(S1)] == [7]
    assert client.servers.get_migration(S1, 7).server_uuid == S1
    client.servers.abort_migration(S1, 7)
    client.servers.force_complete_migration(S1, 7)
    assert stub.last().body == {"force_complete": None}
    with pytest.raises(exceptions.UnsupportedVersion, match="2.23"):
        make_client(stub, api_version="2.22").servers.migrations(S1)


def test_instance_actions(stub: Stub, client: Client) -> None:
    base = f"/servers/{S1}/os-instance-actions"
    stub.reply("GET", base, 200, {"instanceActions": [
        {"request_id": "req-2", "action": "stop"}, {"request_id": "req-1", "action": "create"}]})
    stub.reply("GET", f"{base}/req-1", 200, {"instanceAction": {
        "request_id": "req-1", "action": "create",
        "events": [{"event": "compute_build_and_run_instance", "result": "Success"}]}})
    assert [a.id for a in client.servers.actions(S1)] == ["req-2", "req-1"]
    action = client.servers.get_action(S1, "req-1")
    assert action.events[0]["event"] == "compute_build_and_run_instance"


# -- waiting ----------------------------------------------------------------------------


def _sequence(stub: Stub, *states: tuple) -> None:
    """Answers to GET /servers/S1: (status, task_state[, extra]) tuples, or a status
    code for a bare error; the last repeats."""
    for state in states:
        if isinstance(state, int):
            stub.reply("GET", f"/servers/{S1}", *_not_found(S1))
        else:
            status, task, *extra = state
            stub.reply("GET", f"/servers/{S1}", 200, {"server": server_body(
                S1, status=status, task_state=task, **(extra[0] if extra else {}))})


def test_wait_for_calls_back_until_settled(stub: Stub, client: Client) -> None:
    _sequence(stub, ("BUILD", "scheduling"), ("BUILD", "spawning"), ("ACTIVE", "deleting"),
              ("ACTIVE", None))
    seen: list[tuple] = []
    server = client.servers.wait_for(S1, "active", interval=0.001,
                                     callback=lambda s: seen.append((s.status, s.task_state)))
    assert (server.status, server.task_state) == ("ACTIVE", None)
    assert seen == [("BUILD", "scheduling"), ("BUILD", "spawning"), ("ACTIVE", "deleting"),
                    ("ACTIVE", None)]


def test_wait_for_error_raises_with_the_fault(stub: Stub, client: Client) -> None:
    _sequence(stub, ("BUILD", "spawning"),
              ("ERROR", None, {"fault": {"code": 500, "message": "No valid host was found."}}))
    with pytest.raises(exceptions.ResourceInErrorState) as err:
        client.servers.wait_for(S1, "ACTIVE", interval=0.001)
    assert str(err.value) == "No valid host was found."
    assert err.value.resource.status == "ERROR"


def test_wait_for_error_without_fault(stub: Stub, client: Client) -> None:
    _sequence(stub, ("ERROR", None))
    with pytest.raises(exceptions.ResourceInErrorState, match="went to ERROR"):
        client.servers.wait_for(S1, "SHUTOFF", interval=0.001)


def test_wait_for_timeout(stub: Stub, client: Client) -> None:
    _sequence(stub, ("MIGRATING", "migrating"))
    with pytest.raises(exceptions.WaitTimeout) as err:
        client.servers.wait_for(S1, "ACTIVE", timeout=0.05, interval=0.01)
    assert "ACTIVE" in str(err.value) and "MIGRATING (task_state migrating)" in str(err.value)


def test_wait_for_deleted(stub: Stub, client: Client) -> None:
    # An ERROR server being deleted is not a failure of the delete.
    _sequence(stub, ("ERROR", "deleting"), ("ERROR", None), 404)
    calls: list[Server] = []
    last = client.servers.wait_for(S1, "DELETED", interval=0.001, callback=calls.append)
    assert len(calls) == 2 and last.status == "ERROR"


def test_wait_for_other_status_on_404_raises(stub: Stub, client: Client) -> None:
    _sequence(stub, 404)
    with pytest.raises(exceptions.NotFound):
        client.servers.wait_for(S1, "ACTIVE", interval=0.001)


# -- the Server resource ------------------------------------------------------------------


def test_server_resource(stub: Stub, client: Client) -> None:
    info = server_body(S1, "web", "ERROR", fault={"code": 500, "message": "boom"})
    server = Server(client.servers, info)
    assert (server.vm_state, server.task_state, server.power_state) == ("error", None, 1)
    assert (server.host, server.hypervisor_hostname, server.availability_zone) == (
        "c1", "c1", "nova")
    assert (server.instance_name, server.fault_message) == ("instance-00000001", "boom")
    assert server.name == "web" and server["OS-EXT-STS:power_state"] == 1
    fields = server.fields()
    assert fields["OS-EXT-STS:vm_state"] == "error" and fields["vm_state"] == "error"
    assert fields["fault_message"] == "boom" and fields["host"] == "c1"
    copy = server.to_dict()
    copy["fault"]["message"] = "changed"
    assert server.fault_message == "boom" and "vm_state" not in copy
    assert repr(server) == f"<Server id='{S1}', name='web', status='ERROR'>"
    with pytest.raises(AttributeError):
        server.no_such_field  # noqa: B018

    stub.reply("GET", f"/servers/{S1}", 200, {"server": server_body(S1, "web", "ACTIVE")})
    assert server.refresh() is server and server.status == "ACTIVE"
    assert server.fault_message is None
    assert server.wait_for("ACTIVE", interval=0.001).status == "ACTIVE"
