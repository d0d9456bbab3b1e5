"""The conductor: persists what compute agents report, and (later) drives the flows."""

from __future__ import annotations

import dataclasses
import logging

from novalite import exception, rpc
from novalite.context import RequestContext
from novalite.db import api as db
from novalite.manager import Manager
from novalite.objects.compute_node import HostResources

LOG = logging.getLogger(__name__)

COMPUTE_BINARY = "novalite-compute"


class ConductorManager(Manager):
    RPC_API_VERSION = "1.0"

    @rpc.expose
    def service_heartbeat(
        self, ctxt: RequestContext, host: str, binary: str, topic: str | None, version: int
    ) -> dict:
        # Only compute agents lack database access; nothing else should come this way.
        if binary != COMPUTE_BINARY:
            raise exception.Invalid(
                reason=f"heartbeats through the conductor are for {COMPUTE_BINARY}, not {binary}"
            )
        service = db.service_heartbeat(ctxt, host, binary, topic, version)
        return {
            "id": service.id,
            "uuid": service.uuid,
            "disabled": service.disabled,
            "forced_down": service.forced_down,
        }

    @rpc.expose
    def compute_node_report(
        self, ctxt: RequestContext, host: str, resources: HostResources
    ) -> dict:
        values = {k: v for k, v in dataclasses.asdict(resources).items() if v is not None}
        hypervisor_hostname = values.pop("hypervisor_hostname")
        node = db.compute_node_report(ctxt, host, hypervisor_hostname, values)
        return {"id": node.id, "uuid": node.uuid, "generation": node.generation}
