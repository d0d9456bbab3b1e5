"""Compute hosts made of real DB rows, for the scheduler and allocation tests."""

from __future__ import annotations

import datetime
from typing import Any

from novalite import context
from novalite.db import api as db


def make_host(ctx: context.RequestContext, name: str, vcpus: int = 4, memory_mb: int = 4096,
              local_gb: int = 40, az: str | None = None, service: bool = True,
              **values: Any) -> Any:
    """A compute service heartbeat plus a compute node report, with no overcommit and
    nothing reserved unless `values` says otherwise. Returns the compute node row."""
    if service:
        db.service_heartbeat(ctx, name, db.COMPUTE_BINARY, "compute", 1)
    report = {"vcpus": vcpus, "memory_mb": memory_mb, "local_gb": local_gb,
              "cpu_allocation_ratio": 1.0, "ram_allocation_ratio": 1.0,
              "disk_allocation_ratio": 1.0, "reserved_host_memory_mb": 0,
              "reserved_host_disk_mb": 0, "reserved_host_cpus": 0,
              "hypervisor_type": "fake", "availability_zone": az, **values}
    return db.compute_node_report(ctx, name, name, report)


def mark_down(ctx: context.RequestContext, name: str) -> None:
    """The host's last heartbeat is an hour old."""
    svc = db.service_get_by_host_and_binary(ctx, name, db.COMPUTE_BINARY)
    db.service_update(ctx, svc.id, {"last_seen_up": datetime.datetime(2000, 1, 1)})


def disable(ctx: context.RequestContext, name: str) -> None:
    svc = db.service_get_by_host_and_binary(ctx, name, db.COMPUTE_BINARY)
    db.service_update(ctx, svc.id, {"disabled": True, "disabled_reason": "maintenance"})
