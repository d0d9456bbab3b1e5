"""Delete flow on the compute host: (…, deleting) → guest destroyed → row deleted."""

from __future__ import annotations

from novalite import rpc
from novalite.compute import steps
from novalite.context import RequestContext
from novalite.objects.instance import Instance


class DeleteMixin:
    """Part of ComputeManager (self.driver, self.conductor, self.host, self.instance_locks)."""

    @rpc.expose
    def terminate_instance(self, ctxt: RequestContext, instance: Instance) -> None:
        # finish_action=False: instance_destroyed closes the action once the row is gone.
        with steps.instance_step(self, ctxt, instance, "compute_terminate_instance",
                                 failure="delete_failed", finish_action=False) as step:
            self.driver.destroy(instance)
            step.write(("instance_destroyed", {"instance_uuid": instance.uuid}), last=True)
