"""Client side of the scheduler RPC API.

Version history:
  1.0 - ping
"""

from __future__ import annotations

from novalite import rpc
from novalite.conf import CONF
from novalite.context import RequestContext

TOPIC = "scheduler"


class SchedulerAPI:
    VERSION = "1.0"

    def __init__(self) -> None:
        self.client = rpc.get_client(TOPIC, self.VERSION, version_cap=CONF.upgrade_levels.scheduler)

    def ping(self, ctxt: RequestContext, timeout: float | None = None) -> str:
        return self.client.prepare(timeout=timeout).call(ctxt, "ping")
