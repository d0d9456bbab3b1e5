"""The Client: configuration, microversion negotiation and the one request path.

Every call goes through request(), which adds the token and the microversion header,
retries what is safe to retry (GETs after a connection error or a 503) and turns error
answers into the exceptions of novalite.client.exceptions.
"""

from __future__ import annotations

import logging
import re
import time
import urllib.parse
from typing import Any

import requests

from novalite.client import config, exceptions, versions
from novalite.client.admin import (
    AvailabilityZoneManager,
    HypervisorManager,
    MigrationManager,
    ServiceManager,
)
from novalite.client.catalog import FlavorManager, ImageManager, LimitsManager
from novalite.client.servers import ServerManager

LOG = logging.getLogger(__name__)

VERSION_HEADER = "OpenStack-API-Version"
SERVICE_TYPE = "compute"
USER_AGENT = "novalite-client/0.1"
# The longest Retry-After honoured between retries; a longer one is the caller's call.
MAX_RETRY_DELAY = 5.0
_ERRNO_RE = re.compile(r"\[Errno -?\d+\] ([^'\")\]]+)")


def _reason(exc: Exception) -> str:
    """A short reason from requests' nested connection errors ("Connection refused")."""
    text = str(exc)
    match = _ERRNO_RE.search(text)
    if match:
        return match.group(1).strip()
    if "timed out" in text.lower():
        return "connection timed out"
    return text


