"""/servers against the real database layer on SQLite, with the RPC casts captured.

The fixtures here (server_env and the helpers) are shared with test_server_actions and
test_instance_actions.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import hashlib
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import webob

from novalite import quota, rpc
from novalite.compute.rpcapi import ComputeAPI
from novalite.conductor.rpcapi import ConductorAPI
from novalite.conf import CONF
from novalite.context import get_admin_context
from novalite.db import allocations
from novalite.db import flavors as flavor_db
from novalite.servicegroup import utcnow
from tests.unit.api.conftest import ADMIN, MEMBER, call, make_service

OTHER = "bob:other"

BASE_KEYS = {"id", "name", "status", "tenant_id", "user_id", "metadata", "hostId", "image",
             "flavor", "created", "updated", "addresses", "accessIPv4", "accessIPv6",
             "links", "OS-DCF:diskConfig"}
DETAIL_2_1 = BASE_KEYS | {"progress", "OS-EXT-AZ:availability_zone", "config_drive",
                          "key_name", "OS-SRV-USG:launched_at", "OS-SRV-USG:terminated_at",
                          "OS-EXT-STS:task_state", "OS-EXT-STS:vm_state",
                          "OS-EXT-STS:power_state", "os-extended-volumes:volumes_attached"}
ADMIN_2_1 = {"OS-EXT-SRV-ATTR:host", "OS-EXT-SRV-ATTR:instance_name",
             "OS-EXT-SRV-ATTR:hypervisor_hostname"}
ADMIN_2_3 = ADMIN_2_1 | {"OS-EXT-SRV-ATTR:reservation_id", "OS-EXT-SRV-ATTR:launch_index",
                         "OS-EXT-SRV-ATTR:hostname", "OS-EXT-SRV-ATTR:kernel_id",
                         "OS-EXT-SRV-ATTR:ramdisk_id", "OS-EXT-SRV-ATTR:root_device_name",
                         "OS-EXT-SRV-ATTR:user_data"}
# What 2.47 shows a project member (Nova: 2.9 locked, 2.19 description, 2.26 tags).
MEMBER_2_47 = DETAIL_2_1 | {"locked", "description", "tags"}
MEMBER_2_73 = MEMBER_2_47 | {"trusted_image_certificates", "locked_reason"}
MEMBER_2_90 = MEMBER_2_73 | {"OS-EXT-SRV-ATTR:hostname"}


@dataclasses.dataclass
class Env:
    app: Any
    db: Any
    casts: list[tuple[str, dict[str, Any]]]
    image: str
    images: dict[str, str]

    def cast_names(self) -> list[str]:
        return [name for name, _ in self.casts]


def _recorder(casts: list, name: str, params: tuple[str, ...]):
    def record(self: Any, ctxt: Any, *args: Any, **kwargs: Any) -> None:
        values = dict(zip(params, args, strict=False))
        values.update(kwargs)
        values["ctxt"] = ctxt
        casts.append((name, values))
    return record


def _write_images(directory: Path) -> dict[str, str]:
    """An image store with a small image and two that do not fit m1.tiny."""
    directory.mkdir()
    images = {"cirros": str(uuid.uuid4()), "big-ram": str(uuid.uuid4()),
              "big-disk": str(uuid.uuid4())}
    (directory / "disk.raw").write_bytes(b"\0" * 4096)
    index = [
        {"id": images["cirros"], "name": "cirros", "file": "disk.raw"},
        {"id": images["big-ram"], "name": "big-ram", "file": "disk.raw", "min_ram": 4096},
        {"id": images["big-disk"], "name": "big-disk", "file": "disk.raw", "min_disk": 20},
    ]
    (directory / "images.json").write_text(json.dumps(index))
    return images


@contextlib.contextmanager
def make_server_env(app: Any, database: Any, tmp_path: Path,
                    monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    """The API on a fresh database with flavors 1 (m1.tiny), 2 (m1.small, extra specs),
    zero (no disk), off (disabled), private (project 'other'); images cirros, big-ram,
    big-disk; compute hosts c1 (up) and c2 (down), each with a compute node (c2 in zone
    'az2'); the fake:// transport with every cast the servers API sends captured."""
    rpc.register_opts(CONF)
    CONF.set_override("transport_url", "fake://")
    rpc.cleanup()
    rpc.init(CONF)
    casts: list[tuple[str, dict[str, Any]]] = []
    monkeypatch.setattr(ConductorAPI, "build_instances", _recorder(
        casts, "build_instances", ("instances", "request_spec", "image")))
    for name, params in (("start_instance", ("instance",)),
                         ("stop_instance", ("instance", "clean_shutdown")),
                         ("reboot_instance", ("instance", "reboot_type")),
                         ("terminate_instance", ("instance",))):
        monkeypatch.setattr(ComputeAPI, name, _recorder(casts, name, params))
    images = _write_images(tmp_path / "images")
    CONF.set_override("local_dir", str(tmp_path / "images"), group="image")
    ctx = get_admin_context()
    for values in ({"flavorid": "1", "name": "m1.tiny", "vcpus": 1, "memory_mb": 512,
                    "root_gb": 1},
                   {"flavorid": "2", "name": "m1.small", "vcpus": 2, "memory_mb": 2048,
                    "root_gb": 20, "ephemeral_gb": 1, "swap": 512},
                   {"flavorid": "zero", "name": "m1.zero", "vcpus": 1, "memory_mb": 512,
                    "root_gb": 0},
                   {"flavorid": "off", "name": "m1.off", "vcpus": 1, "memory_mb": 512,
                    "root_gb": 1, "disabled": True}):
        flavor_db.flavor_create(ctx, values)
    flavor_db.flavor_create(ctx, {"flavorid": "private", "name": "m1.private", "vcpus": 1,
                                  "memory_mb": 512, "root_gb": 1, "is_public": False},
                            projects=["other"])
    flavor_db.flavor_extra_specs_update(ctx, "2", {"hw:cpu_policy": "shared"})
    make_service(database, "c1")
    make_service(database, "c2", up=False)
    database.compute_node_report(ctx, "c1", "c1", {"vcpus": 16, "memory_mb": 32768,
                                                   "local_gb": 500})
    database.compute_node_report(ctx, "c2", "c2", {"vcpus": 16, "memory_mb": 32768,
                                                   "local_gb": 500, "availability_zone": "az2"})
    try:
        yield Env(app=app, db=database, casts=casts, image=images["cirros"], images=images)
    finally:
        rpc.cleanup()
        CONF.clear_override("transport_url")
        CONF.clear_override("local_dir", group="image")


