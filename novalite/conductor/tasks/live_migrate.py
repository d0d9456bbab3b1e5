"""Live migration, the conductor's part (DESIGN §4 "Live migration", step 1).

The API has moved the instance to (active|paused, migrating) and recorded the migration
[accepted]. Here: the source must be up; the source allocation goes to the migration;
the destination is the named host (checked by the scheduler unless forced) or the
scheduler's candidates tried in turn; each candidate must run a compatible hypervisor
and pass the destination's and the source's checks. Then the source is told to
migrate. A failure before that rolls back: claims released, the allocation back on the
instance, migration [error], the instance (active, None) with a fault.
"""

from __future__ import annotations

import logging

from novalite import exception, servicegroup, states
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

EVENT = "conductor_live_migrate_instance"
COMPUTE_BINARY = "novalite-compute"


class LiveMigrationTask(Task):
    def __init__(self, ctxt: RequestContext, scheduler: scheduler_rpcapi.SchedulerAPI,
                 compute: compute_rpcapi.ComputeAPI, instance: Instance, migration: Migration,
                 block_migration: bool | str, requested_host: str | None,
                 force: bool) -> None:
        super().__init__()
        self.ctxt, self.scheduler, self.compute = ctxt, scheduler, compute
        self.instance, self.migration = instance, migration
        self.block_migration = block_migration
        self.requested_host, self.force = requested_host, force
        self._nodes: dict = {}

    def _execute(self) -> None:
        ctxt, inst, mig = self.ctxt, self.instance, self.migration
        self.on_rollback("instance back to (active, None)", lambda: db.instance_transition(
            ctxt, inst.uuid, "live_migrate_rollback"))
        self.on_rollback("migration [error]", lambda: db.migration_update(
            ctxt, mig.id, {"status": states.MigrationStatus.ERROR.value}))

        source = db.service_get_by_host_and_binary(ctxt, inst.host, COMPUTE_BINARY)
        if not servicegroup.is_up(source):
            raise exception.ServiceUnavailable(host=inst.host)
        with db.transaction():  # the event and the allocation handed over: one commit
            records.event(ctxt, inst.uuid, EVENT, "start")
            allocations.move(ctxt, inst.uuid, mig.uuid)
        self.on_rollback("source allocation back to the instance",
                         lambda: allocations.move(ctxt, mig.uuid, inst.uuid))

        spec = RequestSpec(project_id=inst.project_id, user_id=inst.user_id,
                           flavor=inst.flavor, ignore_hosts=[inst.host],
                           requested_destination=self.requested_host, instance_uuid=inst.uuid)
        # One read of the compute nodes serves the forced claim and every candidate check.
        self._nodes = {node.host: node for node in db.compute_node_get_all(ctxt)}
        candidate, alternates = self._first_candidate(spec)
        self.on_rollback("destination claim released",
                         lambda: allocations.release(ctxt, inst.uuid))
        tried: list[dict] = []
        while True:
            try:
                self._check_hypervisors(candidate.host)
                migrate_data = self.compute.check_can_live_migrate_destination(
                    ctxt, candidate.host, inst, self.block_migration)
                break
            except Exception as exc:
                tried.append({"host": candidate.host, "reason": records.message_of(exc)})
                LOG.info("Live migration of %s cannot go to %s: %s", inst.uuid,
                         candidate.host, tried[-1]["reason"])
                allocations.release(ctxt, inst.uuid)
                if self.requested_host or len(tried) > CONF.conductor.migrate_max_retries:
                    raise exception.MigrationPreCheckError(
                        reason=alternates_.tried_text(tried)) from exc
                candidate, alternates, tried = alternates_.claim_next(
                    ctxt, inst.uuid, spec, alternates, tried)
                if candidate is None:
                    raise exception.NoValidHost(reason=alternates_.tried_text(tried)) from exc

        with db.transaction():
            row = db.migration_update(ctxt, mig.id, {
                "dest_compute": candidate.host, "dest_node": candidate.nodename,
                "dest_host": candidate.host})
            records.event(ctxt, inst.uuid, EVENT, "finish")
        self.compute.live_migration(ctxt, inst.host, inst, Migration.from_db(row),
                                    candidate.host, migrate_data)

    def _first_candidate(self, spec: RequestSpec) -> tuple[Selection, list[Selection]]:
        """The forced host (claimed here, no scheduler), or the scheduler's choice."""
        if self.requested_host and self.force:
            node = self._node(self.requested_host)
            need = allocations.resources_from_flavor(self.instance.flavor)
            if not allocations.claim(self.ctxt, self.instance.uuid, node.uuid,
                                     need["vcpus"], need["memory_mb"], need["disk_gb"],
                                     self.instance.project_id, self.instance.user_id):
                raise exception.MigrationPreCheckError(
                    reason=f"{self.requested_host} does not have room for the instance")
            return Selection(host=node.host, nodename=node.hypervisor_hostname,
                             compute_node_uuid=node.uuid, consumer_uuid=self.instance.uuid,
                             claimed=True, **need), []
        chosen, *alternates = self.scheduler.select_destinations(
            self.ctxt, spec, [self.instance.uuid])[0]
        return chosen, alternates

    def _node(self, host: str):
        try:
            return self._nodes[host]
        except KeyError:
            raise exception.ComputeHostNotFound(host=host) from None

    def _check_hypervisors(self, dest: str) -> None:
        source, target = self._node(self.instance.host), self._node(dest)
        if source.hypervisor_type != target.hypervisor_type:
            raise exception.MigrationPreCheckError(
                reason=f"{dest} runs {target.hypervisor_type}, not {source.hypervisor_type}")
        if (target.hypervisor_version or 0) < (source.hypervisor_version or 0):
            raise exception.MigrationPreCheckError(
                reason=f"{dest} runs an older hypervisor ({target.hypervisor_version} < "
                       f"{source.hypervisor_version})")

    def rollback(self, exc: Exception) -> None:
        records.fault(self.ctxt, self.instance.uuid, exc)
        records.event(self.ctxt, self.instance.uuid, EVENT, "finish", error=exc)
        super().rollback(exc)
        records.finish_action(self.ctxt, self.instance.uuid)