class Client:
    """A novalite (Nova-compatible) compute API client; see the package docstring."""

    def __init__(self, endpoint: str | None = None, token: str | None = None,
                 api_version: str = "latest", timeout: float = 30, retries: int = 2,
                 cloud: str | None = None) -> None:
        settings = config.resolve(endpoint, token, api_version, cloud)
        self.endpoint: str = settings.endpoint
        self.token: str | None = settings.token
        self.timeout = timeout
        self.retries = max(0, int(retries))
        # Seconds before the first retry, doubled for each further one.
        self.backoff = 0.5
        self._requested_version = settings.api_version
        self._negotiated: str | None = None
        self._version_doc: dict[str, Any] | None = None
        self._session = requests.Session()
        self._session.headers.update({"Accept": "application/json",
                                      "User-Agent": USER_AGENT})
        self.servers = ServerManager(self)
        self.flavors = FlavorManager(self)
        self.images = ImageManager(self)
        self.migrations = MigrationManager(self)
        self.hypervisors = HypervisorManager(self)
        self.services = ServiceManager(self)
        self.availability_zones = AvailabilityZoneManager(self)
        self.limits = LimitsManager(self)

    def __repr__(self) -> str:
        shown = self._negotiated or self._requested_version
        return f"<Client {self.endpoint} compute {shown}>"

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def close(self) -> None:
        """Close pooled connections (the client stays usable; it reconnects)."""
        self._session.close()

    # -- microversions ------------------------------------------------------------------

    @property
    def api_version(self) -> str:
        """The microversion requests are sent at ("2.X"), negotiated on first use."""
        if self._negotiated is None:
            self._negotiated = self._negotiate()
        return self._negotiated

    @api_version.setter
    def api_version(self, value: str) -> None:
        self._requested_version = versions.normalise(value)
        self._negotiated = None

    @property
    def min_version(self) -> str:
        """The oldest microversion the server serves."""
        return self._version_range()[0]

    @property
    def max_version(self) -> str:
        """The newest microversion the server serves."""
        return self._version_range()[1]

    def _version_range(self) -> tuple[str, str]:
        doc = self._version_document()
        # A server without microversions shows empty strings: it serves 2.1 only.
        low = doc.get("min_version") or "2.1"
        high = doc.get("version") or low
        return versions.normalise(low), versions.normalise(high)

    def _negotiate(self) -> str:
        low, high = self._version_range()
        requested = self._requested_version
        if requested == versions.LATEST:
            cap = versions.CLIENT_MAX_VERSION
            return cap if versions.at_least(high, cap) else high
        if not versions.between(requested, low, high):
            raise exceptions.UnsupportedVersion(
                f"API version {requested} is not supported by the server at "
                f"{self.endpoint}: it serves {low} to {high}.")
        return requested

    def _api_root(self) -> str:
        """The endpoint cut after its v2.1 segment (drops an old-style project id)."""
        parts = urllib.parse.urlsplit(self.endpoint)
        segments = parts.path.split("/")
        index = segments.index(config.API_PATH)
        path = "/".join(segments[:index + 1])
        return urllib.parse.urlunsplit((parts.scheme, parts.netloc, path, "", ""))

    def _version_document(self) -> dict[str, Any]:
        """The v2.1 version document (GET /v2.1, else the list at the server root)."""
        if self._version_doc is not None:
            return self._version_doc
        root = self._api_root()
        doc: dict[str, Any] | None = None
        try:
            body = self._send("GET", root, headers={})
            if isinstance(body, dict) and isinstance(body.get("version"), dict):
                doc = body["version"]
        except exceptions.NotFound:
            doc = None
        if doc is None:
            base = root[: -len(config.API_PATH)]
            body = self._send("GET", base, headers={}) or {}
            listed = body.get("versions") if isinstance(body, dict) else None
            for entry in listed or []:
                if isinstance(entry, dict) and entry.get("id") == "v2.1":
                    doc = entry
        if doc is None:
            raise exceptions.UnsupportedVersion(
                f"The server at {self.endpoint} does not publish a v2.1 version document.")
        self._version_doc = doc
        return doc

    # -- requests -----------------------------------------------------------------------

    def _url(self, path: str) -> str:
        if path.startswith(("http://", "https://")):
            return path
        return f"{self.endpoint}/{path.lstrip('/')}"

    def request(self, method: str, path: str, json: dict | None = None,
                params: dict | None = None, version: str | None = None) -> dict | None:
        """One API call at `version` (default: the negotiated one); the parsed JSON
        answer, or None for an empty one. Errors raise ClientException subclasses."""
        headers = {VERSION_HEADER: f"{SERVICE_TYPE} {version or self.api_version}"}
        if self.token:
            headers["X-Auth-Token"] = self.token
        return self._send(method, self._url(path), headers=headers, json=json,
                          params=params)

    def _delay(self, attempt: int, response: requests.Response | None) -> float:
        retry_after = response.headers.get("Retry-After") if response is not None else None
        if retry_after:
            try:
                return min(float(retry_after), MAX_RETRY_DELAY)
            except ValueError:
                pass
        return self.backoff * (2 ** attempt)

    def _send(self, method: str, url: str, headers: dict[str, str],
              json: dict | None = None, params: dict | None = None) -> Any:
        """The HTTP exchange: retries for GET only (repeating a POST or DELETE could
        act twice), then error mapping and JSON decoding."""
        method = method.upper()
        attempts = 1 + (self.retries if method == "GET" else 0)
        response: requests.Response | None = None
        for attempt in range(attempts):
            last = attempt + 1 == attempts
            try:
                response = self._session.request(
                    method, url, headers=headers, json=json, params=params,
                    timeout=self.timeout)
            except requests.ConnectionError as exc:
                LOG.debug("%s %s: connection failed: %s", method, url, exc)
                if last:
                    raise exceptions.ConnectionFailed(
                        f"Unable to reach novalite at {self.endpoint}: {_reason(exc)}") \
                        from exc
                time.sleep(self._delay(attempt, None))
                continue
            except requests.Timeout as exc:
                raise exceptions.ConnectionFailed(
                    f"Unable to reach novalite at {self.endpoint}: no answer within "
                    f"{self.timeout}s") from exc
            except requests.RequestException as exc:
                raise exceptions.ConnectionFailed(
                    f"Unable to reach novalite at {self.endpoint}: {exc}") from exc
            LOG.debug("%s %s -> %s (%s)", method, url, response.status_code,
                      exceptions.request_id_of(response.headers))
            if response.status_code == 503 and not last:
                time.sleep(self._delay(attempt, response))
                continue
            break
        assert response is not None
        if response.status_code >= 400:
            raise exceptions.from_response(response)
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError as exc:
            raise exceptions.ClientException(
                f"Invalid JSON in the answer to {method} {url}",
                status_code=response.status_code,
                request_id=exceptions.request_id_of(response.headers)) from exc
