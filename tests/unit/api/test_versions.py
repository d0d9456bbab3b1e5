"""The version documents clients read before anything else."""

from __future__ import annotations

from novalite.api import microversion
from novalite.conf import CONF
from tests.unit.api.conftest import call

REQUIRED = {"id", "status", "version", "min_version", "links", "updated"}


def test_root_lists_v2_1(app) -> None:
    resp = call(app, "/", token=None)
    assert resp.status_int == 200
    (version,) = resp.json["versions"]
    assert REQUIRED <= set(version)
    assert version["id"] == "v2.1" and version["status"] == "CURRENT"
    assert version["version"] == str(microversion.MAX_VERSION)
    assert version["min_version"] == "2.1"
    assert version["links"] == [{"href": "http://localhost/v2.1/", "rel": "self"}]
    # The root is not microversioned.
    assert "OpenStack-API-Version" not in resp.headers


def test_v2_1_document_with_and_without_slash(app) -> None:
    for path in ("/v2.1", "/v2.1/"):
        resp = call(app, path, token=None)
        assert resp.status_int == 200
        doc = resp.json["version"]
        assert REQUIRED <= set(doc)
        assert doc["version"] == str(microversion.MAX_VERSION)
        assert doc["min_version"] == str(microversion.MIN_VERSION)
        assert doc["updated"] == "2013-07-23T11:33:21Z"
        assert {"href": "http://localhost/v2.1/", "rel": "self"} in doc["links"]
        assert doc["media-types"][0]["base"] == "application/json"
        assert resp.headers["OpenStack-API-Version"] == "compute 2.1"


def test_links_use_the_public_endpoint_when_set(app) -> None:
    CONF.set_override("public_endpoint", "https://compute.example.org:8774/", group="api")
    doc = call(app, "/v2.1", token=None).json["version"]
    assert doc["links"][0]["href"] == "https://compute.example.org:8774/v2.1/"


def test_version_document_is_get_only(app) -> None:
    resp = call(app, "/v2.1/", method="POST", token=None, body={})
    assert resp.status_int == 405
    assert resp.headers["Allow"] == "GET"
