"""Where the client's endpoint, token and API version come from when not passed in.

Order: arguments, then the environment (NOVALITE_URL, NOVALITE_TOKEN), then an
OpenStack clouds.yaml entry, so the same file that configures the `openstack` CLI can
configure novalite. A cloud named with `cloud=` is an explicit choice and is read
before the environment; one named by OS_CLOUD only fills what is still missing.
"""

from __future__ import annotations

import dataclasses
import os
import urllib.parse
from pathlib import Path
from typing import Any

import yaml

from novalite.client import exceptions, versions

ENV_URL = "NOVALITE_URL"
ENV_TOKEN = "NOVALITE_TOKEN"
ENV_CLOUD = "OS_CLOUD"
# openstacksdk's override of the search path; honoured so both tools read one file.
ENV_CONFIG_FILE = "OS_CLIENT_CONFIG_FILE"
API_PATH = "v2.1"


class _StringFloatLoader(yaml.SafeLoader):
    """A safe loader that keeps floats as written: `compute_api_version: 2.60` must not
    turn into 2.6."""


_StringFloatLoader.add_constructor(
    "tag:yaml.org,2002:float",
    lambda loader, node: loader.construct_scalar(node))


def clouds_yaml_paths() -> list[Path]:
    """The files searched for clouds, in order (read at call time: tests move HOME)."""
    paths = []
    override = os.environ.get(ENV_CONFIG_FILE)
    if override:
        paths.append(Path(override))
    paths += [Path.cwd() / "clouds.yaml",
              Path.home() / ".config" / "openstack" / "clouds.yaml",
              Path("/etc/openstack/clouds.yaml")]
    return paths


def load_cloud(name: str) -> dict[str, Any]:
    """The entry of cloud `name` from the first clouds.yaml that defines it."""
    searched = clouds_yaml_paths()
    for path in searched:
        if not path.is_file():
            continue
        try:
            data = yaml.load(path.read_text(encoding="utf-8"), Loader=_StringFloatLoader)
        except (OSError, yaml.YAMLError) as exc:
            raise exceptions.ConfigurationError(f"Cannot read {path}: {exc}") from exc
        clouds = (data or {}).get("clouds") if isinstance(data, dict) else None
        if isinstance(clouds, dict) and isinstance(clouds.get(name), dict):
            return clouds[name]
    raise exceptions.ConfigurationError(
        f"Cloud {name!r} is not defined in any clouds.yaml (searched: "
        f"{', '.join(str(p) for p in searched)}).")


@dataclasses.dataclass
class Settings:
    """What a Client needs, resolved."""

    endpoint: str
    token: str | None
    api_version: str


def _from_cloud(entry: dict[str, Any]) -> tuple[str | None, str | None, str | None]:
    """(endpoint, token, compute_api_version) of a clouds.yaml entry."""
    auth = entry.get("auth") if isinstance(entry.get("auth"), dict) else {}
    endpoint = entry.get("compute_endpoint_override") or auth.get("endpoint")
    token = auth.get("token")
    version = entry.get("compute_api_version")
    if version is not None:
        version = str(version).strip()
        if version == "2":  # openstacksdk's way of saying "the newest 2.x"
            version = versions.LATEST
    return (str(endpoint) if endpoint else None, str(token) if token else None,
            version or None)


def normalise_endpoint(endpoint: str) -> str:
    """The compute endpoint with /v2.1 in its path ("http://h:8774" -> .../v2.1).

    A path already holding a v2.1 segment is kept (also the old ".../v2.1/<project>"
    form); any other path gets /v2.1 appended (".../compute" behind a proxy).
    """
    text = endpoint.strip().rstrip("/")
    parsed = urllib.parse.urlsplit(text)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise exceptions.ConfigurationError(
            f"Invalid novalite endpoint {endpoint!r}: expected a URL such as "
            "http://HOST:8774/v2.1.")
    segments = [s for s in parsed.path.split("/") if s]
    if API_PATH not in segments:
        text = f"{text}/{API_PATH}"
    return text


def resolve(endpoint: str | None, token: str | None, api_version: str,
            cloud: str | None) -> Settings:
    """Settings from arguments, environment and clouds.yaml (see the module doc)."""
    cloud_version = None
    if cloud:
        c_endpoint, c_token, cloud_version = _from_cloud(load_cloud(cloud))
        endpoint = endpoint or c_endpoint
        token = token or c_token
    endpoint = endpoint or os.environ.get(ENV_URL) or None
    token = token or os.environ.get(ENV_TOKEN) or None
    env_cloud = os.environ.get(ENV_CLOUD)
    if not cloud and env_cloud and (not endpoint or not token):
        c_endpoint, c_token, cloud_version = _from_cloud(load_cloud(env_cloud))
        endpoint = endpoint or c_endpoint
        token = token or c_token
    if not endpoint:
        raise exceptions.ConfigurationError(
            "No novalite endpoint configured: pass endpoint='http://HOST:8774/v2.1', set "
            f"{ENV_URL} (and {ENV_TOKEN}), or name a clouds.yaml cloud (cloud= or "
            f"{ENV_CLOUD}) whose auth.endpoint or compute_endpoint_override is set.")
    requested = versions.normalise(api_version)
    if requested == versions.LATEST and cloud_version:
        requested = versions.normalise(cloud_version)
    return Settings(endpoint=normalise_endpoint(endpoint), token=token,
                    api_version=requested)
