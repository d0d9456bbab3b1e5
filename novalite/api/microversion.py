"""Compute API microversions: the supported range, parsing and negotiation.

Clients pick min(our MAX_VERSION, their own maximum) from the version document and send
it in `OpenStack-API-Version: compute 2.X` (or the legacy `X-OpenStack-Nova-API-Version:
2.X`); every /v2.1 response echoes the version in both headers. Handlers ask
`req.api_version >= "2.53"` or `version_at_least(req, "2.53")`; nothing else in the tree
hard-codes the range.

History of what the implemented resources change (Nova's numbering; versions not listed
change nothing in what novalite serves so far):

* 2.1  - base API: versions, servers and actions, flavors, limits, availability zones,
         os-services, os-hypervisors, os-instance-actions, os-migrations.
* 2.3  - servers: more OS-EXT-SRV-ATTR fields for admins.
* 2.9  - servers: `locked`.
* 2.11 - os-services: `forced_down` in service views; PUT /os-services/force-down.
* 2.16 - servers: `host_status`.
* 2.19 - servers: `description`.
* 2.21 - os-instance-actions readable for deleted servers.
* 2.23 - os-migrations: `migration_type`, `links`; GET /servers/{id}/migrations.
* 2.26 - servers: `tags` (always empty).
* 2.28 - os-hypervisors: `cpu_info` is a JSON object instead of a string.
* 2.33 - os-hypervisors: `limit` and `marker` paging with `hypervisors_links`.
* 2.37 - servers: `networks` required on create ("none", "auto" or a list).
* 2.38 - servers: an invalid status filter is a 400.
* 2.47 - servers: the flavor is embedded instead of linked.
* 2.51 - os-instance-actions: events for everyone (tracebacks for admins).
* 2.53 - os-services and os-hypervisors are addressed by uuid; PUT /os-services/{uuid}
         replaces the enable/disable/disable-log-reason/force-down actions;
         os-hypervisors gains `hypervisor_hostname_pattern` and `with_servers`, rejects
         unknown query parameters, and the /search and /servers sub-resources are gone.
* 2.55 - flavors: `description`, PUT /flavors/{id}.
* 2.56 - migrate: optional `host` (admin).
* 2.57 - servers: no personality; limits: no file-injection keys.
* 2.58 - os-instance-actions: paging and `updated_at`.
* 2.59 - os-migrations: `uuid`, paging, `changes-since`.
* 2.61 - flavors: `extra_specs` embedded.
* 2.62 - os-instance-actions: `hostId` (and `host` for admins) on events.
* 2.63 - servers: `trusted_image_certificates` (null).
* 2.66 - `changes-before` on servers, instance actions and migrations.
* 2.71 - servers: `server_groups` on show and update.
* 2.73 - lock with `locked_reason`; `locked` filter and sort key.
* 2.75 - servers: strict list query parameters, full view from PUT; os-hypervisors:
         `servers` is always present when `with_servers` is true.
* 2.80 - os-migrations: `user_id` and `project_id`.
* 2.88 - os-hypervisors: the resource fields (vcpus, memory_mb, local_gb, their *_used,
         free_*, running_vms, current_workload, disk_available_least, cpu_info) are
         removed; show gains `uptime`; /os-hypervisors/statistics is gone.
* 2.90 - maximum: `OS-EXT-SRV-ATTR:hostname` for everyone; `hostname` on create/update.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any

import webob
import webob.exc

SERVICE_TYPE = "compute"
HEADER = "OpenStack-API-Version"
LEGACY_HEADER = "X-OpenStack-Nova-API-Version"
VARY = f"{HEADER}, {LEGACY_HEADER}"
ENVIRON_KEY = "novalite.api_version"

Handler = Callable[[webob.Request], webob.Response]

_VERSION_RE = re.compile(r"^([1-9]\d*)\.([1-9]\d*|0)$")


class InvalidVersion(ValueError):
    """The version string is not of the form `2.X` (Nova answers 400)."""


@functools.total_ordering
class APIVersion:
    """A comparable `major.minor` value; compares with strings like "2.53" too."""

    __slots__ = ("major", "minor")

    def __init__(self, major: int, minor: int) -> None:
        self.major = major
        self.minor = minor

    @classmethod
    def parse(cls, text: str) -> APIVersion:
        match = _VERSION_RE.match(text.strip())
        if not match:
            raise InvalidVersion(
                f"API Version String {text} is of invalid format. Must be of format "
                "MajorNum.MinorNum.")
        return cls(int(match.group(1)), int(match.group(2)))

    @staticmethod
    def _coerce(other: Any) -> APIVersion:
        if isinstance(other, APIVersion):
            return other
        if isinstance(other, str):
            return _parse_constant(other)
        return NotImplemented

    def _key(self) -> tuple[int, int]:
        return (self.major, self.minor)

    def __eq__(self, other: object) -> bool:
        other_v = self._coerce(other)
        if other_v is NotImplemented:
            return NotImplemented
        return self._key() == other_v._key()

    def __lt__(self, other: Any) -> bool:
        other_v = self._coerce(other)
        if other_v is NotImplemented:
            return NotImplemented
        return self._key() < other_v._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}"

    def __repr__(self) -> str:
        return f"APIVersion('{self}')"


@functools.lru_cache(maxsize=256)
def _parse_constant(text: str) -> APIVersion:
    """APIVersion.parse for the literals handlers compare with ("2.53"): parsed once,
    not on every comparison (a server list compares several per server)."""
    return APIVersion.parse(text)


MIN_VERSION = APIVersion.parse("2.1")
MAX_VERSION = APIVersion.parse("2.90")
DEFAULT_VERSION = MIN_VERSION


class VersionNotAcceptable(Exception):
    """The requested version is outside [MIN_VERSION, MAX_VERSION] (Nova answers 406)."""


def _compute_entry(header_value: str) -> str | None:
    """The compute version in an `OpenStack-API-Version` value such as
    `compute 2.53, image 2.1`; None if no entry names compute."""
    for entry in header_value.split(","):
        parts = entry.strip().split(None, 1)
        if parts and parts[0].lower() == SERVICE_TYPE:
            if len(parts) != 2:
                raise InvalidVersion(f"Invalid {HEADER} header value {entry.strip()!r}.")
            return parts[1].strip()
    return None


def requested_version_string(headers: Any) -> str | None:
    """The raw version asked for, new header first, legacy header second."""
    value = headers.get(HEADER)
    if value:
        found = _compute_entry(value)
        if found is not None:
            return found
    legacy = headers.get(LEGACY_HEADER)
    if legacy:
        return legacy.strip()
    return None


def negotiate(headers: Any) -> APIVersion:
    """The version a request runs at; raises InvalidVersion or VersionNotAcceptable."""
    text = requested_version_string(headers)
    if text is None:
        return DEFAULT_VERSION
    if text.lower() == "latest":
        return MAX_VERSION
    version = APIVersion.parse(text)
    if not MIN_VERSION <= version <= MAX_VERSION:
        raise VersionNotAcceptable(
            f"Version {version} is not supported by the API. Minimum is {MIN_VERSION} "
            f"and maximum is {MAX_VERSION}.")
    return version


def merge_headers(headers: list[tuple[str, str]],
                  version: APIVersion) -> list[tuple[str, str]]:
    """A WSGI header list with the version echoed in both headers and Vary extended."""
    echo = {HEADER.lower(), LEGACY_HEADER.lower(), "vary"}
    vary = [v for k, v in headers if k.lower() == "vary"]
    merged = [(k, v) for k, v in headers if k.lower() not in echo]
    merged.append((HEADER, f"{SERVICE_TYPE} {version}"))
    merged.append((LEGACY_HEADER, str(version)))
    merged.append(("Vary", ", ".join(vary + [VARY])))
    return merged


def add_headers(response: webob.Response, version: APIVersion) -> None:
    """Echo the negotiated version on a webob response (error responses)."""
    response.headerlist = merge_headers(list(response.headerlist), version)


def request_version(req: webob.Request) -> APIVersion:
    """The negotiated version of a request (2.1 outside the microversioned tree)."""
    return req.environ.get(ENVIRON_KEY, DEFAULT_VERSION)


def version_at_least(req: webob.Request, version: str | APIVersion) -> bool:
    """True when the request runs at `version` or later."""
    return request_version(req) >= version


def version_between(req: webob.Request, low: str | APIVersion | None,
                    high: str | APIVersion | None) -> bool:
    """True when low <= request version <= high (either bound may be None)."""
    current = request_version(req)
    if low is not None and current < low:
        return False
    if high is not None and current > high:
        return False
    return True


def available(min_version: str | None = None,
              max_version: str | None = None) -> Callable[[Handler], Handler]:
    """Decorate a handler that exists only between two versions; outside them it is a
    404, as in Nova (the resource does not exist at that version)."""
    low = APIVersion.parse(min_version) if min_version else None
    high = APIVersion.parse(max_version) if max_version else None

    def decorator(handler: Handler) -> Handler:
        @functools.wraps(handler)
        def wrapper(req: webob.Request) -> webob.Response:
            if not version_between(req, low, high):
                raise webob.exc.HTTPNotFound(
                    explanation=f"The resource could not be found at version "
                    f"{request_version(req)}.")
            return handler(req)
        return wrapper
    return decorator
