"""Build flow on the compute host: (building, scheduling) → spawning → (active, None).

A spawn failure cleans the guest up and hands the instance back to the conductor, which
releases this host's claim and tries the next alternate.
"""

from __future__ import annotations

import logging
import traceback

from novalite import exception, rpc, servicegroup
from novalite.compute import steps
from novalite.context import RequestContext
from novalite.objects.instance import Instance
from novalite.objects.request_spec import RequestSpec, Selection

LOG = logging.getLogger(__name__)

EVENT = "compute_build_and_run_instance"


class BuildMixin:
    """Part of ComputeManager (self.driver, self.conductor, self.host, self.instance_locks)."""

    @rpc.expose
    def build_and_run_instance(self, ctxt: RequestContext, instance: Instance,
                               request_spec: RequestSpec, image: dict, selection: Selection,
                               alternates: list[Selection], tried: list[dict]) -> None:
        with self.instance_locks(instance.uuid):
            step = steps.Step(self, ctxt, instance.uuid, EVENT)
            try:
                instance = step.transition(instance, "spawn")
            except (exception.Conflict, exception.NotFound) as exc:
                LOG.info("Not building %s: %s", instance.uuid, exc.format_message())
                return
            try:
                self.driver.spawn(instance, image, instance.flavor)
            except Exception as exc:
                self._reschedule(ctxt, step, instance, request_spec, image, alternates, tried,
                                 exc)
                return
            try:
                step.transition(instance, "spawned", last=True,
                                power_state=int(self.power_state_of(instance)),
                                launched_at=servicegroup.utcnow())
            except (exception.Conflict, exception.NotFound) as exc:
                # Deleted while spawning: the delete owns the instance now.
                LOG.info("Instance %s changed during spawn: %s", instance.uuid,
                         exc.format_message())
                return
            LOG.info("Instance %s is active on %s", instance.uuid, self.host)

    def _reschedule(self, ctxt: RequestContext, step: steps.Step, instance: Instance,
                    request_spec: RequestSpec, image: dict, alternates: list[Selection],
                    tried: list[dict], exc: Exception) -> None:
        reason = steps.message_of(exc)
        LOG.warning("Spawn of %s failed on %s (%s); rescheduling", instance.uuid, self.host,
                    reason)
        try:
            self.driver.destroy(instance)
        except Exception:
            LOG.exception("Cleaning up the failed guest of %s failed", instance.uuid)
        step.finish_action = False  # the action goes on with the next host
        step.failed(traceback.format_exc())
        self.conductor.reschedule_build(ctxt, instance, request_spec, image, alternates,
                                        tried + [{"host": self.host, "reason": reason}])

