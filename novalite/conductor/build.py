"""The build flow on the conductor: schedule, hand each instance to its host, and
reschedule to an alternate host when a spawn fails.

Claims: the scheduler claims the chosen host for each instance. A failed spawn's claim
is released before the next alternate is claimed here, so at most one host holds an
instance's resources at any time; an instance that ends in ERROR holds none.
"""

from __future__ import annotations

import logging

from novalite import exception, states
from novalite.compute import rpcapi as compute_rpcapi
from novalite.conductor import alternates as alternates_
from novalite.conductor import records
from novalite.context import RequestContext
from novalite.db import allocations
from novalite.db import api as db
from novalite.objects.instance import Instance
from novalite.objects.request_spec import RequestSpec, Selection
from novalite.scheduler import rpcapi as scheduler_rpcapi

LOG = logging.getLogger(__name__)

SCHEDULE_EVENT = "conductor_schedule_and_build_instances"


def build_instances(ctxt: RequestContext, scheduler: scheduler_rpcapi.SchedulerAPI,
                    compute: compute_rpcapi.ComputeAPI, instances: list[Instance],
                    request_spec: RequestSpec, image: dict) -> None:
    uuids = [inst.uuid for inst in instances]
    for uuid in uuids:
        records.event(ctxt, uuid, SCHEDULE_EVENT, "start")
    try:
        selections = scheduler.select_destinations(ctxt, request_spec, uuids,
                                                   return_alternates=True)
    except Exception as exc:  # NoValidHost, or the scheduler itself failing
        LOG.warning("Scheduling %s failed: %s", uuids, records.message_of(exc))
        for inst in instances:
            _fail(ctxt, inst.uuid, exc, tried=[])
        return
    for inst, (chosen, *alternates) in zip(instances, selections, strict=True):
        _send_to_host(ctxt, compute, inst, request_spec, image, chosen, alternates, tried=[],
                      finish_event=True)


def reschedule(ctxt: RequestContext, compute: compute_rpcapi.ComputeAPI, instance: Instance,
               request_spec: RequestSpec, image: dict, alternates: list[Selection],
               tried: list[dict]) -> None:
    """The spawn on tried[-1]["host"] failed: free that claim, then try the alternates."""
    allocations.release(ctxt, instance.uuid)
    try:
        db.instance_transition(ctxt, instance.uuid, "reschedule")
    except (exception.Conflict, exception.NotFound) as exc:
        # Deleted meanwhile: the delete owns the instance now.
        LOG.info("Not rescheduling %s: %s", instance.uuid, records.message_of(exc))
        return
    chosen, remaining, tried = alternates_.claim_next(ctxt, instance.uuid, request_spec,
                                                      alternates, tried)
    if chosen is None:
        _fail(ctxt, instance.uuid, exception.NoValidHost(reason=alternates_.tried_text(tried)),
              tried)
        return
    _send_to_host(ctxt, compute, instance, request_spec, image, chosen, remaining, tried)


def _send_to_host(ctxt: RequestContext, compute: compute_rpcapi.ComputeAPI,
                  instance: Instance, request_spec: RequestSpec, image: dict,
                  chosen: Selection, alternates: list[Selection], tried: list[dict],
                  finish_event: bool = False) -> None:
    try:
        with db.transaction():  # the instance's host and the scheduling event: one commit
            row = db.instance_update(ctxt, instance.uuid,
                                     {"host": chosen.host, "node": chosen.nodename},
                                     expected_task_state=[states.TaskState.SCHEDULING])
            if finish_event:
                records.event(ctxt, instance.uuid, SCHEDULE_EVENT, "finish")
    except (exception.Conflict, exception.NotFound):
        # Deleted (or being deleted) while it was scheduled: give the claim back.
        if finish_event:
            records.event(ctxt, instance.uuid, SCHEDULE_EVENT, "finish")
        allocations.release(ctxt, instance.uuid)
        LOG.info("Instance %s went away while it was scheduled", instance.uuid)
        return
    compute.build_and_run_instance(ctxt, chosen.host, Instance.from_db(row), request_spec,
                                   image, chosen, alternates, tried)


def _fail(ctxt: RequestContext, instance_uuid: str, exc: Exception, tried: list[dict]) -> None:
    """(error, None) with a fault that says why; no claim left behind."""
    allocations.release(ctxt, instance_uuid)
    message = records.message_of(exc)
    if tried and not isinstance(exc, exception.NoValidHost):
        message = f"{message} {alternates_.tried_text(tried)}"
    # The fault and the event first, so that whoever sees ERROR also sees why.
    records.fault(ctxt, instance_uuid, exc, message)
    records.event(ctxt, instance_uuid, SCHEDULE_EVENT, "finish", error=exc)
    try:
        db.instance_transition(ctxt, instance_uuid, "build_failed")
    except (exception.Conflict, exception.NotFound):
        return  # deleted meanwhile; nothing to mark
    records.finish_action(ctxt, instance_uuid)


