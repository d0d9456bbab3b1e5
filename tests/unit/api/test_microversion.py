"""Microversion parsing and negotiation, directly and through the app."""

from __future__ import annotations

import pytest

from novalite.api import microversion
from novalite.api.microversion import APIVersion
from tests.unit.api.conftest import call

MAX = str(microversion.MAX_VERSION)


def test_versions_compare_with_each_other_and_with_strings() -> None:
    assert APIVersion.parse("2.10") > APIVersion.parse("2.9")
    assert APIVersion.parse("2.53") >= "2.53"
    assert APIVersion.parse("2.52") < "2.53"
    assert APIVersion.parse("2.1") == "2.1"
    assert str(APIVersion.parse("2.90")) == "2.90"


@pytest.mark.parametrize("text", ["2", "2.", "two.one", "2.01", "02.1", "2.1.1", ""])
def test_malformed_version_strings_are_rejected(text: str) -> None:
    with pytest.raises(microversion.InvalidVersion):
        APIVersion.parse(text)


@pytest.mark.parametrize("headers,expected", [
    ({}, "2.1"),
    ({"OpenStack-API-Version": "compute 2.53"}, "2.53"),
    ({"OpenStack-API-Version": "image 2.5, compute 2.11"}, "2.11"),
    ({"OpenStack-API-Version": "COMPUTE latest"}, MAX),
    ({"OpenStack-API-Version": "image 2.5"}, "2.1"),
    ({"X-OpenStack-Nova-API-Version": "2.28"}, "2.28"),
    ({"X-OpenStack-Nova-API-Version": "latest"}, MAX),
    # The new header wins over the legacy one.
    ({"OpenStack-API-Version": "compute 2.60",
      "X-OpenStack-Nova-API-Version": "2.3"}, "2.60"),
])
def test_negotiate(headers: dict, expected: str) -> None:
    assert microversion.negotiate(headers) == expected


def test_negotiate_out_of_range() -> None:
    with pytest.raises(microversion.VersionNotAcceptable):
        microversion.negotiate({"OpenStack-API-Version": "compute 2.0"})
    above = f"2.{microversion.MAX_VERSION.minor + 1}"
    with pytest.raises(microversion.VersionNotAcceptable):
        microversion.negotiate({"OpenStack-API-Version": f"compute {above}"})
    with pytest.raises(microversion.VersionNotAcceptable):
        microversion.negotiate({"OpenStack-API-Version": "compute 3.0"})


def _assert_echo(resp, version: str) -> None:
    assert resp.headers["OpenStack-API-Version"] == f"compute {version}"
    assert resp.headers["X-OpenStack-Nova-API-Version"] == version
    vary = resp.headers["Vary"]
    assert "OpenStack-API-Version" in vary and "X-OpenStack-Nova-API-Version" in vary


def test_no_header_means_2_1_and_is_echoed(app) -> None:
    resp = call(app, "/v2.1/os-services")
    assert resp.status_int == 200
    _assert_echo(resp, "2.1")


def test_latest_means_the_maximum(app) -> None:
    resp = call(app, "/v2.1/os-services", version="latest")
    assert resp.status_int == 200
    _assert_echo(resp, MAX)


def test_legacy_header_is_honoured_and_both_headers_echoed(app, services) -> None:
    resp = call(app, "/v2.1/os-services", headers={"X-OpenStack-Nova-API-Version": "2.11"})
    _assert_echo(resp, "2.11")
    assert "forced_down" in resp.json["services"][0]


def test_above_the_maximum_is_406_in_nova_shape(app) -> None:
    above = f"2.{microversion.MAX_VERSION.minor + 1}"
    resp = call(app, "/v2.1/os-services", version=above)
    assert resp.status_int == 406
    assert resp.json["computeFault"]["code"] == 406
    assert MAX in resp.json["computeFault"]["message"]


def test_below_the_minimum_is_406(app) -> None:
    resp = call(app, "/v2.1/os-services", headers={"X-OpenStack-Nova-API-Version": "2.0"})
    assert resp.status_int == 406


def test_malformed_version_is_400_as_in_nova(app) -> None:
    # Nova answers 400 (InvalidAPIVersionString) for a string it cannot parse and 406
    # only for a well-formed version outside the supported range.
    resp = call(app, "/v2.1/os-services", version="2.x")
    assert resp.status_int == 400
    assert "invalid format" in resp.json["badRequest"]["message"]


def test_errors_after_negotiation_echo_the_version(app) -> None:
    resp = call(app, "/v2.1/os-services", version="2.53", token="alice:demo")
    assert resp.status_int == 403
    _assert_echo(resp, "2.53")
    resp = call(app, "/v2.1/no-such-thing", version="2.53")
    assert resp.status_int == 404
    _assert_echo(resp, "2.53")


def test_existing_vary_is_kept() -> None:
    merged = microversion.merge_headers([("Vary", "Accept")], APIVersion.parse("2.5"))
    assert ("Vary", f"Accept, {microversion.VARY}") in merged


def test_handler_limited_to_a_range_is_404_outside_it(app) -> None:
    assert call(app, "/v2.1/os-hypervisors/statistics", version="2.87").status_int == 200
    resp = call(app, "/v2.1/os-hypervisors/statistics", version="2.88")
    assert resp.status_int == 404
    assert resp.json["itemNotFound"]["code"] == 404
