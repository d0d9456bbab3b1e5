"""The build flow on the conductor: schedule, hand each instance to its host, and
reschedule to an alternate host when a spawn fails.

Claims: the scheduler claims the chosen host for each instance. A failed spawn's claim
is released before the next alternate is claimed here, so at most one host holds an
instance's resources at any time; an instance that ends in ERROR holds none.
"""

from __future__ import annotations

import logging
import traceback as tb

from novalite import exception, states
from novalite.compute import rpcapi as compute_rpcapi
from novalite.conf import CONF
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
        _event(ctxt, uuid, "start")
    try:
        selections = scheduler.select_destinations(ctxt, request_spec, uuids,
                                                   return_alternates=True)
    except Exception as exc:  # NoValidHost, or the scheduler itself failing
        LOG.warning("Scheduling %s failed: %s", uuids, _message(exc))
        for inst in instances:
            _fail(ctxt, inst.uuid, exc, tried=[])
        return
    for inst, (chosen, *alternates) in zip(instances, selections, strict=True):
        _event(ctxt, inst.uuid, "finish")
        _send_to_host(ctxt, compute, inst, request_spec, image, chosen, alternates, tried=[])


def reschedule(ctxt: RequestContext, compute: compute_rpcapi.ComputeAPI, instance: Instance,
               request_spec: RequestSpec, image: dict, alternates: list[Selection],
               tried: list[dict]) -> None:
    """The spawn on tried[-1]["host"] failed: free that claim, then try the alternates."""
    allocations.release(ctxt, instance.uuid)
    try:
        db.instance_transition(ctxt, instance.uuid, "reschedule")
    except (exception.Conflict, exception.NotFound) as exc:
        LOG.info("Not rescheduling %s: %s", instance.uuid, _message(exc))  # deleted meanwhile
        return
    remaining = list(alternates)
    while remaining and len(tried) < CONF.scheduler.max_attempts:
        alternate = remaining.pop(0)
        if allocations.claim(ctxt, instance.uuid, alternate.compute_node_uuid, alternate.vcpus,
                             alternate.memory_mb, alternate.disk_gb, request_spec.project_id,
                             request_spec.user_id):
            alternate.claimed, alternate.consumer_uuid = True, instance.uuid
            _send_to_host(ctxt, compute, instance, request_spec, image, alternate, remaining,
                          tried)
            return
        tried = tried + [{"host": alternate.host, "reason": "it no longer has room"}]
    _fail(ctxt, instance.uuid, exception.NoValidHost(reason=_tried_text(tried)), tried)


def _send_to_host(ctxt: RequestContext, compute: compute_rpcapi.ComputeAPI,
                  instance: Instance, request_spec: RequestSpec, image: dict,
                  chosen: Selection, alternates: list[Selection], tried: list[dict]) -> None:
    try:
        row = db.instance_update(ctxt, instance.uuid,
                                 {"host": chosen.host, "node": chosen.nodename},
                                 expected_task_state=[states.TaskState.SCHEDULING])
    except (exception.Conflict, exception.NotFound):
        # Deleted (or being deleted) while it was scheduled: give the claim back.
        allocations.release(ctxt, instance.uuid)
        LOG.info("Instance %s went away while it was scheduled", instance.uuid)
        return
    compute.build_and_run_instance(ctxt, chosen.host, Instance.from_db(row), request_spec,
                                   image, chosen, alternates, tried)


def _fail(ctxt: RequestContext, instance_uuid: str, exc: Exception, tried: list[dict]) -> None:
    """(error, None) with a fault that says why; no claim left behind."""
    allocations.release(ctxt, instance_uuid)
    message = _message(exc)
    if tried and not isinstance(exc, exception.NoValidHost):
        message = f"{message} {_tried_text(tried)}"
    # The fault first, so that whoever sees ERROR also sees why.
    db.instance_fault_create(ctxt, {
        "instance_uuid": instance_uuid, "code": getattr(exc, "code", 500),
        "message": message, "details": "".join(tb.format_exception(exc))})
    try:
        db.instance_transition(ctxt, instance_uuid, "build_failed")
    except (exception.Conflict, exception.NotFound):
        return  # deleted meanwhile; nothing to mark
    _event(ctxt, instance_uuid, "finish", result="Error",
           traceback="".join(tb.format_exception(exc)))
    try:
        db.action_finish(ctxt, instance_uuid)
    except exception.NotFound:
        pass


def _tried_text(tried: list[dict]) -> str:
    attempts = "; ".join(f"{t['host']}: {t['reason']}" for t in tried)
    return f"Build failed on every host tried ({len(tried)}): {attempts}."


def _message(exc: Exception) -> str:
    if isinstance(exc, exception.NovaliteException):
        return exc.format_message()
    return f"{type(exc).__name__}: {exc}"


def _event(ctxt: RequestContext, instance_uuid: str, phase: str, result: str = "Success",
           traceback: str | None = None) -> None:
    """Record the conductor's step on the create action (best effort: never fail a build)."""
    try:
        if phase == "start":
            db.action_event_start(ctxt, instance_uuid, SCHEDULE_EVENT)
        else:
            db.action_event_finish(ctxt, instance_uuid, SCHEDULE_EVENT, result=result,
                                   traceback=traceback)
    except exception.NotFound:
        pass
