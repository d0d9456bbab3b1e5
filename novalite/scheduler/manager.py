"""The scheduler service: picks hosts for instances and claims them (DESIGN §7).

The work is in novalite.scheduler.engine; this class is the RPC surface.
"""

from __future__ import annotations

import logging

from novalite import exception, rpc
from novalite.context import RequestContext
from novalite.manager import Manager
from novalite.objects.request_spec import RequestSpec, Selection
from novalite.scheduler import engine, filters

LOG = logging.getLogger(__name__)


class SchedulerManager(Manager):
    """Version history: 1.0 ping; 1.1 select_destinations."""

    RPC_API_VERSION = "1.1"

    def init_host(self) -> None:
        """Fail at start-up, not at the first request, on a typo in enabled_filters."""
        names = [f.name for f in filters.get_filters()]
        LOG.info("Scheduler filters: %s", ", ".join(names))

    @rpc.expose
    def select_destinations(self, ctxt: RequestContext, request_spec: RequestSpec,
                            instance_uuids: list[str],
                            return_alternates: bool = True) -> list[list[Selection]]:
        """For each instance uuid, [chosen (claimed), alternates (unclaimed)...].

        Raises NoValidHost (after releasing this request's claims) whose reason says,
        per filter, how many hosts it removed; that reason is logged at INFO too.
        """
        try:
            selections = engine.select_destinations(ctxt, request_spec, instance_uuids,
                                                    return_alternates=return_alternates)
        except exception.NoValidHost as exc:
            LOG.info("No valid host for %s: %s", ", ".join(instance_uuids or []),
                     exc.kwargs.get("reason", exc.format_message()),
                     extra={"context": ctxt})
            raise
        for chosen, *alternates in selections:
            LOG.info("Instance %s goes to %s (alternates: %s)", chosen.consumer_uuid,
                     chosen.host, ", ".join(a.host for a in alternates) or "none",
                     extra={"context": ctxt})
        return selections
