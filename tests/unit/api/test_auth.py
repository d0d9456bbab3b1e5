"""Authentication: the token file strategy and the development noauth strategy."""

from __future__ import annotations

import json
import os

import pytest

from novalite import exception
from novalite.api import auth, deploy
from novalite.conf import CONF
from tests.unit.api.conftest import call

UNAUTHORIZED = {"unauthorized": {
    "code": 401, "message": "The request you have made requires authentication."}}


def test_token_strategy_without_token_is_401(token_app) -> None:
    resp = call(token_app, "/v2.1/os-services", token=None)
    assert resp.status_int == 401
    assert resp.json == UNAUTHORIZED
    assert resp.content_type == "application/json"


def test_token_strategy_with_unknown_token_is_401(token_app) -> None:
    resp = call(token_app, "/v2.1/os-services", token="guess")
    assert resp.status_int == 401
    assert resp.json == UNAUTHORIZED


def test_token_strategy_known_tokens(token_app, database) -> None:
    assert call(token_app, "/v2.1/os-services", token="s3cret-admin").status_int == 200
    resp = call(token_app, "/v2.1/os-services", token="s3cret-member")
    assert resp.status_int == 403
    assert resp.json["forbidden"]["code"] == 403


def test_token_file_is_reread_when_it_changes(token_app, token_file, database) -> None:
    assert call(token_app, "/v2.1/os-services", token="new-token").status_int == 401
    token_file.write_text(json.dumps({
        "new-token": {"user_id": "carol", "project_id": "ops", "roles": ["admin"]}}))
    stat = token_file.stat()
    os.utime(token_file, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert call(token_app, "/v2.1/os-services", token="new-token").status_int == 200
    assert call(token_app, "/v2.1/os-services", token="s3cret-admin").status_int == 401


def test_a_broken_token_file_keeps_the_previous_tokens(token_app, token_file,
                                                       database) -> None:
    token_file.write_text("{half written")
    stat = token_file.stat()
    os.utime(token_file, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert call(token_app, "/v2.1/os-services", token="s3cret-admin").status_int == 200


def test_token_strategy_needs_a_readable_file(tmp_path) -> None:
    CONF.set_override("auth_strategy", "token", group="api")
    with pytest.raises(exception.ConfigError):
        deploy.build_app(CONF)
    CONF.set_override("token_file", str(tmp_path / "missing.json"), group="api")
    with pytest.raises(exception.ConfigError):
        deploy.build_app(CONF)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"t": {"user_id": "u"}}))
    CONF.set_override("token_file", str(bad), group="api")
    with pytest.raises(exception.ConfigError):
        deploy.build_app(CONF)


@pytest.mark.parametrize("path", ["/", "/v2.1", "/v2.1/"])
def test_version_documents_need_no_token(token_app, path) -> None:
    resp = call(token_app, path, token=None)
    assert resp.status_int == 200


def test_noauth_admin_and_member(app, services) -> None:
    assert call(app, "/v2.1/os-services", token="admin:admin").status_int == 200
    resp = call(app, "/v2.1/os-services", token="alice:demo")
    assert resp.status_int == 403
    assert "os_compute_api:os-services:list" in resp.json["forbidden"]["message"]


def test_noauth_roles_reach_the_context(app, monkeypatch) -> None:
    from novalite.api import router
    from novalite.api.handlers import versions

    seen = []

    def spy(req):
        seen.append(req.context)
        return versions.list_versions(req)

    monkeypatch.setitem(router.ROUTES, "/v2.1/spy", {"GET": spy})
    spied = deploy.build_app(CONF)
    call(spied, "/v2.1/spy", token="admin:ops")
    call(spied, "/v2.1/spy", token="alice")
    admin, alice = seen
    assert (admin.user_id, admin.project_id, admin.is_admin) == ("admin", "ops", True)
    assert sorted(admin.roles) == ["admin", "manager", "member", "reader"]
    assert (alice.user_id, alice.project_id, alice.is_admin) == ("alice", "alice", False)
    assert sorted(alice.roles) == ["member", "reader"]


def test_noauth_without_token_is_401(app) -> None:
    resp = call(app, "/v2.1/os-services", token=None)
    assert resp.status_int == 401
    assert resp.json == UNAUTHORIZED


def test_token_file_roles_imply_keystone_defaults() -> None:
    assert auth.with_implied_roles(["member"]) == ["member", "reader"]
    assert auth.with_implied_roles(["admin"]) == ["admin", "manager", "member", "reader"]
    assert auth.with_implied_roles(["reader", "custom"]) == ["reader", "custom"]
