"""The stack around the handlers: request ids, body limits, error shapes, routing."""

from __future__ import annotations

import io
import json
import logging

import pytest
import webob

from novalite import exception
from novalite.api import deploy, fault, router
from novalite.conf import CONF
from tests.unit.api.conftest import call


def test_every_response_carries_a_request_id(app) -> None:
    resp = call(app, "/")
    rid = resp.headers["x-openstack-request-id"]
    assert rid.startswith("req-") and len(rid) == 40
    assert resp.headers["x-compute-request-id"] == rid
    # Even one refused before authentication.
    resp = call(app, "/v2.1/os-services", token=None)
    assert resp.status_int == 401
    assert resp.headers["x-openstack-request-id"].startswith("req-")
    assert call(app, "/").headers["x-openstack-request-id"] != rid


def test_the_request_id_reaches_the_context_and_the_log_store(app, monkeypatch) -> None:
    from oslo_context import context as oslo_context

    from novalite.api.handlers import versions

    seen = {}

    def spy(req):
        seen["ctx"] = req.context
        seen["current"] = oslo_context.get_current()
        return versions.list_versions(req)

    monkeypatch.setitem(router.ROUTES, "/v2.1/spy", {"GET": spy})
    resp = call(deploy.build_app(CONF), "/v2.1/spy", token="bob:demo")
    assert resp.status_int == 200
    ctx = seen["ctx"]
    assert ctx.request_id == resp.headers["x-openstack-request-id"]
    assert (ctx.user_id, ctx.project_id, ctx.is_admin) == ("bob", "demo", False)
    assert seen["current"] is ctx


def test_oversized_body_is_413_over_limit(app) -> None:
    CONF.set_override("max_request_body_size", 100, group="api")
    resp = call(app, "/v2.1/os-services/enable", method="PUT",
                body={"host": "h" * 200, "binary": "novalite-compute"})
    assert resp.status_int == 413
    assert resp.json == {"overLimit": {"code": 413, "message": resp.json["overLimit"]["message"]}}
    assert "100" in resp.json["overLimit"]["message"]


def test_oversized_streamed_body_without_length_is_413(app) -> None:
    CONF.set_override("max_request_body_size", 100, group="api")
    req = webob.Request.blank("/v2.1/os-services/enable", method="PUT")
    req.headers["X-Auth-Token"] = "admin:admin"
    req.environ.pop("CONTENT_LENGTH", None)
    req.environ["HTTP_TRANSFER_ENCODING"] = "chunked"
    req.environ["wsgi.input"] = io.BytesIO(b"{" + b" " * 500 + b"}")
    resp = req.get_response(app)
    assert resp.status_int == 413
    assert resp.json["overLimit"]["code"] == 413


def test_small_streamed_body_is_passed_on(app) -> None:
    req = webob.Request.blank("/v2.1/os-services/enable", method="PUT")
    req.headers["X-Auth-Token"] = "admin:admin"
    req.environ.pop("CONTENT_LENGTH", None)
    req.environ["HTTP_TRANSFER_ENCODING"] = "chunked"
    req.environ["wsgi.input"] = io.BytesIO(b'{"host": 1, "binary": "b"}')
    resp = req.get_response(app)
    # Read and validated: the schema names the bad field.
    assert resp.status_int == 400
    assert "host" in resp.json["badRequest"]["message"]


def test_unknown_path_is_item_not_found(app) -> None:
    resp = call(app, "/v2.1/os-nothing")
    assert resp.status_int == 404
    assert resp.content_type == "application/json"
    assert resp.json["itemNotFound"]["code"] == 404
    assert call(app, "/v3").json["itemNotFound"]["code"] == 404


def test_known_path_wrong_method_is_405_with_allow(app) -> None:
    resp = call(app, "/v2.1/os-services", method="POST", body={})
    assert resp.status_int == 405
    assert resp.json["badMethod"]["code"] == 405
    assert resp.headers["Allow"] == "GET"
    resp = call(app, "/v2.1/os-services/1", method="GET")
    assert resp.headers["Allow"] == "DELETE, PUT"


