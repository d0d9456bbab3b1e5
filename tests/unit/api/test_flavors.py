"""/flavors, its extra specs and project access, against the real database on SQLite."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from novalite import exception
from novalite.api import deploy
from novalite.conf import CONF
from novalite.context import RequestContext, get_admin_context
from novalite.db import flavors as db_flavors
from tests.unit.api.conftest import MEMBER, call

OTHER = "bob:elsewhere"
BASIC_2_1 = {"id", "name", "links"}
DETAIL_2_1 = {"id", "name", "ram", "disk", "swap", "OS-FLV-EXT-DATA:ephemeral",
              "OS-FLV-DISABLED:disabled", "vcpus", "os-flavor-access:is_public",
              "rxtx_factor", "links"}


def _body(name: str = "m1.small", **fields: Any) -> dict:
    flavor = {"name": name, "ram": 2048, "vcpus": 1, "disk": 20}
    flavor.update(fields)
    return {"flavor": flavor}


def _create(app: Any, name: str = "m1.small", version: str | None = None,
            **fields: Any) -> dict:
    resp = call(app, "/v2.1/flavors", method="POST", body=_body(name, **fields),
                version=version)
    assert resp.status_int == 200, resp.text
    return resp.json["flavor"]


def _private(app: Any, name: str = "secret", flavor_id: str = "p1") -> dict:
    return _create(app, name, id=flavor_id, **{"os-flavor-access:is_public": False})


@pytest.fixture
def catalog(app: Any) -> dict[str, dict]:
    """Three public flavors of growing size (ids 1..3) and a private one (p1)."""
    made = {
        "tiny": _create(app, "m1.tiny", id="1", ram=512, vcpus=1, disk=1),
        "small": _create(app, "m1.small", id="2", ram=2048, vcpus=1, disk=20),
        "medium": _create(app, "m1.medium", id="3", ram=4096, vcpus=2, disk=40,
                          swap=512),
    }
    made["private"] = _private(app)
    return made


# -- create ---------------------------------------------------------------------------

def test_create_with_null_id_generates_a_uuid_and_answers_the_2_1_view(app) -> None:
    resp = call(app, "/v2.1/flavors", method="POST", body=_body(id=None))
    assert resp.status_int == 200
    flavor = resp.json["flavor"]
    assert set(flavor) == DETAIL_2_1
    uuid.UUID(flavor["id"])
    assert (flavor["ram"], flavor["vcpus"], flavor["disk"]) == (2048, 1, 20)
    assert flavor["swap"] == "" and flavor["OS-FLV-EXT-DATA:ephemeral"] == 0
    assert flavor["os-flavor-access:is_public"] is True
    assert flavor["OS-FLV-DISABLED:disabled"] is False
    assert flavor["rxtx_factor"] == 1.0
    assert flavor["links"] == [
        {"rel": "self", "href": f"http://localhost/v2.1/flavors/{flavor['id']}"},
        {"rel": "bookmark", "href": f"http://localhost/flavors/{flavor['id']}"},
    ]


def test_create_without_id_and_with_every_optional_field(app) -> None:
    flavor = _create(app, "big", version="2.55", swap=1024, rxtx_factor="2.5",
                     description="for databases",
                     **{"OS-FLV-EXT-DATA:ephemeral": 10, "os-flavor-access:is_public": "no"})
    uuid.UUID(flavor["id"])
    assert flavor["swap"] == 1024 and flavor["OS-FLV-EXT-DATA:ephemeral"] == 10
    assert flavor["rxtx_factor"] == 2.5 and flavor["description"] == "for databases"
    assert flavor["os-flavor-access:is_public"] is False


def test_create_accepts_integer_ids_and_digit_strings(app) -> None:
    flavor = _create(app, "numbers", id=42, ram="1024", vcpus="2", disk="0", swap="")
    assert (flavor["id"], flavor["ram"], flavor["vcpus"], flavor["disk"]) == \
        ("42", 1024, 2, 0)
    assert flavor["swap"] == ""


def test_create_at_2_61_embeds_empty_extra_specs_and_2_75_swap_zero(app) -> None:
    flavor = _create(app, "a", version="2.61")
    assert flavor["extra_specs"] == {} and flavor["swap"] == ""
    assert _create(app, "b", version="2.75")["swap"] == 0


@pytest.mark.parametrize("field", ["name", "id"])
def test_duplicate_name_or_id_is_409(app, field) -> None:
    _create(app, "m1.small", id="7")
    other = {"name": "m1.small", "id": "8"} if field == "name" else {"name": "x", "id": "7"}
    resp = call(app, "/v2.1/flavors", method="POST", body=_body(**other))
    assert resp.status_int == 409
    message = resp.json["conflictingRequest"]["message"]
    assert message == ("Flavor with name m1.small already exists." if field == "name"
                       else "Flavor with ID 7 already exists.")


@pytest.mark.parametrize(("flavor", "field"), [
    ({"vcpus": 1, "disk": 1, "name": "x"}, "ram"),
    ({"ram": 1, "vcpus": 0, "disk": 1, "name": "x"}, "vcpus"),
    ({"ram": 1, "vcpus": 1, "disk": -1, "name": "x"}, "disk"),
    ({"ram": "lots", "vcpus": 1, "disk": 1, "name": "x"}, "ram"),
    ({"ram": "99999999999", "vcpus": 1, "disk": 1, "name": "x"}, "ram"),
    ({"ram": 1, "vcpus": True, "disk": 1, "name": "x"}, "vcpus"),
    ({"ram": 1, "vcpus": 1, "disk": 1, "name": ""}, "name"),
    ({"ram": 1, "vcpus": 1, "disk": 1, "name": " padded"}, "name"),
    ({"ram": 1, "vcpus": 1, "disk": 1, "name": "a" * 256}, "name"),
    ({"ram": 1, "vcpus": 1, "disk": 1, "name": "x", "id": "a/b"}, "id"),
    ({"ram": 1, "vcpus": 1, "disk": 1, "name": "x", "id": ""}, "id"),
    ({"ram": 1, "vcpus": 1, "disk": 1, "name": "x", "swap": "big"}, "swap"),
    ({"ram": 1, "vcpus": 1, "disk": 1, "name": "x", "rxtx_factor": 0}, "rxtx_factor"),
    ({"ram": 1, "vcpus": 1, "disk": 1, "name": "x", "rxtx_factor": "0"}, "rxtx_factor"),
    ({"ram": 1, "vcpus": 1, "disk": 1, "name": "x", "os-flavor-access:is_public": "maybe"},
     "os-flavor-access:is_public"),
    ({"ram": 1, "vcpus": 1, "disk": 1, "name": "x", "colour": "red"}, "colour"),
    # description only exists from 2.55
    ({"ram": 1, "vcpus": 1, "disk": 1, "name": "x", "description": "d"}, "description"),
])
def test_bad_create_bodies_are_400_naming_the_field(app, flavor, field) -> None:
    resp = call(app, "/v2.1/flavors", method="POST", body={"flavor": flavor})
    assert resp.status_int == 400, resp.text
    assert field in resp.json["badRequest"]["message"]


def test_create_body_must_be_wrapped_in_flavor(app) -> None:
    resp = call(app, "/v2.1/flavors", method="POST",
                body={"name": "x", "ram": 1, "vcpus": 1, "disk": 1})
    assert resp.status_int == 400
    assert "flavor" in resp.json["badRequest"]["message"]


# -- list and show --------------------------------------------------------------------

def test_index_and_detail_fields_per_microversion(app, catalog) -> None:
    for version, basic, detail in [
        ("2.1", BASIC_2_1, DETAIL_2_1),
        ("2.55", BASIC_2_1 | {"description"}, DETAIL_2_1 | {"description"}),
        ("2.61", BASIC_2_1 | {"description"}, DETAIL_2_1 | {"description", "extra_specs"}),
        ("2.90", BASIC_2_1 | {"description"}, DETAIL_2_1 | {"description", "extra_specs"}),
    ]:
        index = call(app, "/v2.1/flavors", version=version).json
        assert set(index) == {"flavors"}
        assert all(set(f) == basic for f in index["flavors"]), version
        details = call(app, "/v2.1/flavors/detail", version=version).json["flavors"]
        assert all(set(f) == detail for f in details), version
        shown = call(app, "/v2.1/flavors/3", version=version).json["flavor"]
        assert set(shown) == detail, version


def test_swap_is_empty_string_before_2_75_and_zero_from_it(app, catalog) -> None:
    tiny_2_74 = call(app, "/v2.1/flavors/1", version="2.74").json["flavor"]
    tiny_2_75 = call(app, "/v2.1/flavors/1", version="2.75").json["flavor"]
    assert (tiny_2_74["swap"], tiny_2_75["swap"]) == ("", 0)
    assert call(app, "/v2.1/flavors/3", version="2.74").json["flavor"]["swap"] == 512


def test_index_is_sorted_by_flavorid_and_lists_public_flavors(app, catalog) -> None:
    names = [f["name"] for f in call(app, "/v2.1/flavors", token=MEMBER).json["flavors"]]
    assert names == ["m1.tiny", "m1.small", "m1.medium"]
    # An administrator also sees public flavors only, unless asking for is_public=none.
    admin_ids = [f["id"] for f in call(app, "/v2.1/flavors").json["flavors"]]
    assert admin_ids == ["1", "2", "3"]


def test_admin_is_public_filter(app, catalog) -> None:
    def ids(query: str) -> list[str]:
        return [f["id"] for f in call(app, f"/v2.1/flavors{query}").json["flavors"]]

    assert ids("?is_public=none") == ["1", "2", "3", "p1"]
    assert ids("?is_public=false") == ["p1"]
    assert ids("?is_public=true") == ["1", "2", "3"]
    resp = call(app, "/v2.1/flavors?is_public=perhaps")
    assert resp.status_int == 400
    assert resp.json["badRequest"]["message"] == "Invalid is_public filter [perhaps]"


def test_members_cannot_widen_the_listing(app, catalog) -> None:
    ids = [f["id"] for f in call(app, "/v2.1/flavors?is_public=none",
                                 token=MEMBER).json["flavors"]]
    assert ids == ["1", "2", "3"]


def test_min_ram_and_min_disk_filters(app, catalog) -> None:
    def ids(query: str) -> list[str]:
        return [f["id"] for f in call(app, f"/v2.1/flavors/detail{query}").json["flavors"]]

    assert ids("?minRam=2048") == ["2", "3"]
    assert ids("?minDisk=21") == ["3"]
    assert ids("?minRam=1&minDisk=1") == ["1", "2", "3"]
    resp = call(app, "/v2.1/flavors?minRam=big")
    assert resp.status_int == 400
    assert resp.json["badRequest"]["message"] == "Invalid minRam filter [big]"
    assert call(app, "/v2.1/flavors?minDisk=x").status_int == 400


def test_sort_and_paging(app, catalog) -> None:
    resp = call(app, "/v2.1/flavors?sort_key=memory_mb&sort_dir=desc&limit=2")
    body = resp.json
    assert [f["id"] for f in body["flavors"]] == ["3", "2"]
    assert body["flavors_links"] == [{
        "rel": "next",
        "href": "http://localhost/v2.1/flavors?limit=2&marker=2&sort_dir=desc"
                "&sort_key=memory_mb"}]
    page2 = call(app, "/v2.1/flavors?sort_key=memory_mb&sort_dir=desc&limit=2&marker=2").json
    assert [f["id"] for f in page2["flavors"]] == ["1"]
    assert "flavors_links" not in page2
    # No limit given: no links even when the page ends the list.
    assert "flavors_links" not in call(app, "/v2.1/flavors").json
    detail = call(app, "/v2.1/flavors/detail?limit=1").json
    assert detail["flavors_links"][0]["href"].startswith(
        "http://localhost/v2.1/flavors/detail?")


def test_bad_paging_and_sorting_are_400(app, catalog) -> None:
    resp = call(app, "/v2.1/flavors?marker=nope")
    assert resp.status_int == 400
    assert resp.json["badRequest"]["message"] == "marker [nope] not found"
    assert call(app, "/v2.1/flavors?sort_key=colour").status_int == 400
    assert call(app, "/v2.1/flavors?sort_dir=up").status_int == 400
    assert call(app, "/v2.1/flavors?limit=-1").status_int == 400
    # A member's marker must be a flavor the member can see.
    assert call(app, "/v2.1/flavors?marker=p1", token=MEMBER).status_int == 400


def test_unknown_query_parameters_are_ignored_until_2_75(app, catalog) -> None:
    assert call(app, "/v2.1/flavors?colour=red", version="2.74").status_int == 200
    resp = call(app, "/v2.1/flavors/detail?colour=red", version="2.75")
    assert resp.status_int == 400
    assert "colour" in resp.json["badRequest"]["message"]


def test_unknown_flavor_is_404(app) -> None:
    resp = call(app, "/v2.1/flavors/nope")
    assert resp.status_int == 404
    assert resp.json["itemNotFound"]["message"] == "Flavor nope could not be found."


def test_links_keep_the_project_id_form_of_the_url(app, catalog) -> None:
    flavor = call(app, "/v2.1/demo/flavors/1", token=MEMBER).json["flavor"]
    assert [link["href"] for link in flavor["links"]] == [
        "http://localhost/v2.1/demo/flavors/1", "http://localhost/demo/flavors/1"]


def test_disabled_flavors_are_hidden_from_member_lists_but_showable(app, catalog,
                                                                    database) -> None:
    db_flavors.flavor_update(get_admin_context(), "2", {"disabled": True})
    member_ids = [f["id"] for f in call(app, "/v2.1/flavors", token=MEMBER).json["flavors"]]
    assert member_ids == ["1", "3"]
    assert [f["id"] for f in call(app, "/v2.1/flavors").json["flavors"]] == ["1", "2", "3"]
    shown = call(app, "/v2.1/flavors/2", token=MEMBER).json["flavor"]
    assert shown["OS-FLV-DISABLED:disabled"] is True


# -- private flavors ----------------------------------------------------------------------

def test_private_flavor_is_invisible_without_access(app, catalog) -> None:
    assert call(app, "/v2.1/flavors/p1", token=MEMBER).status_int == 404
    assert call(app, "/v2.1/flavors/p1/os-extra_specs", token=MEMBER).status_int == 404
    assert "p1" not in [f["id"] for f in call(app, "/v2.1/flavors/detail",
                                              token=MEMBER).json["flavors"]]
    assert call(app, "/v2.1/flavors/p1").status_int == 200  # admins see everything


def test_tenant_access_lifecycle(app, catalog) -> None:
    resp = call(app, "/v2.1/flavors/p1/action", method="POST",
                body={"addTenantAccess": {"tenant": "demo"}})
    assert resp.status_int == 200
    assert resp.json == {"flavor_access": [{"flavor_id": "p1", "tenant_id": "demo"}]}
    listed = [f["id"] for f in call(app, "/v2.1/flavors", token=MEMBER).json["flavors"]]
    assert listed == ["1", "2", "3", "p1"]
    assert call(app, "/v2.1/flavors/p1", token=MEMBER).status_int == 200
    assert call(app, "/v2.1/flavors/p1", token=OTHER).status_int == 404
    # An administrator's default listing includes private flavors of its own project only.
    assert "p1" not in [f["id"] for f in call(app, "/v2.1/flavors").json["flavors"]]

    again = call(app, "/v2.1/flavors/p1/action", method="POST",
                 body={"addTenantAccess": {"tenant": "demo"}})
    assert again.status_int == 409
    assert call(app, "/v2.1/flavors/p1/os-flavor-access").json == resp.json

    removed = call(app, "/v2.1/flavors/p1/action", method="POST",
                   body={"removeTenantAccess": {"tenant": "demo"}})
    assert removed.status_int == 200 and removed.json == {"flavor_access": []}
    assert call(app, "/v2.1/flavors/p1", token=MEMBER).status_int == 404
    missing = call(app, "/v2.1/flavors/p1/action", method="POST",
                   body={"removeTenantAccess": {"tenant": "demo"}})
    assert missing.status_int == 404


def test_access_to_public_flavors(app, catalog) -> None:
    resp = call(app, "/v2.1/flavors/1/os-flavor-access")
    assert resp.status_int == 404
    assert resp.json["itemNotFound"]["message"] == \
        "Access list not available for public flavors."
    refused = call(app, "/v2.1/flavors/1/action", method="POST", version="2.7",
                   body={"addTenantAccess": {"tenant": "demo"}})
    assert refused.status_int == 409
    assert refused.json["conflictingRequest"]["message"] == \
        "Can not add access to a public flavor."
    # Before 2.7 Nova recorded it anyway.
    allowed = call(app, "/v2.1/flavors/1/action", method="POST", version="2.6",
                   body={"addTenantAccess": {"tenant": "demo"}})
    assert allowed.status_int == 200


@pytest.mark.parametrize("body", [
    {"addTenantAccess": {}},
    {"addTenantAccess": {"tenant": ""}},
    {"addTenantAccess": {"tenant": "demo", "extra": 1}},
    {"removeTenantAccess": "demo"},
])
def test_bad_access_bodies_are_400(app, catalog, body) -> None:
    resp = call(app, "/v2.1/flavors/p1/action", method="POST", body=body)
    assert resp.status_int == 400, resp.text


def test_unknown_or_malformed_flavor_action_is_400(app, catalog) -> None:
    resp = call(app, "/v2.1/flavors/p1/action", method="POST", body={"grant": {}})
    assert resp.status_int == 400
    assert resp.json["badRequest"]["message"] == "There is no such action: grant"
    assert call(app, "/v2.1/flavors/p1/action", method="POST", body=[]).status_int == 400
    unknown = call(app, "/v2.1/flavors/nope/action", method="POST",
                   body={"addTenantAccess": {"tenant": "demo"}})
    assert unknown.status_int == 404


# -- update and delete -------------------------------------------------------------------

def test_update_description_from_2_55(app, catalog) -> None:
    body = {"flavor": {"description": "small and cheap"}}
    assert call(app, "/v2.1/flavors/2", method="PUT", body=body,
                version="2.54").status_int == 404
    resp = call(app, "/v2.1/flavors/2", method="PUT", body=body, version="2.61")
    assert resp.status_int == 200
    flavor = resp.json["flavor"]
    assert flavor["description"] == "small and cheap" and flavor["extra_specs"] == {}
    assert call(app, "/v2.1/flavors", version="2.55").json["flavors"][1]["description"] == \
        "small and cheap"
    bad = call(app, "/v2.1/flavors/2", method="PUT", version="2.55",
               body={"flavor": {"description": "x", "ram": 1}})
    assert bad.status_int == 400 and "ram" in bad.json["badRequest"]["message"]
    assert call(app, "/v2.1/flavors/nope", method="PUT", body=body,
                version="2.55").status_int == 404


def test_delete(app, catalog) -> None:
    resp = call(app, "/v2.1/flavors/2", method="DELETE")
    assert resp.status_int == 202 and resp.body == b""
    assert call(app, "/v2.1/flavors/2").status_int == 404
    assert call(app, "/v2.1/flavors/2", method="DELETE").status_int == 404


@pytest.mark.parametrize(("method", "path", "body", "version"), [
    ("POST", "/v2.1/flavors", _body("x"), None),
    ("PUT", "/v2.1/flavors/1", {"flavor": {"description": "x"}}, "2.55"),
    ("DELETE", "/v2.1/flavors/1", None, None),
    ("POST", "/v2.1/flavors/1/os-extra_specs", {"extra_specs": {"a": "b"}}, None),
    ("PUT", "/v2.1/flavors/1/os-extra_specs/a", {"a": "c"}, None),
    ("DELETE", "/v2.1/flavors/1/os-extra_specs/a", None, None),
    ("GET", "/v2.1/flavors/p1/os-flavor-access", None, None),
    ("POST", "/v2.1/flavors/p1/action", {"addTenantAccess": {"tenant": "demo"}}, None),
    ("POST", "/v2.1/flavors/p1/action", {"removeTenantAccess": {"tenant": "demo"}}, None),
])
def test_writes_are_admin_only(app, catalog, method, path, body, version) -> None:
    resp = call(app, path, method=method, token=MEMBER, body=body, version=version)
    assert resp.status_int == 403, resp.text
    assert resp.json["forbidden"]["code"] == 403


# -- extra specs --------------------------------------------------------------------------

def test_extra_specs_lifecycle(app, catalog) -> None:
    base = "/v2.1/flavors/2/os-extra_specs"
    created = call(app, base, method="POST",
                   body={"extra_specs": {"hw:cpu_policy": "dedicated", "quota:cpu_shares": 512,
                                         "trait:CUSTOM_X.Y": "required"}})
    assert created.status_int == 200
    assert created.json == {"extra_specs": {"hw:cpu_policy": "dedicated",
                                            "quota:cpu_shares": "512",
                                            "trait:CUSTOM_X.Y": "required"}}
    merged = call(app, base, method="POST", body={"extra_specs": {"hw:numa_nodes": "1"}})
    assert merged.json == {"extra_specs": {"hw:numa_nodes": "1"}}
    assert call(app, base, token=MEMBER).json == {"extra_specs": {
        "hw:cpu_policy": "dedicated", "quota:cpu_shares": "512",
        "trait:CUSTOM_X.Y": "required", "hw:numa_nodes": "1"}}
    assert call(app, f"{base}/trait:CUSTOM_X.Y", token=MEMBER).json == \
        {"trait:CUSTOM_X.Y": "required"}

    updated = call(app, f"{base}/hw:cpu_policy", method="PUT",
                   body={"hw:cpu_policy": "shared"})
    assert updated.status_int == 200 and updated.json == {"hw:cpu_policy": "shared"}
    shown = call(app, "/v2.1/flavors/2", version="2.61", token=MEMBER).json["flavor"]
    assert shown["extra_specs"]["hw:cpu_policy"] == "shared"

    deleted = call(app, f"{base}/hw:numa_nodes", method="DELETE")
    assert deleted.status_int == 202
    assert call(app, f"{base}/hw:numa_nodes").status_int == 404
    assert call(app, f"{base}/hw:numa_nodes", method="DELETE").status_int == 404


def test_extra_spec_errors(app, catalog) -> None:
    base = "/v2.1/flavors/2/os-extra_specs"
    missing = call(app, f"{base}/nope")
    assert missing.status_int == 404
    assert missing.json["itemNotFound"]["message"] == \
        "Flavor 2 has no extra specs with key nope."
    mismatch = call(app, f"{base}/a", method="PUT", body={"b": "1"})
    assert mismatch.status_int == 400
    assert mismatch.json["badRequest"]["message"] == "Request body and URI mismatch"
    assert call(app, f"{base}/a", method="PUT", body={"a": "1", "b": "2"}).status_int == 400
    bad_key = call(app, base, method="POST", body={"extra_specs": {"bad/key": "1"}})
    assert bad_key.status_int == 400
    too_long = call(app, base, method="POST", body={"extra_specs": {"k": "v" * 256}})
    assert too_long.status_int == 400 and "k" in too_long.json["badRequest"]["message"]
    assert call(app, base, method="POST", body={"specs": {}}).status_int == 400
    assert call(app, "/v2.1/flavors/nope/os-extra_specs", method="POST",
                body={"extra_specs": {"a": "b"}}).status_int == 404


def test_detail_embeds_extra_specs_only_when_policy_allows(app, catalog, tmp_path) -> None:
    call(app, "/v2.1/flavors/1/os-extra_specs", method="POST",
         body={"extra_specs": {"hw:mem_page_size": "large"}})
    details = call(app, "/v2.1/flavors/detail", version="2.61", token=MEMBER).json["flavors"]
    assert details[0]["extra_specs"] == {"hw:mem_page_size": "large"}
    # A caller with a role outside the reader/member/manager/admin chain passes the
    # flavor policies (any authenticated caller) but not the extra-specs one.
    tokens = tmp_path / "observer.json"
    tokens.write_text(json.dumps({"t-observer": {"user_id": "carol", "project_id": "demo",
                                                 "roles": ["observer"]}}))
    CONF.set_override("auth_strategy", "token", group="api")
    CONF.set_override("token_file", str(tokens), group="api")
    token_app = deploy.build_app(CONF)
    resp = call(token_app, "/v2.1/flavors/detail", version="2.61", token="t-observer")
    assert resp.status_int == 200
    assert set(resp.json["flavors"][0]) == DETAIL_2_1 | {"description"}
    assert call(token_app, "/v2.1/flavors/1/os-extra_specs",
                token="t-observer").status_int == 403

# -- the database layer -------------------------------------------------------------------

def test_flavor_snapshot_is_a_detached_copy(database) -> None:
    ctx = get_admin_context()
    flavor = db_flavors.flavor_create(ctx, {"name": "s", "vcpus": 2, "memory_mb": 1024,
                                            "root_gb": 10, "swap": 0, "ephemeral_gb": 0})
    db_flavors.flavor_extra_specs_update(ctx, flavor.flavorid, {"hw:cpu_policy": "dedicated"})
    snap = db_flavors.flavor_snapshot(db_flavors.flavor_get_by_flavorid(ctx, flavor.flavorid))
    assert snap == {"flavorid": flavor.flavorid, "name": "s", "vcpus": 2, "memory_mb": 1024,
                    "root_gb": 10, "ephemeral_gb": 0, "swap": 0, "rxtx_factor": 1.0,
                    "is_public": True, "description": None,
                    "extra_specs": {"hw:cpu_policy": "dedicated"}}
    db_flavors.flavor_destroy(ctx, flavor.flavorid)
    assert snap["extra_specs"] == {"hw:cpu_policy": "dedicated"}
    with pytest.raises(exception.FlavorNotFound):
        db_flavors.flavor_get_by_flavorid(ctx, flavor.flavorid)


def test_db_visibility_and_projects(database) -> None:
    admin = get_admin_context()
    member = RequestContext(user_id="u", project_id="demo", roles=["member"])
    db_flavors.flavor_create(admin, {"flavorid": "a", "name": "a", "vcpus": 1,
                                     "memory_mb": 1, "is_public": False},
                             projects=["demo", "demo"])
    assert db_flavors.flavor_access_get(admin, "a") == ["demo"]
    assert db_flavors.flavor_get_by_flavorid(member, "a").flavorid == "a"
    assert [f.flavorid for f in db_flavors.flavor_get_all(member)] == ["a"]
    assert [f.flavorid for f in db_flavors.flavor_get_all(member, is_public=False)] == ["a"]
    with pytest.raises(exception.FlavorExists):
        db_flavors.flavor_create(admin, {"flavorid": "b", "name": "a", "vcpus": 1,
                                         "memory_mb": 1})
    with pytest.raises(exception.Invalid):
        db_flavors.flavor_create(admin, {"name": "c", "vcpus": 1, "memory_mb": 1,
                                         "colour": "red"})
    with pytest.raises(exception.Invalid):
        db_flavors.flavor_update(admin, "a", {"vcpus": 4})


def test_db_sort_handles_nulls_and_pages_both_ways(database) -> None:
    admin = get_admin_context()
    for fid, description in (("1", None), ("2", "b"), ("3", "a"), ("4", None)):
        db_flavors.flavor_create(admin, {"flavorid": fid, "name": f"f{fid}", "vcpus": 1,
                                         "memory_mb": 1, "description": description})

    def ids(**kwargs: Any) -> list[str]:
        return [f.flavorid for f in db_flavors.flavor_get_all(
            admin, sort_key="description", **kwargs)]

    assert ids() == ["1", "4", "3", "2"]
    assert ids(sort_dir="desc") == ["2", "3", "4", "1"]
    assert ids(marker="4", limit=1) == ["3"]
    assert ids(sort_dir="desc", marker="3") == ["4", "1"]
    with pytest.raises(exception.MarkerNotFound):
        ids(marker="9")