@pytest.fixture
def server_env(app: Any, database: Any, tmp_path: Path,
               monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    """See make_server_env (other test modules build the same fixture from it)."""
    with make_server_env(app, database, tmp_path, monkeypatch) as env:
        yield env


def create(env: Env, token: str = MEMBER, version: str | None = None,
           **server: Any) -> webob.Response:
    body = {"name": "vm", "flavorRef": "1", "imageRef": env.image}
    if version is not None and tuple(map(int, version.split("."))) >= (2, 37):
        body["networks"] = "none"
    body.update(server)
    return call(env.app, "/v2.1/servers", "POST", token=token, version=version,
                body={"server": {k: v for k, v in body.items() if v is not None}})


def new_server(env: Env, token: str = MEMBER, **server: Any) -> str:
    resp = create(env, token=token, **server)
    assert resp.status_int == 202, resp.body
    return resp.json["server"]["id"]


def place(env: Env, server_id: str, host: str = "c1", vm_state: str = "active",
          task_state: str | None = None, power_state: int = 1, **values: Any) -> Any:
    """What a successful build (or any later step) leaves on the row."""
    update = {"host": host, "node": host, "vm_state": vm_state, "task_state": task_state,
              "power_state": power_state, "launched_at": utcnow()}
    update.update(values)
    return env.db.instance_update(get_admin_context(), server_id, update)


def running_server(env: Env, token: str = MEMBER, host: str = "c1", **values: Any) -> str:
    server_id = new_server(env, token=token)
    place(env, server_id, host=host, **values)
    env.casts.clear()
    return server_id


def show(env: Env, server_id: str, token: str = MEMBER, version: str | None = None) -> dict:
    resp = call(env.app, f"/v2.1/servers/{server_id}", token=token, version=version)
    assert resp.status_int == 200, resp.body
    return resp.json["server"]


def error_message(resp: webob.Response) -> str:
    return next(iter(resp.json.values()))["message"]


# -- create ----------------------------------------------------------------------------

def test_create_one_answers_like_nova_and_casts_build_once(server_env: Env) -> None:
    resp = create(server_env, version="2.90", metadata={"role": "web"}, description="d",
                  availability_zone="nova")
    assert resp.status_int == 202, resp.body
    server = resp.json["server"]
    assert set(resp.json) == {"server"}
    assert set(server) == {"id", "links", "OS-DCF:diskConfig", "security_groups", "adminPass"}
    assert server["security_groups"] == [{"name": "default"}]
    assert server["OS-DCF:diskConfig"] == "MANUAL" and len(server["adminPass"]) >= 8
    assert resp.headers["Location"] == server["links"][0]["href"]
    assert server["links"][0]["href"].endswith(f"/v2.1/servers/{server['id']}")
    assert server["links"][1] == {"rel": "bookmark",
                                  "href": f"http://localhost/servers/{server['id']}"}

    row = server_env.db.instance_get(get_admin_context(), server["id"])
    assert (row.vm_state, row.task_state, row.power_state) == ("building", "scheduling", 0)
    assert (row.project_id, row.user_id, row.name, row.description) == ("demo", "alice",
                                                                         "vm", "d")
    assert row.flavor["flavorid"] == "1" and row.flavor["memory_mb"] == 512
    assert row.image_ref == server_env.image and row.metadata_ == {"role": "web"}
    assert row.availability_zone == "nova" and row.reservation_id.startswith("r-")

    (name, cast), = server_env.casts
    assert name == "build_instances"
    assert [i.uuid for i in cast["instances"]] == [server["id"]]
    spec = cast["request_spec"]
    assert (spec.num_instances, spec.project_id, spec.availability_zone) == (1, "demo", "nova")
    assert spec.flavor == row.flavor and cast["image"]["id"] == server_env.image
    # The action is recorded under the request id the client saw.
    actions = server_env.db.actions_get(get_admin_context(), server["id"])
    assert [(a.action, a.request_id) for a in actions] == [
        ("create", resp.headers["x-openstack-request-id"])]
    assert cast["ctxt"].request_id == resp.headers["x-openstack-request-id"]


def test_create_without_zone_leaves_it_null_then_shows_the_hosts(server_env: Env) -> None:
    server_id = new_server(server_env)
    row = server_env.db.instance_get(get_admin_context(), server_id)
    assert row.availability_zone is None
    assert show(server_env, server_id)["OS-EXT-AZ:availability_zone"] == ""
    place(server_env, server_id, host="c2")
    assert show(server_env, server_id)["OS-EXT-AZ:availability_zone"] == "az2"
    place(server_env, server_id, host="c1")
    assert show(server_env, server_id)["OS-EXT-AZ:availability_zone"] == "nova"


def test_multi_create_shares_a_reservation_and_one_cast(server_env: Env) -> None:
    resp = create(server_env, min_count=2, max_count=3, name="web")
    assert resp.status_int == 202
    (name, cast), = server_env.casts
    instances = cast["instances"]
    assert len(instances) == 3 and cast["request_spec"].num_instances == 3
    rows = [server_env.db.instance_get(get_admin_context(), i.uuid) for i in instances]
    assert [r.name for r in rows] == ["web-1", "web-2", "web-3"]
    assert [r.launch_index for r in rows] == [0, 1, 2]
    assert len({r.reservation_id for r in rows}) == 1
    assert resp.json["server"]["id"] == rows[0].uuid

    resp = create(server_env, max_count=2, return_reservation_id=True)
    assert resp.status_int == 202
    assert set(resp.json) == {"reservation_id"} and resp.json["reservation_id"].startswith("r-")
    assert "Location" not in resp.headers
    listed = call(server_env.app, f"/v2.1/servers?reservation_id={resp.json['reservation_id']}",
                  token=MEMBER).json["servers"]
    assert len(listed) == 2


def test_multi_create_builds_what_the_quota_allows(server_env: Env) -> None:
    quota.set_limit(get_admin_context(), "demo", "instances", 2)
    resp = create(server_env, min_count=1, max_count=5)
    assert resp.status_int == 202
    assert len(server_env.casts[0][1]["instances"]) == 2
    resp = create(server_env, min_count=1, max_count=1)
    assert resp.status_int == 403
    assert "Quota exceeded for instances" in resp.json["forbidden"]["message"]
    quota.set_limit(get_admin_context(), "demo", "instances", 4)
    resp = create(server_env, min_count=3, max_count=3)
    assert resp.status_int == 403 and len(server_env.casts) == 1
    quota.set_limit(get_admin_context(), "demo", "cores", 3)
    assert create(server_env, flavorRef="2").status_int == 403


def test_create_accepts_flavor_and_image_links_and_records_extras(server_env: Env) -> None:
    resp = create(server_env, flavorRef="http://localhost/flavors/2",
                  imageRef=f"http://localhost/v2/images/{server_env.image}",
                  key_name="mykey", accessIPv4="192.0.2.5", config_drive=True,
                  user_data="aGVsbG8=", **{"OS-DCF:diskConfig": "AUTO"})
    assert resp.status_int == 202, resp.body
    assert resp.json["server"]["OS-DCF:diskConfig"] == "AUTO"
    server = show(server_env, resp.json["server"]["id"], token=ADMIN, version="2.3")
    assert server["flavor"]["id"] == "2" and server["image"]["id"] == server_env.image
    assert (server["key_name"], server["accessIPv4"], server["config_drive"]) == (
        "mykey", "192.0.2.5", "True")
    assert server["OS-EXT-SRV-ATTR:user_data"] == "aGVsbG8="


@pytest.mark.parametrize(("server", "version", "field"), [
    ({"flavorRef": None}, None, "flavorRef"),
    ({"name": None}, None, "name"),
    ({"imageRef": None}, None, "imageRef"),
    ({"name": "x" * 256}, None, "name"),
    ({"name": " padded"}, None, "name"),
    ({"name": 42}, None, "name"),
    ({"flavorRef": ""}, None, "flavorRef"),
    ({"bogus": 1}, None, "bogus"),
    ({"min_count": "0"}, None, "min_count"),
    ({"max_count": "two"}, None, "max_count"),
    ({"metadata": {"k": 1}}, None, "metadata"),
    ({"metadata": "x"}, None, "metadata"),
    ({"description": "d"}, "2.18", "description"),
    ({"description": "x" * 256}, "2.19", "description"),
    ({"networks": [{"uuid": "not-a-uuid"}]}, "2.37", "networks"),
    ({"networks": "everything"}, "2.37", "networks"),
    ({"personality": []}, "2.57", "personality"),
    ({"hostname": "-bad-"}, "2.90", "hostname"),
    ({"hostname": "h"}, "2.89", "hostname"),
    ({"accessIPv4": "999.1.1.1"}, None, "accessIPv4"),
    ({"OS-DCF:diskConfig": "SOMETIMES"}, None, "OS-DCF:diskConfig"),
    ({"return_reservation_id": "maybe"}, None, "return_reservation_id"),
])
def test_create_bad_bodies_are_400_naming_the_field(server_env: Env, server: dict,
                                                    version: str | None, field: str) -> None:
    resp = create(server_env, version=version, **server)
    assert resp.status_int == 400, resp.body
    assert field in resp.json["badRequest"]["message"]
    assert server_env.casts == []


def test_create_needs_networks_from_2_37(server_env: Env) -> None:
    body = {"server": {"name": "vm", "flavorRef": "1", "imageRef": server_env.image}}
    resp = call(server_env.app, "/v2.1/servers", "POST", token=MEMBER, version="2.37",
                body=body)
    assert resp.status_int == 400 and "networks" in error_message(resp)
    for networks in ("auto", "none", []):
        body["server"]["networks"] = networks
        resp = call(server_env.app, "/v2.1/servers", "POST", token=MEMBER, version="2.37",
                    body=body)
        assert resp.status_int == 202, (networks, resp.body)
    body["server"]["networks"] = [{"uuid": str(uuid.uuid4())}]
    resp = call(server_env.app, "/v2.1/servers", "POST", token=MEMBER, version="2.37",
                body=body)
    assert resp.status_int == 400 and "could not be found" in error_message(resp)
    # Before 2.37, "auto" is not a list.
    body["server"]["networks"] = "auto"
    assert call(server_env.app, "/v2.1/servers", "POST", token=MEMBER, version="2.36",
                body=body).status_int == 400


@pytest.mark.parametrize(("server", "message"), [
    ({"flavorRef": "nope"}, "Invalid flavorRef provided."),
    ({"flavorRef": "off"}, "Invalid flavorRef provided."),
    ({"flavorRef": "private"}, "Invalid flavorRef provided."),
    ({"imageRef": "0000"}, "imageRef"),
    ({"imageRef": str(uuid.uuid4())}, "Can not find requested image"),
    ({"min_count": 3, "max_count": 2}, "min_count must be <= max_count"),
    ({"user_data": "not base64!"}, "user_data"),
    ({"block_device_mapping_v2": [{"boot_index": 0}]}, "block_device_mapping"),
    ({"availability_zone": "atlantis"}, "availability zone is not available"),
])
def test_create_refusals_are_400(server_env: Env, server: dict, message: str) -> None:
    resp = create(server_env, **server)
    assert resp.status_int == 400, resp.body
    assert message in error_message(resp)
    assert server_env.casts == []


def test_image_must_fit_the_flavor(server_env: Env) -> None:
    resp = create(server_env, imageRef=server_env.images["big-ram"])
    assert resp.status_int == 400 and "memory is too small" in error_message(resp)
    resp = create(server_env, imageRef=server_env.images["big-disk"])
    assert resp.status_int == 400 and "disk is too small" in error_message(resp)
    # 20 GiB of root disk is just enough for min_disk 20.
    assert create(server_env, imageRef=server_env.images["big-disk"],
                  flavorRef="2").status_int == 202
    assert create(server_env, flavorRef="2", imageRef=server_env.images["big-ram"]
                  ).status_int == 400
    # A zero-disk flavor is for volume-backed servers: administrators only (policy).
    assert create(server_env, flavorRef="zero").status_int == 403
    assert create(server_env, flavorRef="zero", token=ADMIN).status_int == 202


def test_private_flavor_is_usable_by_its_project(server_env: Env) -> None:
    assert create(server_env, token=OTHER, flavorRef="private").status_int == 202


def test_forced_and_requested_hosts_are_for_admins(server_env: Env) -> None:
    assert create(server_env, availability_zone="nova:c1").status_int == 403
    resp = create(server_env, token=ADMIN, availability_zone="nova:c1")
    assert resp.status_int == 202
    spec = server_env.casts[-1][1]["request_spec"]
    assert (spec.availability_zone, spec.requested_destination) == ("nova", "c1")
    assert create(server_env, version="2.74", host="c1").status_int == 403
    resp = create(server_env, token=ADMIN, version="2.74", hypervisor_hostname="c2")
    assert resp.status_int == 202
    assert server_env.casts[-1][1]["request_spec"].requested_destination == "c2"
    resp = create(server_env, token=ADMIN, version="2.74", host="nowhere")
    assert resp.status_int == 400 and "nowhere" in error_message(resp)
    # 2.73 does not know the field at all.
    assert create(server_env, token=ADMIN, version="2.73", host="c1").status_int == 400


def test_create_hostname_at_2_90(server_env: Env) -> None:
    server_id = create(server_env, version="2.90", hostname="web01").json["server"]["id"]
    assert show(server_env, server_id, version="2.90")["OS-EXT-SRV-ATTR:hostname"] == "web01"
    server_id = new_server(server_env, name="My Web_Server.1")
    assert show(server_env, server_id, version="2.90")[
        "OS-EXT-SRV-ATTR:hostname"] == "my-web-server-1"
    assert create(server_env, version="2.90", hostname="web01",
                  max_count=2).status_int == 400


def test_malformed_json_and_non_object_bodies(server_env: Env) -> None:
    req = webob.Request.blank("/v2.1/servers", method="POST")
    req.headers["X-Auth-Token"] = MEMBER
    req.content_type = "application/json"
    req.body = b"{not json"
    assert req.get_response(server_env.app).status_int == 400
    for body in ([], "server", {"server": []}, {"server": None}):
        resp = call(server_env.app, "/v2.1/servers", "POST", token=MEMBER, body=body)
        assert resp.status_int == 400, body


# -- views -----------------------------------------------------------------------------

@pytest.mark.parametrize(("version", "expected"), [
    ("2.1", DETAIL_2_1),
    ("2.46", MEMBER_2_47),
    ("2.47", MEMBER_2_47),
    ("2.71", MEMBER_2_47 | {"trusted_image_certificates", "server_groups"}),
    ("2.73", MEMBER_2_73 | {"server_groups"}),
    ("2.90", MEMBER_2_90 | {"server_groups"}),
])
def test_show_fields_for_a_member(server_env: Env, version: str, expected: set) -> None:
    server_id = running_server(server_env)
    assert set(show(server_env, server_id, version=version)) == expected


@pytest.mark.parametrize(("version", "expected"), [
    ("2.1", DETAIL_2_1 | ADMIN_2_1),
    ("2.3", DETAIL_2_1 | ADMIN_2_3),
    ("2.16", DETAIL_2_1 | ADMIN_2_3 | {"locked", "host_status"}),
    ("2.47", MEMBER_2_47 | ADMIN_2_3 | {"host_status"}),
    ("2.90", MEMBER_2_90 | ADMIN_2_3 | {"host_status", "server_groups"}),
])
def test_show_fields_for_an_admin(server_env: Env, version: str, expected: set) -> None:
    server_id = running_server(server_env)
    assert set(show(server_env, server_id, token=ADMIN, version=version)) == expected


def test_detail_and_index_fields(server_env: Env) -> None:
    running_server(server_env)
    servers = call(server_env.app, "/v2.1/servers/detail", token=MEMBER,
                   version="2.90").json["servers"]
    assert set(servers[0]) == MEMBER_2_90  # no server_groups in lists, as in Nova
    servers = call(server_env.app, "/v2.1/servers", token=MEMBER, version="2.90").json
    assert set(servers) == {"servers"} and set(servers["servers"][0]) == {"id", "name",
                                                                         "links"}


def test_show_values(server_env: Env) -> None:
    server_id = running_server(server_env, description="desc")
    server = show(server_env, server_id, token=ADMIN, version="2.3")
    assert server["status"] == "ACTIVE" and server["progress"] == 0
    assert server["hostId"] == hashlib.sha224(b"democ1").hexdigest()
    assert (server["OS-EXT-STS:vm_state"], server["OS-EXT-STS:task_state"],
            server["OS-EXT-STS:power_state"]) == ("active", None, 1)
    assert server["OS-EXT-SRV-ATTR:host"] == "c1"
    assert server["OS-EXT-SRV-ATTR:hypervisor_hostname"] == "c1"
    assert server["OS-EXT-SRV-ATTR:instance_name"].startswith("instance-")
    assert server["flavor"] == {"id": "1", "links": [
        {"rel": "bookmark", "href": "http://localhost/flavors/1"}]}
    assert server["image"]["links"][0]["href"] == (
        f"http://localhost/images/{server_env.image}")
    assert server["created"].endswith("Z") and "T" in server["created"]
    assert datetime.datetime.strptime(server["OS-SRV-USG:launched_at"],
                                      "%Y-%m-%dT%H:%M:%S.%f")
    assert server["os-extended-volumes:volumes_attached"] == [] and server["addresses"] == {}
    assert (server["tenant_id"], server["user_id"]) == ("demo", "alice")


def test_embedded_flavor_from_2_47(server_env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    server_id = new_server(server_env, flavorRef="2")
    flavor = show(server_env, server_id, version="2.47")["flavor"]
    assert flavor == {"vcpus": 2, "ram": 2048, "disk": 20, "ephemeral": 1, "swap": 512,
                      "original_name": "m1.small", "extra_specs": {"hw:cpu_policy": "shared"}}
    # Where policy hides extra specs, the flavor comes without them.
    from novalite.api.handlers import server_views
    from novalite.api.policies import servers as server_policies

    real_check = server_views.policy.check
    monkeypatch.setattr(server_views.policy, "check", lambda ctx, rule, target=None: (
        False if rule == server_policies.SHOW_FLAVOR_EXTRA_SPECS
        else real_check(ctx, rule, target)))
    assert "extra_specs" not in show(server_env, server_id, version="2.47")["flavor"]


def test_host_status_from_2_16(server_env: Env) -> None:
    ctx = get_admin_context()
    server_id = running_server(server_env)
    assert show(server_env, server_id, token=ADMIN, version="2.16")["host_status"] == "UP"
    assert "host_status" not in show(server_env, server_id, version="2.16")
    assert "host_status" not in show(server_env, server_id, token=ADMIN, version="2.15")
    service = server_env.db.service_get_by_host_and_binary(ctx, "c1", "novalite-compute")
    server_env.db.service_update(ctx, service.id, {"disabled": True})
    assert show(server_env, server_id, token=ADMIN, version="2.16")[
        "host_status"] == "MAINTENANCE"
    server_env.db.service_update(ctx, service.id, {"forced_down": True})
    assert show(server_env, server_id, token=ADMIN, version="2.16")["host_status"] == "DOWN"
    place(server_env, server_id, host="c2")
    assert show(server_env, server_id, token=ADMIN, version="2.16")["host_status"] == "UNKNOWN"
    building = new_server(server_env)
    assert show(server_env, building, token=ADMIN, version="2.16")["host_status"] == ""


def test_fault_shown_on_error_with_details_for_admins(server_env: Env) -> None:
    ctx = get_admin_context()
    server_id = new_server(server_env)
    server_env.db.instance_transition(ctx, server_id, "build_failed")
    server_env.db.instance_fault_create(ctx, {"instance_uuid": server_id, "code": 500,
                                              "message": "No valid host was found.",
                                              "details": "Traceback ..."})
    member = show(server_env, server_id)
    assert member["status"] == "ERROR" and "progress" not in member
    assert set(member["fault"]) == {"code", "created", "message"}
    assert member["fault"]["message"] == "No valid host was found."
    admin = show(server_env, server_id, token=ADMIN)
    assert admin["fault"]["details"] == "Traceback ..."
    listed = call(server_env.app, "/v2.1/servers/detail", token=MEMBER).json["servers"]
    assert listed[0]["fault"]["code"] == 500
    assert "fault" not in show(server_env, running_server(server_env))


def test_locked_fields(server_env: Env) -> None:
    server_id = running_server(server_env)
    server_env.db.instance_update(get_admin_context(), server_id, {
        "locked": True, "locked_by": "owner", "locked_reason": "maintenance"})
    server = show(server_env, server_id, version="2.73")
    assert (server["locked"], server["locked_reason"]) == (True, "maintenance")
    assert show(server_env, server_id, version="2.9")["locked"] is True
    assert "locked" not in show(server_env, server_id, version="2.8")


def test_project_id_in_the_url(server_env: Env) -> None:
    server_id = running_server(server_env)
    resp = call(server_env.app, f"/v2.1/demo/servers/{server_id}", token=MEMBER)
    assert resp.status_int == 200
    assert resp.json["server"]["links"][0]["href"] == (
        f"http://localhost/v2.1/demo/servers/{server_id}")
    assert call(server_env.app, "/v2.1/other/servers", token=MEMBER).status_int == 400
    resp = call(server_env.app, "/v2.1/demo/servers", "POST", token=MEMBER,
                body={"server": {"name": "p", "flavorRef": "1", "imageRef": server_env.image}})
    assert resp.status_int == 202
    assert "/v2.1/demo/servers/" in resp.headers["Location"]


# -- visibility ------------------------------------------------------------------------

def test_another_projects_server_is_404(server_env: Env) -> None:
    server_id = running_server(server_env)
    for method, path, body in (
            ("GET", f"/v2.1/servers/{server_id}", None),
            ("PUT", f"/v2.1/servers/{server_id}", {"server": {"name": "x"}}),
            ("DELETE", f"/v2.1/servers/{server_id}", None),
            ("POST", f"/v2.1/servers/{server_id}/action", {"os-stop": None}),
            ("GET", f"/v2.1/servers/{server_id}/os-instance-actions", None)):
        resp = call(server_env.app, path, method, token=OTHER, body=body)
        assert resp.status_int == 404, (method, path)
        assert resp.json["itemNotFound"]["code"] == 404
    assert call(server_env.app, "/v2.1/servers/detail", token=OTHER).json["servers"] == []
    assert show(server_env, server_id, token=ADMIN)["id"] == server_id
    assert server_env.casts == []


@pytest.mark.parametrize("bad_id", ["not-a-uuid", "1", "x" * 300,
                                    "00000000-0000-0000-0000-000000000000"])
def test_missing_or_malformed_ids_are_404(server_env: Env, bad_id: str) -> None:
    assert call(server_env.app, f"/v2.1/servers/{bad_id}", token=MEMBER).status_int == 404
    assert call(server_env.app, f"/v2.1/servers/{bad_id}", "DELETE",
                token=MEMBER).status_int == 404


def test_all_tenants(server_env: Env) -> None:
    mine = running_server(server_env)
    theirs = running_server(server_env, token=OTHER)
    admins = new_server(server_env, token=ADMIN)
    for path in ("/v2.1/servers?all_tenants=1", "/v2.1/servers/detail?all_tenants",
                 "/v2.1/servers?all_tenants=true"):
        resp = call(server_env.app, path, token=MEMBER)
        assert resp.status_int == 403, path
        assert resp.json["forbidden"]["code"] == 403

    def ids(path: str, token: str = ADMIN) -> set:
        resp = call(server_env.app, path, token=token)
        assert resp.status_int == 200, resp.body
        return {s["id"] for s in resp.json["servers"]}

    assert ids("/v2.1/servers") == {admins}
    assert ids("/v2.1/servers?all_tenants=1") == {mine, theirs, admins}
    assert ids("/v2.1/servers?all_tenants") == {mine, theirs, admins}
    assert ids("/v2.1/servers?all_tenants=0") == {admins}
    assert ids("/v2.1/servers?all_tenants=1&project_id=other") == {theirs}
    assert ids("/v2.1/servers?all_tenants=1&tenant_id=demo") == {mine}
    # Without all_tenants a project filter cannot widen the scope.
    assert ids("/v2.1/servers?project_id=other", token=MEMBER) == {mine}
    assert call(server_env.app, "/v2.1/servers?all_tenants=perhaps",
                token=ADMIN).status_int == 400


# -- list: filters, sorting, paging ----------------------------------------------------

def _ids(env: Env, query: str, token: str = MEMBER, version: str | None = None) -> list:
    resp = call(env.app, f"/v2.1/servers/detail?{query}", token=token, version=version)
    assert resp.status_int == 200, resp.body
    return [s["id"] for s in resp.json["servers"]]


def test_list_filters(server_env: Env) -> None:
    web = running_server(server_env)
    server_env.db.instance_update(get_admin_context(), web, {"name": "web-1"})
    db_server = new_server(server_env, name="db-1", flavorRef="2")
    stopped = running_server(server_env, vm_state="stopped", power_state=4)
    assert set(_ids(server_env, "")) == {web, db_server, stopped}
    assert _ids(server_env, "name=^web") == [web]
    assert _ids(server_env, "name=db-") == [db_server]
    assert _ids(server_env, "status=SHUTOFF") == [stopped]
    assert _ids(server_env, "status=build") == [db_server]
    assert set(_ids(server_env, "status=ACTIVE&status=SHUTOFF")) == {web, stopped}
    assert _ids(server_env, "status=SUSPENDED") == []
    assert _ids(server_env, "status=BOGUS", version="2.37") == []
    resp = call(server_env.app, "/v2.1/servers?status=BOGUS", token=MEMBER, version="2.38")
    assert resp.status_int == 400
    assert _ids(server_env, "flavor=2") == [db_server]
    assert set(_ids(server_env, f"image={server_env.image}")) == {web, db_server, stopped}
    assert _ids(server_env, "image=nope") == []
    assert _ids(server_env, "ip=10.0.0.1") == []
    assert _ids(server_env, "tags=a", version="2.26") == []
    assert len(_ids(server_env, "not-tags=a", version="2.26")) == 3
    assert call(server_env.app, "/v2.1/servers?name=(", token=MEMBER).status_int == 400


def test_host_filter_is_for_admins(server_env: Env) -> None:
    on_c1 = running_server(server_env)
    on_c2 = running_server(server_env, host="c2")
    assert _ids(server_env, "host=c1", token=ADMIN, version="2.1") == []  # admin's project
    assert _ids(server_env, "all_tenants=1&host=c1", token=ADMIN) == [on_c1]
    # A member's host filter is dropped, as Nova drops filters it may not use.
    assert set(_ids(server_env, "host=c1")) == {on_c1, on_c2}
    assert set(_ids(server_env, "host=c1", version="2.75")) == {on_c1, on_c2}


def test_locked_filter_from_2_73(server_env: Env) -> None:
    locked = running_server(server_env)
    free = running_server(server_env)
    server_env.db.instance_update(get_admin_context(), locked, {"locked": True})
    assert _ids(server_env, "locked=true", version="2.73") == [locked]
    assert _ids(server_env, "locked=0", version="2.73") == [free]
    assert set(_ids(server_env, "locked=true", version="2.72")) == {locked, free}
    resp = call(server_env.app, "/v2.1/servers?locked=maybe", token=MEMBER, version="2.73")
    assert resp.status_int == 400


def test_unknown_query_parameters_refused_from_2_75(server_env: Env) -> None:
    running_server(server_env)
    assert len(_ids(server_env, "foo=bar", version="2.74")) == 1
    resp = call(server_env.app, "/v2.1/servers?foo=bar", token=MEMBER, version="2.75")
    assert resp.status_int == 400 and "foo" in error_message(resp)


def test_changes_since_includes_deleted_servers(server_env: Env) -> None:
    before = (utcnow() - datetime.timedelta(seconds=5)).isoformat()
    kept = running_server(server_env)
    gone = new_server(server_env)
    assert call(server_env.app, f"/v2.1/servers/{gone}", "DELETE", token=MEMBER).status_int == 204
    found = call(server_env.app, f"/v2.1/servers/detail?changes-since={before}",
                 token=MEMBER).json["servers"]
    assert {s["id"]: s["status"] for s in found} == {kept: "ACTIVE", gone: "DELETED"}
    assert set(_ids(server_env, "")) == {kept}
    later = (utcnow() + datetime.timedelta(hours=1)).isoformat() + "Z"
    assert _ids(server_env, f"changes-since={later}") == []
    resp = call(server_env.app, f"/v2.1/servers?changes-since={later}&changes-before={before}",
                token=MEMBER, version="2.66")
    assert resp.status_int == 400
    assert call(server_env.app, "/v2.1/servers?changes-since=yesterday",
                token=MEMBER).status_int == 400
    # Deleted servers by status: administrators only.
    assert call(server_env.app, "/v2.1/servers?status=DELETED", token=MEMBER).status_int == 403
    # A member's deleted filter is dropped like any filter it may not use.
    assert _ids(server_env, "deleted=true") == [kept]
    assert gone in _ids(server_env, "all_tenants=1&status=DELETED", token=ADMIN)
    assert _ids(server_env, "all_tenants=1&deleted=true", token=ADMIN) == [gone]


def test_sorting_and_paging(server_env: Env) -> None:
    ids = []
    for index, name in enumerate(["c", "a", "e", "b", "d"]):
        server_id = new_server(server_env, name=name)
        if index % 2:
            place(server_env, server_id, host="c1")
        ids.append(server_id)
    by_name = [ids[1], ids[3], ids[0], ids[4], ids[2]]
    assert _ids(server_env, "sort_key=display_name&sort_dir=asc") == by_name
    assert _ids(server_env, "sort_key=display_name&sort_dir=desc") == by_name[::-1]
    assert _ids(server_env, "") == ids[::-1]  # newest first by default
    # Paging with a NULL-able key (host) and a tie breaker still visits each row once.
    for direction in ("asc", "desc"):
        for token in (MEMBER, ADMIN):
            seen, query = [], f"sort_key=host&sort_dir={direction}&limit=2"
            if token == ADMIN:
                query += "&all_tenants=1"
            while True:
                resp = call(server_env.app, f"/v2.1/servers?{query}", token=token)
                page = resp.json["servers"]
                seen += [s["id"] for s in page]
                links = resp.json.get("servers_links")
                if not links:
                    break
                assert links[0]["rel"] == "next" and f"marker={page[-1]['id']}" in (
                    links[0]["href"])
                query = links[0]["href"].split("?", 1)[1]
            assert sorted(seen) == sorted(ids) and len(seen) == 5, (direction, token)
    resp = call(server_env.app, "/v2.1/servers?limit=5", token=MEMBER)
    assert len(resp.json["servers"]) == 5 and "servers_links" in resp.json
    resp = call(server_env.app, "/v2.1/servers?limit=6", token=MEMBER)
    assert "servers_links" not in resp.json
    assert call(server_env.app, "/v2.1/servers?limit=0", token=MEMBER).json == {"servers": []}
    # Ignored sort keys are accepted and dropped.
    assert len(_ids(server_env, "sort_key=vcpus")) == 5


@pytest.mark.parametrize("query", [
    "limit=abc", "limit=-1", f"marker={uuid.uuid4()}", "sort_key=bogus", "sort_dir=up",
    "sort_key=display_name&sort_dir=asc&sort_dir=desc", "deleted=maybe",
])
def test_bad_list_parameters_are_400(server_env: Env, query: str) -> None:
    running_server(server_env)
    resp = call(server_env.app, f"/v2.1/servers/detail?{query}", token=MEMBER)
    assert resp.status_int == 400, resp.body


def test_marker_of_another_project_is_not_found(server_env: Env) -> None:
    theirs = running_server(server_env, token=OTHER)
    resp = call(server_env.app, f"/v2.1/servers?marker={theirs}", token=MEMBER)
    assert resp.status_int == 400 and theirs in error_message(resp)


# -- update ----------------------------------------------------------------------------

def test_update_name_and_description(server_env: Env) -> None:
    server_id = running_server(server_env)
    resp = call(server_env.app, f"/v2.1/servers/{server_id}", "PUT", token=MEMBER,
                version="2.19", body={"server": {"name": "renamed", "description": "new"}})
    assert resp.status_int == 200, resp.body
    server = resp.json["server"]
    assert (server["name"], server["description"]) == ("renamed", "new")
    # Before 2.75 PUT answers the short view, from 2.75 the same as GET.
    assert set(server) == BASE_KEYS | {"progress", "locked", "description"}
    resp = call(server_env.app, f"/v2.1/servers/{server_id}", "PUT", token=MEMBER,
                version="2.75", body={"server": {"accessIPv4": "192.0.2.1"}})
    assert set(resp.json["server"]) == MEMBER_2_73 | {"server_groups"}
    assert resp.json["server"]["accessIPv4"] == "192.0.2.1"
    resp = call(server_env.app, f"/v2.1/servers/{server_id}", "PUT", token=MEMBER,
                version="2.90", body={"server": {"hostname": "new-host"}})
    assert resp.json["server"]["OS-EXT-SRV-ATTR:hostname"] == "new-host"
    assert show(server_env, server_id, version="2.19")["name"] == "renamed"


@pytest.mark.parametrize(("body", "version"), [
    ({"server": {"description": "x"}}, "2.18"),
    ({"server": {"name": ""}}, "2.1"),
    ({"server": {"flavorRef": "2"}}, "2.1"),
    ({"name": "x"}, "2.1"),
    ({"server": {"hostname": "h1"}}, "2.89"),
])
def test_update_bad_bodies(server_env: Env, body: dict, version: str) -> None:
    server_id = running_server(server_env)
    resp = call(server_env.app, f"/v2.1/servers/{server_id}", "PUT", token=MEMBER,
                version=version, body=body)
    assert resp.status_int == 400, resp.body


def test_a_reader_sees_but_does_not_act(server_env: Env, tmp_path: Path) -> None:
    from novalite.api import deploy

    tokens = tmp_path / "reader-tokens.json"
    tokens.write_text(json.dumps({"reader": {"user_id": "rita", "project_id": "demo",
                                             "roles": ["reader"]}}))
    CONF.set_override("auth_strategy", "token", group="api")
    CONF.set_override("token_file", str(tokens), group="api")
    app = deploy.build_app(CONF)
    server_id = running_server(server_env)
    assert call(app, f"/v2.1/servers/{server_id}", token="reader").status_int == 200
    assert len(call(app, "/v2.1/servers/detail", token="reader").json["servers"]) == 1
    for method, path, body in (
            ("PUT", f"/v2.1/servers/{server_id}", {"server": {"name": "x"}}),
            ("DELETE", f"/v2.1/servers/{server_id}", None),
            ("POST", f"/v2.1/servers/{server_id}/action", {"os-stop": None}),
            ("POST", f"/v2.1/servers/{server_id}/action", {"lock": None}),
            ("POST", "/v2.1/servers", {"server": {"name": "r", "flavorRef": "1",
                                                  "imageRef": server_env.image}})):
        assert call(app, path, method, token="reader", body=body).status_int == 403, path
    assert server_env.casts == []


# -- delete ----------------------------------------------------------------------------

def test_delete_on_a_live_host_casts_terminate(server_env: Env) -> None:
    server_id = running_server(server_env)
    resp = call(server_env.app, f"/v2.1/servers/{server_id}", "DELETE", token=MEMBER)
    assert resp.status_int == 204 and resp.body == b""
    server = show(server_env, server_id, token=MEMBER)
    assert server["OS-EXT-STS:task_state"] == "deleting"
    (name, cast), = server_env.casts
    assert name == "terminate_instance" and cast["instance"].task_state == "deleting"
    assert cast["instance"].host == "c1"
    # Again while it is being deleted: accepted, nothing sent twice.
    assert call(server_env.app, f"/v2.1/servers/{server_id}", "DELETE",
                token=MEMBER).status_int == 204
    assert len(server_env.casts) == 1
    actions = server_env.db.actions_get(get_admin_context(), server_id)
    assert [a.action for a in actions] == ["delete", "create"]


def test_delete_when_the_host_is_down_is_local(server_env: Env) -> None:
    ctx = get_admin_context()
    server_id = running_server(server_env, host="c2")
    node = next(n for n in server_env.db.compute_node_get_all(ctx) if n.host == "c2")
    assert allocations.claim(ctx, server_id, node.uuid, 1, 512, 1, "demo", "alice")
    resp = call(server_env.app, f"/v2.1/servers/{server_id}", "DELETE", token=MEMBER)
    assert resp.status_int == 204
    assert call(server_env.app, f"/v2.1/servers/{server_id}", token=MEMBER).status_int == 404
    assert allocations.get_by_consumer(ctx, server_id) == []
    assert server_env.casts == []
    row = server_env.db.instance_get(ctx, server_id, read_deleted=True)
    assert (row.vm_state, row.task_state) == ("deleted", None)
    delete_action = server_env.db.actions_get(ctx, server_id)[0]
    assert delete_action.action == "delete" and delete_action.finish_time is not None


def test_delete_of_a_never_scheduled_server_is_local(server_env: Env) -> None:
    server_id = new_server(server_env)
    server_env.casts.clear()
    assert call(server_env.app, f"/v2.1/servers/{server_id}", "DELETE",
                token=MEMBER).status_int == 204
    assert call(server_env.app, f"/v2.1/servers/{server_id}", token=MEMBER).status_int == 404
    assert server_env.casts == []


def test_delete_of_a_locked_server(server_env: Env) -> None:
    server_id = running_server(server_env)
    server_env.db.instance_update(get_admin_context(), server_id,
                                  {"locked": True, "locked_by": "owner"})
    resp = call(server_env.app, f"/v2.1/servers/{server_id}", "DELETE", token=MEMBER)
    assert resp.status_int == 409 and "locked" in error_message(resp)
    assert server_env.casts == []
    assert call(server_env.app, f"/v2.1/servers/{server_id}", "DELETE",
                token=ADMIN).status_int == 204
    assert server_env.cast_names() == ["terminate_instance"]
