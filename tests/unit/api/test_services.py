"""/os-services against the real database layer on SQLite."""

from __future__ import annotations

import uuid

import pytest

from novalite.context import get_admin_context
from tests.unit.api.conftest import MEMBER, call

FIELDS_2_1 = {"id", "binary", "host", "zone", "status", "state", "updated_at",
              "disabled_reason"}


def _by_host_binary(resp) -> dict:
    return {(s["host"], s["binary"]): s for s in resp.json["services"]}


def test_list_at_2_1(app, services) -> None:
    resp = call(app, "/v2.1/os-services")
    assert resp.status_int == 200
    found = _by_host_binary(resp)
    # Unlike Nova, the API's own row is listed: its heartbeat is worth seeing.
    assert set(found) == {("ctl", "novalite-api"), ("ctl", "novalite-conductor"),
                          ("compute-1", "novalite-compute"), ("compute-2", "novalite-compute")}
    for view in found.values():
        assert set(view) == FIELDS_2_1
        assert isinstance(view["id"], int)
    conductor = found[("ctl", "novalite-conductor")]
    assert (conductor["zone"], conductor["state"], conductor["status"]) == \
        ("internal", "up", "enabled")
    up = found[("compute-1", "novalite-compute")]
    assert (up["zone"], up["state"], up["id"]) == ("nova", "up", services["compute-1"].id)
    assert found[("compute-2", "novalite-compute")]["state"] == "down"
    assert up["updated_at"].count(":") == 2 and "T" in up["updated_at"]


def test_forced_down_appears_at_2_11_and_means_down(app, services, database) -> None:
    database.service_update(get_admin_context(), services["compute-1"].id,
                            {"forced_down": True})
    found = _by_host_binary(call(app, "/v2.1/os-services", version="2.11"))
    forced = found[("compute-1", "novalite-compute")]
    assert set(forced) == FIELDS_2_1 | {"forced_down"}
    assert forced["forced_down"] is True and forced["state"] == "down"
    assert found[("ctl", "novalite-conductor")]["forced_down"] is False
    assert "forced_down" not in call(app, "/v2.1/os-services", version="2.10").json[
        "services"][0]


def test_ids_are_uuids_from_2_53(app, services) -> None:
    found = _by_host_binary(call(app, "/v2.1/os-services", version="2.53"))
    assert found[("compute-1", "novalite-compute")]["id"] == services["compute-1"].uuid
    for view in found.values():
        uuid.UUID(view["id"])


def test_filters(app, services) -> None:
    resp = call(app, "/v2.1/os-services?binary=novalite-compute")
    assert {s["host"] for s in resp.json["services"]} == {"compute-1", "compute-2"}
    resp = call(app, "/v2.1/os-services?host=compute-2&binary=novalite-compute")
    assert [s["host"] for s in resp.json["services"]] == ["compute-2"]
    assert call(app, "/v2.1/os-services?host=nowhere").json == {"services": []}


def test_non_admin_is_403(app, services) -> None:
    for method, path, body in [("GET", "/v2.1/os-services", None),
                               ("PUT", "/v2.1/os-services/enable",
                                {"host": "compute-1", "binary": "novalite-compute"}),
                               ("DELETE", f"/v2.1/os-services/{services['compute-1'].id}",
                                None)]:
        resp = call(app, path, method=method, token=MEMBER, body=body)
        assert resp.status_int == 403, path
        assert resp.json["forbidden"]["code"] == 403


# -- legacy actions (before 2.53) -------------------------------------------------------

def _row(database, service):
    return database.service_get(get_admin_context(), service.id)


def test_legacy_disable_with_reason_then_enable(app, services, database) -> None:
    body = {"host": "compute-1", "binary": "novalite-compute", "disabled_reason": "maint"}
    resp = call(app, "/v2.1/os-services/disable-log-reason", method="PUT", body=body)
    assert resp.status_int == 200
    assert resp.json == {"service": {"host": "compute-1", "binary": "novalite-compute",
                                     "status": "disabled", "disabled_reason": "maint"}}
    row = _row(database, services["compute-1"])
    assert (row.disabled, row.disabled_reason) == (True, "maint")
    listed = _by_host_binary(call(app, "/v2.1/os-services"))[("compute-1", "novalite-compute")]
    assert (listed["status"], listed["disabled_reason"]) == ("disabled", "maint")

    body = {"host": "compute-1", "binary": "novalite-compute"}
    resp = call(app, "/v2.1/os-services/enable", method="PUT", body=body)
    assert resp.json == {"service": {"host": "compute-1", "binary": "novalite-compute",
                                     "status": "enabled"}}
    row = _row(database, services["compute-1"])
    assert (row.disabled, row.disabled_reason) == (False, None)


def test_legacy_disable(app, services, database) -> None:
    body = {"host": "compute-2", "binary": "novalite-compute"}
    resp = call(app, "/v2.1/os-services/disable", method="PUT", body=body)
    assert resp.json["service"]["status"] == "disabled"
    assert _row(database, services["compute-2"]).disabled is True


def test_legacy_disable_log_reason_needs_a_reason(app, services) -> None:
    body = {"host": "compute-1", "binary": "novalite-compute"}
    resp = call(app, "/v2.1/os-services/disable-log-reason", method="PUT", body=body)
    assert resp.status_int == 400
    assert resp.json["badRequest"]["message"] == "Missing disabled reason field"


