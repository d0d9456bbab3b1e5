"""Resize and cold migration, the conductor's part (DESIGN §4 step 1).

Create the migration [pre-migrating], hand the source allocation to the migration,
schedule (the scheduler claims the destination for the instance), then cast prep_resize
to the destination. Any failure before that cast rolls back: the destination claim is
released, the source allocation goes back to the instance, the migration ends [error],
and the instance returns to its previous state with a fault.
"""

from __future__ import annotations

import logging

from novalite import exception, states
from novalite.compute import rpcapi as compute_rpcapi
from novalite.conductor import alternates as alternates_
from novalite.conductor import records
from novalite.conductor.tasks.base import Task
from novalite.conf import CONF
from novalite.context import RequestContext
from novalite.db import allocations
from novalite.db import api as db
from novalite.objects.instance import Instance
from novalite.objects.migration import Migration
from novalite.objects.request_spec import RequestSpec, Selection
from novalite.scheduler import rpcapi as scheduler_rpcapi

LOG = logging.getLogger(__name__)

EVENT = "conductor_migrate_server"


class MigrationTask(Task):
    def __init__(self, ctxt: RequestContext, scheduler: scheduler_rpcapi.SchedulerAPI,
                 compute: compute_rpcapi.ComputeAPI, instance: Instance, flavor: dict,
                 requested_host: str | None, migration_type: str) -> None:
        super().__init__()
        self.ctxt, self.scheduler, self.compute = ctxt, scheduler, compute
        self.instance, self.flavor = instance, flavor
        self.requested_host = requested_host
        self.migration_type = states.MigrationType(migration_type)
        self.migration = None

    def _execute(self) -> None:
        ctxt, inst = self.ctxt, self.instance
        self.on_rollback("instance back to its previous state",
                         lambda: db.instance_transition(ctxt, inst.uuid, "resize_rollback"))
        # The event, the migration and the source allocation handed to it: one commit.
        with db.transaction():
            records.event(ctxt, inst.uuid, EVENT, "start")
            self.migration = db.migration_create(ctxt, {
                "instance_uuid": inst.uuid, "migration_type": self.migration_type.value,
                "source_compute": inst.host, "source_node": inst.node,
                "old_flavor": inst.flavor, "new_flavor": self.flavor,
                "project_id": inst.project_id, "user_id": inst.user_id})
            allocations.move(ctxt, inst.uuid, self.migration.uuid)
        self.on_rollback("migration [error]", lambda: db.migration_update(
            ctxt, self.migration.id, {"status": states.MigrationStatus.ERROR.value}))
        self.on_rollback("source allocation back to the instance",
                         lambda: allocations.move(ctxt, self.migration.uuid, inst.uuid))

        same_host = (CONF.allow_resize_to_same_host
                     and self.migration_type == states.MigrationType.RESIZE)
        spec = RequestSpec(project_id=inst.project_id, user_id=inst.user_id,
                           flavor=self.flavor, availability_zone=inst.availability_zone,
                           ignore_hosts=[] if same_host else [inst.host],
                           requested_destination=self.requested_host, instance_uuid=inst.uuid)
        chosen, *alternates = self.scheduler.select_destinations(ctxt, spec, [inst.uuid])[0]
        self.on_rollback("destination claim released",
                         lambda: allocations.release(ctxt, inst.uuid))

        with db.transaction():
            migration = db.migration_update(ctxt, self.migration.id, {
                "dest_compute": chosen.host, "dest_node": chosen.nodename,
                "dest_host": chosen.host})
            records.event(ctxt, inst.uuid, EVENT, "finish")
        self.compute.prep_resize(ctxt, chosen.host, inst, Migration.from_db(migration),
                                 self.flavor, spec, alternates, [])

    def rollback(self, exc: Exception) -> None:
        # The fault and the event first, so that whoever sees the instance stable sees why.
        records.fault(self.ctxt, self.instance.uuid, exc)
        records.event(self.ctxt, self.instance.uuid, EVENT, "finish", error=exc)
        super().rollback(exc)
        records.finish_action(self.ctxt, self.instance.uuid)


def reschedule_resize(ctxt: RequestContext, compute: compute_rpcapi.ComputeAPI,
                      instance: Instance, migration: Migration, request_spec: RequestSpec,
                      alternates: list[Selection], tried: list[dict]) -> None:
    """prep_resize failed on tried[-1]["host"]: free that claim, try the alternates, and
    roll the move back when none is left."""
    allocations.release(ctxt, instance.uuid)
    chosen, remaining, tried = alternates_.claim_next(ctxt, instance.uuid, request_spec,
                                                      alternates, tried)
    if chosen is not None:
        row = db.migration_update(ctxt, migration.id, {
            "dest_compute": chosen.host, "dest_node": chosen.nodename, "dest_host": chosen.host})
        compute.prep_resize(ctxt, chosen.host, instance, Migration.from_db(row),
                            request_spec.flavor, request_spec, remaining, tried)
        return
    exc = exception.NoValidHost(reason=alternates_.tried_text(tried))
    records.fault(ctxt, instance.uuid, exc)
    allocations.move(ctxt, migration.uuid, instance.uuid)
    db.migration_update(ctxt, migration.id, {"status": states.MigrationStatus.ERROR.value})
    try:
        db.instance_transition(ctxt, instance.uuid, "resize_rollback")
    except (exception.Conflict, exception.NotFound) as err:
        LOG.info("Resize rollback of %s: %s", instance.uuid, err)
    records.finish_action(ctxt, instance.uuid)

