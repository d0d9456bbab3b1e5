"""request(): microversion negotiation, error mapping, retries, unreachable endpoints."""

from __future__ import annotations

import socket

import pytest

from novalite.client import Client, exceptions
from tests.unit.client.conftest import Stub, fault, make_client

# -- microversions -------------------------------------------------------------------


def test_latest_is_the_servers_maximum(stub: Stub) -> None:
    stub.max_version = "2.88"
    stub.reply("GET", "/servers", 200, {"servers": []})
    stub.reply("GET", "/flavors", 200, {"flavors": []})
    client = make_client(stub)
    client.request("GET", "/servers")
    client.request("GET", "/flavors")
    assert client.api_version == "2.88"
    assert [r.version for r in stub.api_requests()] == ["2.88", "2.88"]
    assert [r.path for r in stub.requests].count("/v2.1") == 1  # fetched once
    assert (client.min_version, client.max_version) == ("2.1", "2.88")


def test_latest_is_capped_at_what_the_client_knows(stub: Stub) -> None:
    stub.max_version = "2.95"
    assert make_client(stub).api_version == "2.90"


def test_explicit_version_in_range_is_sent(stub: Stub) -> None:
    stub.reply("GET", "/os-services", 200, {"services": []})
    client = make_client(stub, api_version="2.53")
    client.request("GET", "/os-services")
    assert stub.last().headers["openstack-api-version"] == "compute 2.53"


@pytest.mark.parametrize("version", ["2.91", "2.0", "3.1"])
def test_version_outside_the_servers_range(stub: Stub, version: str) -> None:
    stub.min_version = "2.1"
    client = make_client(stub, api_version=version)
    with pytest.raises(exceptions.UnsupportedVersion, match="serves 2.1 to 2.90"):
        client.request("GET", "/servers")
    assert stub.api_requests() == []


def test_malformed_version_is_refused_at_once() -> None:
    with pytest.raises(exceptions.UnsupportedVersion, match="Invalid API version"):
        Client("http://h:8774", api_version="two")


def test_per_call_version_override(stub: Stub) -> None:
    stub.reply("GET", "/images", 200, {"images": []})
    client = make_client(stub, api_version="2.60")
    client.request("GET", "/images", version="2.35")
    assert stub.last().version == "2.35"
    assert stub.requests[0].path != "/v2.1"  # no negotiation was needed


def test_setting_api_version_renegotiates(stub: Stub) -> None:
    stub.reply("GET", "/os-services", 200, {"services": []})
    client = make_client(stub)
    client.api_version = "2.52"
    client.request("GET", "/os-services")
    assert stub.last().version == "2.52"


def test_version_document_from_the_root_when_v21_is_missing(stub: Stub) -> None:
    stub.reply("GET", "/v2.1", 404, fault(404, "not here", "itemNotFound"))
    stub.reply("GET", "/", 200, {"versions": [
        {"id": "v2.0", "version": "", "min_version": ""},
        {"id": "v2.1", "version": "2.70", "min_version": "2.1"}]})
    assert make_client(stub).api_version == "2.70"


# -- answers and errors ----------------------------------------------------------------


def test_json_params_and_empty_answers(stub: Stub, client: Client) -> None:
    stub.reply("GET", "/servers", 200, {"servers": []})
    stub.reply("POST", "/servers/x/action", 202, None)
    assert client.request("GET", "/servers", params={"name": "a", "host": None}) == {
        "servers": []}
    assert stub.last().query == {"name": ["a"]}
    assert client.request("POST", "/servers/x/action", json={"os-stop": None}) is None
    assert stub.last().body == {"os-stop": None}
    assert stub.last().headers["content-type"] == "application/json"