def test_legacy_force_down_from_2_11(app, services, database) -> None:
    body = {"host": "compute-1", "binary": "novalite-compute", "forced_down": True}
    assert call(app, "/v2.1/os-services/force-down", method="PUT",
                body=body).status_int == 404
    resp = call(app, "/v2.1/os-services/force-down", method="PUT", body=body, version="2.11")
    assert resp.json == {"service": {"host": "compute-1", "binary": "novalite-compute",
                                     "forced_down": True}}
    assert _row(database, services["compute-1"]).forced_down is True


@pytest.mark.parametrize("body,field", [
    ({"binary": "novalite-compute"}, "host"),
    ({"host": "compute-1", "binary": "novalite-compute", "bogus": 1}, "bogus"),
    ({"host": "compute-1", "binary": "novalite-compute", "disabled_reason": 7},
     "disabled_reason"),
])
def test_legacy_bad_bodies_name_the_field(app, services, body, field) -> None:
    resp = call(app, "/v2.1/os-services/disable", method="PUT", body=body)
    assert resp.status_int == 400
    assert field in resp.json["badRequest"]["message"]


def test_legacy_unknown_service_and_action(app, services) -> None:
    body = {"host": "nowhere", "binary": "novalite-compute"}
    resp = call(app, "/v2.1/os-services/enable", method="PUT", body=body)
    assert resp.status_int == 404
    resp = call(app, "/v2.1/os-services/reboot", method="PUT", body=body)
    assert resp.status_int == 404
    assert resp.json["itemNotFound"]["message"] == "Unknown action"


# -- PUT /os-services/{uuid} (2.53) ----------------------------------------------------

def _put_253(app, service, body):
    return call(app, f"/v2.1/os-services/{service.uuid}", method="PUT", body=body,
                version="2.53")


def test_disable_with_reason_and_enable_at_2_53(app, services, database) -> None:
    compute = services["compute-1"]
    resp = _put_253(app, compute, {"status": "disabled", "disabled_reason": "maint"})
    assert resp.status_int == 200
    view = resp.json["service"]
    assert view["id"] == compute.uuid
    assert (view["status"], view["disabled_reason"], view["state"]) == \
        ("disabled", "maint", "up")
    assert set(view) == FIELDS_2_1 | {"forced_down"}

    view = _put_253(app, compute, {"status": "enabled"}).json["service"]
    assert (view["status"], view["disabled_reason"]) == ("enabled", None)
    row = _row(database, compute)
    assert (row.disabled, row.disabled_reason) == (False, None)


def test_force_down_at_2_53(app, services) -> None:
    view = _put_253(app, services["compute-1"], {"forced_down": True}).json["service"]
    assert (view["forced_down"], view["state"]) == (True, "down")
    view = _put_253(app, services["compute-1"], {"forced_down": False}).json["service"]
    assert (view["forced_down"], view["state"]) == (False, "up")


@pytest.mark.parametrize("body,needle", [
    ({}, "No updates were requested"),
    ({"disabled_reason": "x"}, "disabled reason"),
    ({"status": "enabled", "disabled_reason": "x"}, "disabled reason"),
    ({"status": "off"}, "status"),
    ({"forced_down": "yes"}, "forced_down"),
    ({"status": "disabled", "host": "compute-1"}, "host"),
])
def test_bad_updates_at_2_53(app, services, body, needle) -> None:
    resp = _put_253(app, services["compute-1"], body)
    assert resp.status_int == 400
    assert needle in resp.json["badRequest"]["message"]


def test_only_compute_services_can_be_updated_at_2_53(app, services) -> None:
    resp = _put_253(app, services["conductor"], {"status": "disabled"})
    assert resp.status_int == 400
    assert "novalite-conductor" in resp.json["badRequest"]["message"]


def test_ids_at_2_53(app, services) -> None:
    resp = call(app, "/v2.1/os-services/enable", method="PUT", version="2.53",
                body={"status": "enabled"})
    assert resp.status_int == 400
    assert "Invalid uuid" in resp.json["badRequest"]["message"]
    resp = call(app, f"/v2.1/os-services/{uuid.uuid4()}", method="PUT", version="2.53",
                body={"status": "enabled"})
    assert resp.status_int == 404


# -- DELETE ------------------------------------------------------------------------------

def test_delete_service(app, services, database) -> None:
    conductor = services["conductor"]
    resp = call(app, f"/v2.1/os-services/{conductor.id}", method="DELETE")
    assert resp.status_int == 204
    assert resp.body == b""
    assert ("ctl", "novalite-conductor") not in _by_host_binary(
        call(app, "/v2.1/os-services"))
    assert call(app, f"/v2.1/os-services/{conductor.id}", method="DELETE").status_int == 404


def test_delete_compute_service_hosting_instances_is_409(app, services, database) -> None:
    compute = services["compute-1"]
    database.instance_create(get_admin_context(), {"host": "compute-1", "name": "vm"})
    resp = call(app, f"/v2.1/os-services/{compute.uuid}", method="DELETE", version="2.53")
    assert resp.status_int == 409
    assert "hosting instances" in resp.json["conflictingRequest"]["message"]
    resp = call(app, f"/v2.1/os-services/{services['compute-2'].uuid}", method="DELETE",
                version="2.53")
    assert resp.status_int == 204