def _app_with(monkeypatch, handler) -> object:
    monkeypatch.setitem(router.ROUTES, "/v2.1/test-fault", {"GET": handler})
    CONF.set_override("auth_strategy", "noauth", group="api")
    return deploy.build_app(CONF)


def test_novalite_conflict_is_conflicting_request(monkeypatch) -> None:
    def conflict(req):
        raise exception.UnexpectedTaskStateError(instance_uuid="u1", expected="None",
                                                 actual="migrating")

    resp = call(_app_with(monkeypatch, conflict), "/v2.1/test-fault")
    assert resp.status_int == 409
    body = resp.json["conflictingRequest"]
    assert body["code"] == 409 and "u1" in body["message"]
    assert resp.headers["OpenStack-API-Version"] == "compute 2.1"


def test_unexpected_error_is_500_compute_fault_without_traceback(monkeypatch, caplog) -> None:
    def boom(req):
        raise RuntimeError("secret internals /etc/passwd")

    with caplog.at_level(logging.ERROR, logger="novalite.api.middleware"):
        resp = call(_app_with(monkeypatch, boom), "/v2.1/test-fault")
    assert resp.status_int == 500
    message = resp.json["computeFault"]["message"]
    assert resp.json["computeFault"]["code"] == 500
    assert "secret" not in resp.text and "Traceback" not in resp.text
    assert resp.headers["x-openstack-request-id"] in message
    # ...but the operator gets the traceback in the log.
    assert any(record.exc_info for record in caplog.records)


def test_not_found_exception_is_item_not_found(monkeypatch) -> None:
    def missing(req):
        raise exception.InstanceNotFound(instance_id="abc")

    resp = call(_app_with(monkeypatch, missing), "/v2.1/test-fault")
    assert resp.json == {"itemNotFound": {"code": 404,
                                          "message": "Instance abc could not be found."}}


def test_body_that_is_not_json_is_400(app) -> None:
    req = webob.Request.blank("/v2.1/os-services/enable", method="PUT", body=b"{not json")
    req.headers["X-Auth-Token"] = "admin:admin"
    req.content_type = "application/json"
    resp = req.get_response(app)
    assert resp.status_int == 400
    assert resp.json["badRequest"]["message"] == "Malformed request body"


def test_body_of_another_media_type_is_415(app) -> None:
    req = webob.Request.blank("/v2.1/os-services/enable", method="PUT", body=b"host=x")
    req.headers["X-Auth-Token"] = "admin:admin"
    req.content_type = "application/x-www-form-urlencoded"
    resp = req.get_response(app)
    assert resp.status_int == 415
    assert resp.json["badMediaType"]["code"] == 415


@pytest.mark.parametrize("code,name", [
    (400, "badRequest"), (401, "unauthorized"), (403, "forbidden"), (404, "itemNotFound"),
    (405, "badMethod"), (409, "conflictingRequest"), (413, "overLimit"), (415, "badMediaType"),
    (429, "overLimit"), (501, "notImplemented"), (503, "serviceUnavailable"),
    (500, "computeFault"), (406, "computeFault"), (418, "computeFault"),
])
def test_fault_names_follow_nova(code: int, name: str) -> None:
    resp = fault.error_response(code, "m")
    assert resp.status_int == code
    assert json.loads(resp.body) == {name: {"code": code, "message": "m"}}
    assert resp.headers["Content-Type"] == "application/json"


def test_retry_after_is_copied_into_over_limit() -> None:
    resp = fault.error_response(429, "slow down", headers={"Retry-After": "5"})
    assert resp.json["overLimit"]["retryAfter"] == "5"
    assert resp.headers["Retry-After"] == "5"


def test_project_id_in_url_must_be_the_callers(app) -> None:
    assert call(app, "/v2.1/admin/os-services", token="admin:admin").status_int == 200
    resp = call(app, "/v2.1/other/os-services", token="admin:admin")
    assert resp.status_int == 400
    assert "project_id" in resp.json["badRequest"]["message"]
