"""Operator resources: migrations, hypervisors, services, availability zones."""

from __future__ import annotations

from typing import Any

from novalite.client import exceptions
from novalite.client.base import Manager, quote
from novalite.client.resources import AvailabilityZone, Hypervisor, Migration, Service

COMPUTE_BINARY = "novalite-compute"


class MigrationManager(Manager[Migration]):
    """/os-migrations: every kind of migration, for operators."""

    resource_class = Migration

    def list(self, instance_uuid: str | None = None, status: str | None = None,
             host: str | None = None, migration_type: str | None = None,
             limit: int | None = None) -> list[Migration]:
        """Migrations matching the filters, newest first from 2.59 (paged there; before
        2.59 the server sends them all and `limit` is applied here)."""
        params = {"instance_uuid": instance_uuid, "status": status, "host": host,
                  "migration_type": migration_type}
        return self._list("/os-migrations", "migrations", params, limit=limit)


class HypervisorManager(Manager[Hypervisor]):
    """/os-hypervisors: the compute nodes."""

    resource_class = Hypervisor

    def list(self, detailed: bool = True) -> list[Hypervisor]:
        """Every node (paged from 2.33)."""
        path = "/os-hypervisors/detail" if detailed else "/os-hypervisors"
        return self._list(path, "hypervisors")

    def get(self, hypervisor_id: Any) -> Hypervisor:
        """One node by id (an integer before 2.53, a uuid from 2.53)."""
        return self._get(f"/os-hypervisors/{quote(hypervisor_id)}", "hypervisor")

    def find(self, name_or_id: Any) -> Hypervisor:
        """A node by id, else by exact hypervisor_hostname."""
        def by_hostname(_name: str) -> list[Hypervisor]:
            return self.list(detailed=True)

        return self._find(name_or_id, "hypervisor", self.get, [by_hostname],
                          name_of=lambda h: h.get("hypervisor_hostname"))


class ServiceManager(Manager[Service]):
    """/os-services: enable, disable and force down compute services.

    From 2.53 a service is changed with PUT /os-services/{uuid} (the uuid found from
    the list); before, with the legacy PUT /os-services/{enable,disable,
    disable-log-reason,force-down} bodies naming host and binary.
    """

    resource_class = Service

    def list(self, binary: str | None = None, host: str | None = None) -> list[Service]:
        """Services, optionally of one binary and/or host."""
        return self._list("/os-services", "services", {"binary": binary, "host": host})

    def _uuid_of(self, host: str, binary: str) -> str:
        found = [s for s in self.list(binary=binary, host=host)
                 if s.get("host") == host and s.get("binary") == binary]
        if not found:
            raise exceptions.NotFound(f"No {binary} service on host '{host}' exists.")
        return str(found[0].id)

    def _update(self, host: str, binary: str, body: dict[str, Any]) -> Service:
        path = f"/os-services/{quote(self._uuid_of(host, binary))}"
        answer = self.client.request("PUT", path, json=body) or {}
        return self._wrap(answer.get("service") or {})

    def _legacy(self, action: str, body: dict[str, Any]) -> Service:
        answer = self.client.request("PUT", f"/os-services/{action}", json=body) or {}
        return self._wrap(answer.get("service") or {})

    def enable(self, host: str, binary: str = COMPUTE_BINARY) -> Service:
        """Let the scheduler place servers on the host again."""
        if self._at_least("2.53"):
            return self._update(host, binary, {"status": "enabled"})
        return self._legacy("enable", {"host": host, "binary": binary})

    def disable(self, host: str, binary: str = COMPUTE_BINARY,
                reason: str | None = None) -> Service:
        """Keep new servers off the host (running ones stay); `reason` is recorded."""
        if self._at_least("2.53"):
            body: dict[str, Any] = {"status": "disabled"}
            if reason is not None:
                body["disabled_reason"] = reason
            return self._update(host, binary, body)
        if reason is not None:
            return self._legacy("disable-log-reason",
                                {"host": host, "binary": binary, "disabled_reason": reason})
        return self._legacy("disable", {"host": host, "binary": binary})

    def force_down(self, host: str, binary: str = COMPUTE_BINARY,
                   down: bool = True) -> Service:
        """Mark the service down now (fencing before evacuation), or clear the mark;
        needs 2.11."""
        if self._at_least("2.53"):
            return self._update(host, binary, {"forced_down": bool(down)})
        self._require("2.11", "Forcing a service down")
        return self._legacy("force-down",
                            {"host": host, "binary": binary, "forced_down": bool(down)})


class AvailabilityZoneManager(Manager[AvailabilityZone]):
    """/os-availability-zone."""

    resource_class = AvailabilityZone

    def list(self, detailed: bool = False) -> list[AvailabilityZone]:
        """Zones; detailed (admin) adds the internal zone and each zone's hosts."""
        path = "/os-availability-zone/detail" if detailed else "/os-availability-zone"
        body = self.client.request("GET", path) or {}
        return [self._wrap(z) for z in body.get("availabilityZoneInfo") or []]
