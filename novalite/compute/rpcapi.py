"""Client side of the compute RPC API; messages go to one host's agent.

Version history:
  1.0 - ping
"""

from __future__ import annotations

from novalite import rpc
from novalite.conf import CONF
from novalite.context import RequestContext

TOPIC = "compute"


class ComputeAPI:
    VERSION = "1.0"

    def __init__(self) -> None:
        self.client = rpc.get_client(TOPIC, self.VERSION, version_cap=CONF.upgrade_levels.compute)

    def ping(self, ctxt: RequestContext, host: str, timeout: float | None = None) -> str:
        return self.client.prepare(server=host, timeout=timeout).call(ctxt, "ping")