@pytest.mark.parametrize("status, body, cls", [
    (400, fault(400, "Invalid input"), exceptions.BadRequest),
    (401, fault(401, "The request you have made requires authentication.",
                "unauthorized"), exceptions.Unauthorized),
    (403, fault(403, "Policy does not allow it", "forbidden"), exceptions.Forbidden),
    (403, fault(403, "Quota exceeded for cores: Requested 4, but already used 20 of 20 "
                     "cores", "forbidden"), exceptions.OverLimit),
    (404, fault(404, "Instance x could not be found.", "itemNotFound"), exceptions.NotFound),
    (406, fault(406, "Version 2.99 is not supported by the API.", "computeFault"),
     exceptions.NotAcceptable),
    (409, fault(409, "Instance is locked", "conflictingRequest"), exceptions.Conflict),
    (413, fault(413, "Request is too large.", "overLimit"), exceptions.OverLimit),
    (500, fault(500, "Unexpected API Error.", "computeFault"), exceptions.ServerError),
])
def test_error_mapping(stub: Stub, client: Client, status: int, body: dict,
                       cls: type[exceptions.ClientException]) -> None:
    stub.reply("POST", "/servers", status, body, {"x-openstack-request-id": "req-abc"})
    with pytest.raises(cls) as err:
        client.request("POST", "/servers", json={"server": {}})
    exc = err.value
    assert isinstance(exc, exceptions.ClientException)
    assert str(exc) == next(iter(body.values()))["message"]
    assert exc.status_code == status
    assert exc.request_id == "req-abc"


def test_error_without_nova_body(stub: Stub, client: Client) -> None:
    stub.reply("GET", "/servers", 502, "Bad gateway from the proxy",
               {"x-openstack-request-id": "", "x-compute-request-id": "req-c"})
    stub.reply("GET", "/flavors", 400, {"message": "plain message"})
    with pytest.raises(exceptions.ServerError) as err:
        make_client(stub, retries=0).request("GET", "/servers")
    assert (str(err.value), err.value.request_id) == ("Bad gateway from the proxy", "req-c")
    with pytest.raises(exceptions.BadRequest, match="^plain message$"):
        client.request("GET", "/flavors")


def test_unreachable_endpoint() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = Client(f"http://127.0.0.1:{port}", token="t", retries=0)
    with pytest.raises(exceptions.ConnectionFailed) as err:
        client.request("GET", "/servers")
    assert str(err.value).startswith(f"Unable to reach novalite at http://127.0.0.1:{port}"
                                     f"/v2.1: ")
    assert "refused" in str(err.value).lower()


def test_connection_errors_retried_for_get_only(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    sleeps: list[float] = []
    monkeypatch.setattr("novalite.client.client.time.sleep", sleeps.append)
    client = Client(f"http://127.0.0.1:{port}", token="t", retries=2)
    with pytest.raises(exceptions.ConnectionFailed):
        client.request("GET", "/servers", version="2.1")
    assert sleeps == [0.5, 1.0]  # short, doubling backoff
    sleeps.clear()
    with pytest.raises(exceptions.ConnectionFailed):
        client.request("POST", "/servers", json={}, version="2.1")
    assert sleeps == []


def test_get_retried_on_503_then_succeeds(stub: Stub, client: Client) -> None:
    stub.reply("GET", "/servers/detail", 503, fault(503, "busy", "serviceUnavailable"))
    stub.reply("GET", "/servers/detail", 200, {"servers": [{"id": "a"}]})
    assert client.request("GET", "/servers/detail") == {"servers": [{"id": "a"}]}
    assert [r.path for r in stub.api_requests()] == ["/v2.1/servers/detail"] * 2


def test_get_gives_up_after_the_retries(stub: Stub) -> None:
    stub.reply("GET", "/servers", 503, fault(503, "still busy", "serviceUnavailable"))
    with pytest.raises(exceptions.ServerError, match="still busy"):
        make_client(stub, retries=2).request("GET", "/servers")
    assert len(stub.api_requests()) == 3


def test_post_is_never_retried(stub: Stub, client: Client) -> None:
    stub.reply("POST", "/servers", 503, fault(503, "busy", "serviceUnavailable"))
    stub.reply("POST", "/servers", 202, {"server": {"id": "x"}})
    with pytest.raises(exceptions.ServerError):
        client.request("POST", "/servers", json={"server": {}})
    assert len(stub.api_requests()) == 1
