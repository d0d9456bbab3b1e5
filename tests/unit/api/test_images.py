"""The read-only image API: Glance v2 under /image and Nova's /images proxy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from novalite.conf import CONF
from novalite.image import api as image_api
from tests.unit.api.conftest import MEMBER, call
from tests.unit.test_image_store import VIRTUAL_SIZE, qcow2_bytes

GLANCE_FIELDS = {"id", "name", "status", "visibility", "protected", "os_hidden", "tags",
                 "disk_format", "container_format", "min_disk", "min_ram", "size",
                 "virtual_size", "checksum", "os_hash_algo", "os_hash_value", "owner",
                 "created_at", "updated_at", "self", "file", "schema"}
NOVA_FIELDS = {"id", "name", "minRam", "minDisk", "metadata", "created", "updated", "status",
               "progress", "OS-EXT-IMG-SIZE:size", "links"}


@pytest.fixture
def images(tmp_path: Path) -> Any:
    """cirros (qcow2, with properties), debian (raw) and a second 'cirros' image, created
    in that order one second apart (Glance lists newest first)."""
    CONF.set_override("local_dir", str(tmp_path / "images"), group="image")
    qcow2 = tmp_path / "cirros.qcow2"
    qcow2.write_bytes(qcow2_bytes())
    raw = tmp_path / "debian.img"
    raw.write_bytes(b"d" * 2048)
    made = [
        image_api.add(qcow2, "cirros", image_id="aaaaaaaa-0000-0000-0000-000000000001",
                      min_ram=64, properties={"hw_disk_bus": "virtio", "os_distro": "cirros",
                                              "auto_disk_config": "true"}),
        image_api.add(raw, "debian", image_id="aaaaaaaa-0000-0000-0000-000000000002",
                      min_disk=2),
        image_api.add(qcow2, "cirros", image_id="aaaaaaaa-0000-0000-0000-000000000003"),
    ]
    # Distinct creation times without sleeping: rewrite them in the index.
    index = image_api._read_index()  # noqa: SLF001 - test setup
    for n, entry in enumerate(index):
        entry["created_at"] = entry["updated_at"] = f"2026-01-0{n + 1}T00:00:00Z"
    image_api._write_index(index)  # noqa: SLF001 - test setup
    yield [image["id"] for image in made]
    CONF.clear_override("local_dir", group="image")


def test_version_document(app) -> None:
    resp = call(app, "/image", token=MEMBER)
    assert resp.status_int == 300
    versions = resp.json["versions"]
    assert versions[0] == {"id": "v2.16", "status": "CURRENT",
                           "links": [{"rel": "self", "href": "http://localhost/image/v2/"}]}
    assert all(v["status"] == "SUPPORTED" for v in versions[1:])
    assert versions[-1]["id"] == "v2.0"
    assert call(app, "/image/", token=MEMBER).status_int == 300


def test_list_fields_and_default_order(app, images) -> None:
    resp = call(app, "/image/v2/images", token=MEMBER)
    assert resp.status_int == 200
    body = resp.json
    assert set(body) == {"images", "first", "schema"}
    assert (body["first"], body["schema"]) == ("/v2/images", "/v2/schemas/images")
    assert [i["id"] for i in body["images"]] == list(reversed(images))
    cirros = body["images"][2]
    assert set(cirros) == GLANCE_FIELDS | {"hw_disk_bus", "os_distro", "auto_disk_config"}
    assert cirros["self"] == f"/v2/images/{images[0]}"
    assert cirros["file"] == f"/v2/images/{images[0]}/file"
    assert (cirros["status"], cirros["visibility"], cirros["disk_format"]) == \
        ("active", "public", "qcow2")
    assert cirros["virtual_size"] == VIRTUAL_SIZE and cirros["min_ram"] == 64
    assert cirros["hw_disk_bus"] == "virtio" and cirros["tags"] == []
    assert cirros["os_hash_algo"] == "sha512" and len(cirros["checksum"]) == 32


def test_name_and_other_filters(app, images) -> None:
    def ids(query: str) -> list[str]:
        resp = call(app, f"/image/v2/images{query}", token=MEMBER)
        assert resp.status_int == 200, resp.text
        return [i["id"] for i in resp.json["images"]]

    assert ids("?name=cirros") == [images[2], images[0]]
    assert ids("?name=in:debian,nothing") == [images[1]]
    assert ids(f"?id=in:{images[0]},{images[1]}") == [images[1], images[0]]
    assert ids("?disk_format=raw") == [images[1]]
    assert ids("?os_distro=cirros") == [images[0]]
    assert ids("?visibility=public&status=active") == list(reversed(images))
    assert ids("?visibility=private") == []
    assert ids("?visibility=all") == list(reversed(images))
    assert ids("?size_min=1000&size_max=3000") == [images[1]]
    assert ids("?os_hidden=true") == []
    assert ids("?tag=web") == []
    assert ids("?name=nothing") == []


def test_paging_with_next_and_first(app, images) -> None:
    page1 = call(app, "/image/v2/images?limit=2", token=MEMBER).json
    assert [i["id"] for i in page1["images"]] == [images[2], images[1]]
    assert page1["first"] == "/v2/images?limit=2"
    assert page1["next"] == f"/v2/images?limit=2&marker={images[1]}"
    page2 = call(app, page1["next"].replace("/v2/", "/image/v2/"), token=MEMBER).json
    assert [i["id"] for i in page2["images"]] == [images[0]]
    assert "next" not in page2 and page2["first"] == "/v2/images?limit=2"


def test_sorting(app, images) -> None:
    def ids(query: str) -> list[str]:
        return [i["id"] for i in call(app, f"/image/v2/images{query}",
                                      token=MEMBER).json["images"]]

    assert ids("?sort_key=name&sort_dir=asc") == [images[0], images[2], images[1]]
    assert ids("?sort=name:asc,created_at:desc") == [images[2], images[0], images[1]]
    assert ids("?sort_key=size&sort_dir=desc")[0] == images[1]  # raw: 2 KiB


@pytest.mark.parametrize("query", [
    "?limit=x", "?limit=-1", "?marker=nope", "?sort_key=colour", "?sort_dir=up",
    "?sort=name:sideways", "?sort=name&sort_key=id", "?size_min=big",
])
def test_bad_queries_are_400(app, images, query) -> None:
    assert call(app, f"/image/v2/images{query}", token=MEMBER).status_int == 400


def test_show_and_unknown_image(app, images) -> None:
    resp = call(app, f"/image/v2/images/{images[1]}", token=MEMBER)
    assert resp.status_int == 200
    assert resp.json["name"] == "debian" and set(resp.json) == GLANCE_FIELDS
    missing = call(app, "/image/v2/images/cirros", token=MEMBER)
    assert missing.status_int == 404
    assert missing.json["itemNotFound"]["message"] == "No image found with ID cirros"


def test_image_listing_needs_a_token(app, images) -> None:
    assert call(app, "/image/v2/images", token=None).status_int == 401
    assert call(app, f"/image/v2/images/{images[0]}", token=None).status_int == 401


def test_an_empty_store_lists_nothing(app, tmp_path) -> None:
    CONF.set_override("local_dir", str(tmp_path / "empty"), group="image")
    try:
        body = call(app, "/image/v2/images", token=MEMBER).json
    finally:
        CONF.clear_override("local_dir", group="image")
    assert body == {"images": [], "first": "/v2/images", "schema": "/v2/schemas/images"}


# -- Nova's proxy ------------------------------------------------------------------------

def test_nova_proxy_index_and_detail(app, images) -> None:
    index = call(app, "/v2.1/images", token=MEMBER).json
    assert [i["id"] for i in index["images"]] == list(reversed(images))
    first = index["images"][0]
    assert set(first) == {"id", "name", "links"}
    assert [link["rel"] for link in first["links"]] == ["self", "bookmark", "alternate"]
    assert first["links"][0]["href"] == f"http://localhost/v2.1/images/{images[2]}"
    assert first["links"][2]["href"] == f"http://localhost/image/images/{images[2]}"

    detail = call(app, "/v2.1/images/detail", token=MEMBER).json["images"]
    cirros = detail[2]
    assert set(cirros) == NOVA_FIELDS | {"OS-DCF:diskConfig"}
    assert (cirros["status"], cirros["progress"], cirros["minRam"]) == ("ACTIVE", 100, 64)
    assert cirros["metadata"]["os_distro"] == "cirros"
    assert cirros["OS-DCF:diskConfig"] == "AUTO"
    assert cirros["created"] == "2026-01-01T00:00:00Z"
    assert set(detail[1]) == NOVA_FIELDS


def test_nova_proxy_filters_paging_and_show(app, images) -> None:
    def ids(query: str) -> list[str]:
        resp = call(app, f"/v2.1/images/detail{query}", token=MEMBER)
        assert resp.status_int == 200, resp.text
        return [i["id"] for i in resp.json["images"]]

    assert ids("?name=debian") == [images[1]]
    assert ids("?minDisk=1") == [images[1]]
    assert ids("?minRam=64") == [images[0]]
    assert ids("?status=SAVING") == []
    page = call(app, "/v2.1/images?limit=1", token=MEMBER).json
    assert page["images_links"][0]["href"] == \
        f"http://localhost/v2.1/images?limit=1&marker={images[2]}"
    assert call(app, "/v2.1/images?marker=nope", token=MEMBER).status_int == 400
    assert call(app, "/v2.1/images?minRam=x", token=MEMBER).status_int == 400
    shown = call(app, f"/v2.1/images/{images[1]}", token=MEMBER)
    assert shown.status_int == 200 and shown.json["image"]["name"] == "debian"
    assert call(app, "/v2.1/images/nope", token=MEMBER).status_int == 404


def test_nova_proxy_is_gone_from_2_36(app, images) -> None:
    for path in ("/v2.1/images", "/v2.1/images/detail", f"/v2.1/images/{images[0]}"):
        assert call(app, path, token=MEMBER, version="2.35").status_int == 200
        assert call(app, path, token=MEMBER, version="2.36").status_int == 404
