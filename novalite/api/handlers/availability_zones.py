"""/os-availability-zone: the zones compute hosts are in, and whether each can take
servers.

A compute service is in the zone its host's compute nodes report (the host's
``[compute] availability_zone``), else in ``[DEFAULT] default_availability_zone``
(novalite has no host aggregates); every other service is in the "internal" zone,
which the plain list hides.

A zone is available when at least one of its enabled services is up. Nova looks only
at the enabled flag; novalite also asks the heartbeat, so a zone whose hosts are all
down reads "not available" — which is what a user choosing a zone needs to know.
"""

from __future__ import annotations

from typing import Any

import webob

from novalite import servicegroup
from novalite.api import policy, util
from novalite.api.handlers.services import (
    INTERNAL_AVAILABILITY_ZONE,
    format_time,
    host_zones,
    zone_of,
)
from novalite.api.policies import availability_zones as az_policies
from novalite.db import api as db

# API services are left out of the listing, as Nova leaves out its own.
API_BINARIES = frozenset(["novalite-api"])


def _services_by_zone(ctx: Any) -> dict[str, list]:
    zones = host_zones(ctx)
    by_zone: dict[str, list] = {}
    for service in db.service_get_all(ctx):
        if service.binary in API_BINARIES:
            continue
        by_zone.setdefault(zone_of(service, zones), []).append(service)
    return by_zone


def _available(services: list) -> bool:
    return any(not s.disabled and servicegroup.is_up(s) for s in services)


def _ordered(zones: dict[str, list]) -> list[tuple[str, list, bool]]:
    """(zone, services, available): available zones first, then by name (Nova's order)."""
    rows = [(name, services, _available(services)) for name, services in zones.items()]
    return sorted(rows, key=lambda row: (not row[2], row[0]))


def list_zones(req: util.Request) -> webob.Response:
    """GET /os-availability-zone: every zone with a compute service, no host details."""
    ctx = req.context
    policy.authorize(ctx, az_policies.LIST)
    zones = _services_by_zone(ctx.elevated())
    zones.pop(INTERNAL_AVAILABILITY_ZONE, None)
    info = [{"zoneName": name, "zoneState": {"available": available}, "hosts": None}
            for name, _services, available in _ordered(zones)]
    return util.json_response({"availabilityZoneInfo": info})


def _hosts(services: list) -> dict[str, dict[str, Any]] | None:
    """{host: {binary: {available, active, updated_at}}} of the enabled services."""
    hosts: dict[str, dict[str, Any]] = {}
    for service in sorted(services, key=lambda s: (s.host, s.binary)):
        if service.disabled:
            continue
        hosts.setdefault(service.host, {})[service.binary] = {
            "available": servicegroup.is_up(service),
            "active": not service.disabled,
            "updated_at": format_time(service.updated_at or service.last_seen_up),
        }
    return hosts or None


def list_zones_detail(req: util.Request) -> webob.Response:
    """GET /os-availability-zone/detail (admin): zones with their hosts and services,
    the internal zone included. Hosts whose services are all disabled are left out."""
    ctx = req.context
    policy.authorize(ctx, az_policies.DETAIL)
    info = [{"zoneName": name, "zoneState": {"available": available},
             "hosts": _hosts(services)}
            for name, services, available in _ordered(_services_by_zone(ctx))]
    return util.json_response({"availabilityZoneInfo": info})
