"""Client side of the scheduler RPC API.

Version history:
  1.0 - ping
  1.1 - select_destinations
"""

from __future__ import annotations

from novalite import rpc
from novalite.conf import CONF
from novalite.context import RequestContext
from novalite.objects.request_spec import RequestSpec, Selection

TOPIC = "scheduler"


class SchedulerAPI:
    VERSION = "1.1"

    def __init__(self) -> None:
        self.client = rpc.get_client(TOPIC, self.VERSION,
                                     version_cap=CONF.upgrade_levels.scheduler)

    def ping(self, ctxt: RequestContext, timeout: float | None = None) -> str:
        return self.client.prepare(timeout=timeout).call(ctxt, "ping")

    def select_destinations(self, ctxt: RequestContext, request_spec: RequestSpec,
                            instance_uuids: list[str],
                            return_alternates: bool = True) -> list[list[Selection]]:
        """For each instance uuid, [chosen (claimed), alternate, ...]; raises NoValidHost
        (its message says, per filter, how many hosts each removed)."""
        return self.client.prepare(version="1.1").call(
            ctxt, "select_destinations", request_spec=request_spec,
            instance_uuids=instance_uuids, return_alternates=return_alternates)
