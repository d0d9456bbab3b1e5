"""Client side of the conductor RPC API.

Version history:
  1.0 - ping, service_heartbeat, compute_node_report
"""

from __future__ import annotations

from novalite import rpc
from novalite.conf import CONF
from novalite.context import RequestContext
from novalite.objects.compute_node import HostResources

TOPIC = "conductor"


class ConductorAPI:
    VERSION = "1.0"

    def __init__(self) -> None:
        self.client = rpc.get_client(TOPIC, self.VERSION, version_cap=CONF.upgrade_levels.conductor)

    def ping(self, ctxt: RequestContext, timeout: float | None = None) -> str:
        return self.client.prepare(timeout=timeout).call(ctxt, "ping")

    # Narrow methods through which compute agents, which have no database, persist state.
    def service_heartbeat(
        self, ctxt: RequestContext, host: str, binary: str, topic: str | None, version: int
    ) -> dict:
        cctxt = self.client.prepare(timeout=CONF.rpc_response_timeout_short)
        return cctxt.call(
            ctxt, "service_heartbeat", host=host, binary=binary, topic=topic, version=version
        )

    def compute_node_report(
        self, ctxt: RequestContext, host: str, resources: HostResources
    ) -> dict:
        cctxt = self.client.prepare(timeout=CONF.rpc_response_timeout_short)
        return cctxt.call(ctxt, "compute_node_report", host=host, resources=resources)
