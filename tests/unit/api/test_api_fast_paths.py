"""What the API does once per request rather than per server or per read, and that the
answers stay the same: the views' microversion fields and links (decided once per
request), one read transaction per request for the reads, the policy files looked at
once per interval, and the create path without usage counting when nothing is limited.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from oslo_config import cfg
from oslo_policy import opts as policy_opts
from oslo_policy import policy as oslo_policy

from novalite import exception
from novalite.api import microversion, policy
from novalite.conf import CONF
from novalite.context import RequestContext, get_admin_context
from novalite.db import api as db
from tests.unit.api.conftest import ADMIN, MEMBER, call
from tests.unit.api.test_servers import (
    Env,
    make_server_env,
    new_server,
    place,
    running_server,
    show,
)

# Every version at which a server's view changes, and one on each side of some.
VIEW_VERSIONS = ("2.1", "2.2", "2.3", "2.9", "2.15", "2.16", "2.19", "2.26", "2.46",
                 "2.47", "2.63", "2.71", "2.73", "2.75", "2.89", "2.90")


@pytest.fixture
def server_env(app: Any, database: Any, tmp_path: Path,
               monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    with make_server_env(app, database, tmp_path, monkeypatch) as env:
        yield env


def _servers(env: Env) -> list[str]:
    """A running server, one in ERROR with a fault, one building without a host, and a
    locked, stopped one with the extras recorded in system metadata."""
    ctx = get_admin_context()
    running = running_server(env, description="d")
    failed = new_server(env, flavorRef="2")
    place(env, failed, host="c2", vm_state="error")
    db.instance_fault_create(ctx, {"instance_uuid": failed, "code": 500,
                                   "message": "boom", "details": "trace"})
    building = new_server(env)
    stopped = new_server(env, **{"OS-DCF:diskConfig": "AUTO", "accessIPv4": "192.0.2.9",
                                 "config_drive": True})
    place(env, stopped, vm_state="stopped", power_state=4, locked=True,
          locked_by="owner", locked_reason="why")
    return [running, failed, building, stopped]


@pytest.mark.parametrize("token", [MEMBER, ADMIN])
def test_the_list_shows_each_server_as_show_does_at_every_version(server_env: Env,
                                                                  token: str) -> None:
    ids = _servers(server_env)
    query = "?all_tenants=1&project_id=demo" if token == ADMIN else ""
    for version in VIEW_VERSIONS:
        listed = call(server_env.app, f"/v2.1/servers/detail{query}", token=token,
                      version=version).json["servers"]
        assert sorted(s["id"] for s in listed) == sorted(ids)
        for server in listed:
            shown = show(server_env, server["id"], token=token, version=version)
            shown.pop("server_groups", None)  # show only, as in Nova
            assert server == shown, (version, server["id"])


def test_links_use_the_endpoint_and_the_project_prefix_of_each_request(
        server_env: Env) -> None:
    server_id = running_server(server_env)
    CONF.set_override("public_endpoint", "https://api.example.com/compute/", group="api")
    server = call(server_env.app, "/v2.1/demo/servers/detail", token=MEMBER,
                  version="2.1").json["servers"][0]
    base = "https://api.example.com/compute"
    assert server["links"] == [
        {"href": f"{base}/v2.1/demo/servers/{server_id}", "rel": "self"},
        {"href": f"{base}/demo/servers/{server_id}", "rel": "bookmark"}]
    assert server["image"]["links"] == [
        {"href": f"{base}/demo/images/{server_env.image}", "rel": "bookmark"}]
    assert server["flavor"] == {"id": "1", "links": [
        {"href": f"{base}/demo/flavors/1", "rel": "bookmark"}]}
    listed = call(server_env.app, "/v2.1/demo/servers", token=MEMBER).json["servers"]
    assert listed[0]["links"] == server["links"]
    # Worked out per request: the next one sees the endpoint change.
    CONF.clear_override("public_endpoint", group="api")
    server = call(server_env.app, "/v2.1/servers/detail", token=MEMBER).json["servers"][0]
    assert server["links"][0]["href"] == f"http://localhost/v2.1/servers/{server_id}"


def test_update_answers_the_short_view_before_2_75_and_show_from_it(server_env: Env) -> None:
    server_id = running_server(server_env)
    for version in ("2.71", "2.74", "2.75", "2.90"):
        resp = call(server_env.app, f"/v2.1/servers/{server_id}", "PUT", token=MEMBER,
                    version=version, body={"server": {"name": "renamed"}})
        assert resp.status_int == 200, resp.body
        shown = show(server_env, server_id, version=version)
        if version in ("2.75", "2.90"):
            assert set(resp.json["server"]) == set(shown)
        else:
            assert "OS-EXT-AZ:availability_zone" not in resp.json["server"]
            assert "server_groups" in resp.json["server"]


# -- reads: one transaction per request -------------------------------------------------

@pytest.fixture
def checkouts(server_env: Env) -> Iterator[list[int]]:
    """[connections checked out of the pool so far], counted on the engine."""
    counter = [0]

    def count(*_args: Any) -> None:
        counter[0] += 1

    pool = db.get_engine().pool
    sa.event.listen(pool, "checkout", count)
    try:
        yield counter
    finally:
        sa.event.remove(pool, "checkout", count)


def _checkouts_of(counter: list[int], func: Any) -> int:
    before = counter[0]
    func()
    return counter[0] - before


def test_reads_of_a_request_share_one_connection(server_env: Env,
                                                 checkouts: list[int]) -> None:
    server_id = running_server(server_env)
    app = server_env.app
    assert _checkouts_of(checkouts, lambda: show(server_env, server_id, version="2.90")) == 1
    assert _checkouts_of(checkouts, lambda: show(server_env, server_id, token=ADMIN,
                                                 version="2.90")) == 1
    assert _checkouts_of(checkouts, lambda: call(
        app, "/v2.1/servers/detail", token=MEMBER, version="2.90")) == 1
    # An action: its reads (server, host's service), then its write.
    assert _checkouts_of(checkouts, lambda: call(
        app, f"/v2.1/servers/{server_id}/action", "POST", token=MEMBER,
        body={"os-stop": None})) == 2
    assert server_env.cast_names() == ["stop_instance"]


def test_create_counts_usage_only_when_something_is_limited(
        server_env: Env, checkouts: list[int]) -> None:
    # Limited (the defaults): reads, the insert with its quota check, the recheck.
    assert _checkouts_of(checkouts, lambda: new_server(server_env)) == 3
    for name in ("instances", "cores", "ram"):
        CONF.set_override(name, -1, group="quota")
    try:
        assert _checkouts_of(checkouts, lambda: new_server(
            server_env, min_count=3, max_count=3)) == 2
        resp = call(server_env.app, "/v2.1/servers/detail", token=MEMBER)
        assert len(resp.json["servers"]) == 4
    finally:
        for name in ("instances", "cores", "ram"):
            CONF.clear_override(name, group="quota")


def test_policy_runs_on_the_server_before_the_action_checks(server_env: Env,
                                                           tmp_path: Path) -> None:
    from novalite.api import deploy

    tokens = tmp_path / "reader-tokens.json"
    tokens.write_text(json.dumps({"reader": {"user_id": "rita", "project_id": "demo",
                                             "roles": ["reader"]}}))
    CONF.set_override("auth_strategy", "token", group="api")
    CONF.set_override("token_file", str(tokens), group="api")
    app = deploy.build_app(CONF)
    on_a_down_host = running_server(server_env, host="c2")
    others = running_server(server_env, token="bob:other")
    for body in ({"os-stop": None}, {"reboot": {"type": "HARD"}}, {"migrate": None},
                 {"resize": {"flavorRef": "2"}}, {"confirmResize": None},
                 {"os-migrateLive": {"host": None, "block_migration": "auto"}}):
        # 403 (the policy), not the 409 of a host that is down or a wrong state.
        resp = call(app, f"/v2.1/servers/{on_a_down_host}/action", "POST", token="reader",
                    version="2.90", body=body)
        assert resp.status_int == 403, (body, resp.body)
        # Another project's server does not exist for the caller: 404 first.
        resp = call(app, f"/v2.1/servers/{others}/action", "POST", token="reader",
                    version="2.90", body=body)
        assert resp.status_int == 404, (body, resp.body)
    resp = call(app, f"/v2.1/servers/{on_a_down_host}", "DELETE", token="reader")
    assert resp.status_int == 403
    assert server_env.casts == []


# -- policy: the files looked at once per interval ------------------------------------------

@pytest.fixture
def parsed_conf(tmp_path: Path) -> Iterator[tuple[cfg.ConfigOpts, Path]]:
    policy_file = tmp_path / "policy.yaml"
    policy_file.write_text('"os_compute_api:os-services:list": "role:reader"\n')
    conf = cfg.ConfigOpts()
    conf([], default_config_files=[])
    policy_opts.set_defaults(conf, policy_file=str(policy_file))
    policy.reset()
    policy.get_enforcer(conf)
    yield conf, policy_file
    policy.reset()


def test_policy_files_are_read_once_per_interval(parsed_conf: tuple[cfg.ConfigOpts, Path],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    _conf, policy_file = parsed_conf
    loads: list[bool] = []
    real_load = oslo_policy.Enforcer.load_rules

    def counting_load(self: Any, force_reload: bool = False) -> None:
        loads.append(force_reload)
        real_load(self, force_reload)

    monkeypatch.setattr(oslo_policy.Enforcer, "load_rules", counting_load)
    now = [1000.0]
    monkeypatch.setattr(policy, "time", type("Clock", (), {
        "monotonic": staticmethod(lambda: now[0])}))
    reader = RequestContext(user_id="eve", project_id="demo", roles=["reader"])
    for _ in range(20):
        assert policy.check(reader, "os_compute_api:os-services:list")
    assert loads == [False]
    # An operator's edit is picked up once the interval has passed.
    policy_file.write_text('"os_compute_api:os-services:list": "role:admin"\n')
    stat = policy_file.stat()
    os.utime(policy_file, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    now[0] += policy.RELOAD_INTERVAL + 0.1
    assert not policy.check(reader, "os_compute_api:os-services:list")
    assert len(loads) == 2
    with pytest.raises(exception.Forbidden):
        policy.authorize(reader, "os_compute_api:os-services:list")


def test_check_answers_without_raising_and_keeps_unregistered_rules_an_error() -> None:
    member = RequestContext(user_id="bob", project_id="demo", roles=["member", "reader"])
    assert policy.check(member, "project_member_or_admin") is True
    assert policy.check(member, "context_is_admin") is False
    with pytest.raises(oslo_policy.PolicyNotRegistered):
        policy.check(member, "no-such-rule")


def test_version_literals_compare_as_before() -> None:
    version = microversion.APIVersion(2, 47)
    assert version >= "2.47" and version > "2.9" and version < "2.100"
    assert not version >= "2.48" and version == "2.47" and version != "2.4"
    with pytest.raises(microversion.InvalidVersion):
        assert version >= "2.x"
