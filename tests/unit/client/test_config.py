"""Where the client finds its endpoint, token and version: arguments, environment,
clouds.yaml."""

from __future__ import annotations

from pathlib import Path

import pytest

from novalite.client import Client, exceptions
from tests.unit.client.conftest import Stub


def _clouds(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.mark.parametrize("given, expected", [
    ("http://h:8774", "http://h:8774/v2.1"),
    ("http://h:8774/", "http://h:8774/v2.1"),
    ("http://h:8774/v2.1/", "http://h:8774/v2.1"),
    ("https://h/compute", "https://h/compute/v2.1"),
    ("http://h:8774/v2.1/project1", "http://h:8774/v2.1/project1"),
])
def test_endpoint_is_normalised(given: str, expected: str) -> None:
    assert Client(given, token="t").endpoint == expected


def test_invalid_endpoint() -> None:
    with pytest.raises(exceptions.ConfigurationError, match="expected a URL"):
        Client("controller:8774", token="t")


def test_token_from_arguments_is_sent(stub: Stub) -> None:
    stub.reply("GET", "/servers", 200, {"servers": []})
    client = Client(stub.url, token="s3cret")
    client.request("GET", "/servers")
    assert stub.last().headers["x-auth-token"] == "s3cret"
    # The version document is read without credentials.
    assert "x-auth-token" not in stub.requests[0].headers


def test_environment(stub: Stub, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOVALITE_URL", stub.url)
    monkeypatch.setenv("NOVALITE_TOKEN", "from-env")
    stub.reply("GET", "/limits", 200, {"limits": {"absolute": {}}})
    client = Client()
    assert client.endpoint == f"{stub.url}/v2.1"
    client.request("GET", "/limits")
    assert stub.last().headers["x-auth-token"] == "from-env"


def test_arguments_beat_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOVALITE_URL", "http://env:8774")
    monkeypatch.setenv("NOVALITE_TOKEN", "env-token")
    client = Client("http://arg:8774", token="arg-token")
    assert (client.endpoint, client.token) == ("http://arg:8774/v2.1", "arg-token")


def test_clouds_yaml_in_cwd_with_os_cloud(stub: Stub, monkeypatch: pytest.MonkeyPatch) -> None:
    _clouds(Path.cwd() / "clouds.yaml", f"""
clouds:
  other: {{auth: {{endpoint: "http://wrong:1", token: nope}}}}
  lab:
    auth:
      endpoint: {stub.url}
      token: yaml-token
    compute_api_version: 2.60
""")
    monkeypatch.setenv("OS_CLOUD", "lab")
    stub.reply("GET", "/servers", 200, {"servers": []})
    client = Client()
    client.request("GET", "/servers")
    sent = stub.last()
    assert sent.headers["x-auth-token"] == "yaml-token"
    # 2.60 read as written, not as the float 2.6.
    assert sent.version == "2.60"
    assert client.api_version == "2.60"


def test_clouds_yaml_in_home_with_cloud_argument(isolated_env: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    _clouds(Path.home() / ".config" / "openstack" / "clouds.yaml", """
clouds:
  prod:
    compute_endpoint_override: http://compute-override:8774/v2.1
    auth: {endpoint: "http://auth-endpoint:8774", token: prod-token}
""")
    # An explicitly named cloud is preferred to the ambient environment.
    monkeypatch.setenv("NOVALITE_URL", "http://env:8774")
    client = Client(cloud="prod")
    assert client.endpoint == "http://compute-override:8774/v2.1"
    assert client.token == "prod-token"


def test_os_cloud_only_fills_what_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    _clouds(Path.cwd() / "clouds.yaml",
            'clouds: {lab: {auth: {endpoint: "http://lab:8774", token: lab-token}}}')
    monkeypatch.setenv("OS_CLOUD", "lab")
    monkeypatch.setenv("NOVALITE_URL", "http://env:8774")
    client = Client()
    assert (client.endpoint, client.token) == ("http://env:8774/v2.1", "lab-token")


def test_unknown_cloud() -> None:
    _clouds(Path.cwd() / "clouds.yaml", "clouds: {lab: {auth: {endpoint: 'http://x'}}}")
    with pytest.raises(exceptions.ConfigurationError, match="'nowhere' is not defined"):
        Client(cloud="nowhere")


def test_no_endpoint_anywhere() -> None:
    with pytest.raises(exceptions.ConfigurationError) as err:
        Client(token="t")
    assert "NOVALITE_URL" in str(err.value) and "clouds.yaml" in str(err.value)
