"""The conductor: drives the flows, and persists what compute agents report.

Compute agents have no database access; the methods in the "narrow persistence" section
are the only way their state changes reach the database.
"""

from __future__ import annotations

import dataclasses
import datetime
import logging

from novalite import exception, rpc
from novalite.compute import rpcapi as compute_rpcapi
from novalite.conductor import build
from novalite.conductor.tasks import live_migrate, migrate
from novalite.context import RequestContext
from novalite.db import allocations
from novalite.db import api as db
from novalite.manager import Manager
from novalite.objects.compute_node import HostResources
from novalite.objects.instance import Instance
from novalite.objects.migration import Migration
from novalite.objects.request_spec import RequestSpec, Selection
from novalite.scheduler import rpcapi as scheduler_rpcapi

LOG = logging.getLogger(__name__)

COMPUTE_BINARY = "novalite-compute"


# The narrow-persistence methods a compute agent may group into one batch().
BATCHABLE = frozenset({
    "instance_update", "instance_fault_create", "action_event_start", "action_event_finish",
    "instance_destroyed", "migration_update", "revert_allocations", "confirm_allocations"})


class ConductorManager(Manager):
    RPC_API_VERSION = "1.4"

    def __init__(self, host: str) -> None:
        super().__init__(host)
        self.scheduler = scheduler_rpcapi.SchedulerAPI()
        self.compute = compute_rpcapi.ComputeAPI()

    # -- compute agents' registration and resources --------------------------------
    @rpc.expose
    def service_heartbeat(self, ctxt: RequestContext, host: str, binary: str,
                          topic: str | None, version: int) -> dict:
        # Only compute agents lack database access; nothing else should come this way.
        if binary != COMPUTE_BINARY:
            raise exception.Invalid(reason=f"heartbeats through the conductor are for "
                                           f"{COMPUTE_BINARY}, not {binary}")
        service = db.service_heartbeat(ctxt, host, binary, topic, version)
        return {"id": service.id, "uuid": service.uuid, "disabled": service.disabled,
                "forced_down": service.forced_down}

    @rpc.expose
    def compute_node_report(self, ctxt: RequestContext, host: str,
                            resources: HostResources) -> dict:
        values = {k: v for k, v in dataclasses.asdict(resources).items() if v is not None}
        hypervisor_hostname = values.pop("hypervisor_hostname")
        node = db.compute_node_report(ctxt, host, hypervisor_hostname, values)
        return {"id": node.id, "uuid": node.uuid, "generation": node.generation}

    # -- flows ----------------------------------------------------------------------
    @rpc.expose
    def build_instances(self, ctxt: RequestContext, instances: list[Instance],
                        request_spec: RequestSpec, image: dict) -> None:
        build.build_instances(ctxt, self.scheduler, self.compute, instances, request_spec,
                              image)

    @rpc.expose
    def reschedule_build(self, ctxt: RequestContext, instance: Instance,
                         request_spec: RequestSpec, image: dict, alternates: list[Selection],
                         tried: list[dict]) -> None:
        build.reschedule(ctxt, self.compute, instance, request_spec, image, alternates, tried)

    @rpc.expose
    def migrate_server(self, ctxt: RequestContext, instance: Instance, flavor: dict,
                       requested_host: str | None, migration_type: str) -> None:
        migrate.MigrationTask(ctxt, self.scheduler, self.compute, instance, flavor,
                              requested_host, migration_type).execute()

    @rpc.expose
    def live_migrate_instance(self, ctxt: RequestContext, instance: Instance,
                              migration: Migration, block_migration: bool | str,
                              requested_host: str | None, force: bool) -> None:
        live_migrate.LiveMigrationTask(ctxt, self.scheduler, self.compute, instance,
                                       migration, block_migration, requested_host,
                                       force).execute()

    @rpc.expose
    def reschedule_resize(self, ctxt: RequestContext, instance: Instance, migration: Migration,
                          request_spec: RequestSpec, alternates: list[Selection],
                          tried: list[dict]) -> None:
        migrate.reschedule_resize(ctxt, self.compute, instance, migration, request_spec,
                                  alternates, tried)

    @rpc.expose
    def resizes_to_confirm(self, ctxt: RequestContext, host: str, older_than: int) -> list[str]:
        """Auto-confirm: resizes finished on `host` more than `older_than` seconds ago."""
        from novalite.compute import api as compute_api  # the API's own confirm path

        confirmed = []
        for row in db.migrations_finished_before(ctxt, host, older_than):
            try:
                compute_api.API().confirm_resize(ctxt.elevated(), row.instance_uuid,
                                                 migration=row)
                confirmed.append(row.instance_uuid)
            except exception.NovaliteException as exc:
                LOG.info("Auto-confirm of %s skipped: %s", row.instance_uuid,
                         exc.format_message())
        return confirmed

    # -- narrow persistence for compute agents --------------------------------------
    @rpc.expose
    def batch(self, ctxt: RequestContext, ops: list) -> list:
        """Several of the methods below, in order, in one transaction: all or none.

        ops: [[method, kwargs], ...] with method in BATCHABLE. Returns each method's
        result. A compute step sends its state changes and its bookkeeping (action
        events, allocations) this way: one round trip and one commit instead of one each.
        """
        unknown = sorted({method for method, _ in ops} - BATCHABLE)
        if unknown:
            raise exception.Invalid(reason=f"not batchable: {', '.join(unknown)}")
        return self._batch(ctxt, ops)

    @db.retry_on_deadlock
    def _batch(self, ctxt: RequestContext, ops: list) -> list:
        with db.transaction():
            return [getattr(self, method)(ctxt, **kwargs) for method, kwargs in ops]

    @rpc.expose
    def instance_update(self, ctxt: RequestContext, instance_uuid: str, values: dict,
                        guard: dict) -> Instance:
        row = db.instance_update(
            ctxt, instance_uuid, values,
            expected_task_state=guard.get("task_state", db.NO_CHECK),
            expected_vm_state=guard.get("vm_state", db.NO_CHECK))
        return Instance.from_db(row)

    @rpc.expose
    def instance_fault_create(self, ctxt: RequestContext, instance_uuid: str, code: int,
                              message: str, details: str | None, host: str | None) -> None:
        db.instance_fault_create(ctxt, {"instance_uuid": instance_uuid, "code": code,
                                        "message": message, "details": details, "host": host})

    @rpc.expose
    def action_event_start(self, ctxt: RequestContext, instance_uuid: str, event: str,
                           host: str, start_time: datetime.datetime | None = None) -> None:
        db.action_event_start(ctxt, instance_uuid, event, host=host, start_time=start_time)

    @rpc.expose
    def action_event_finish(self, ctxt: RequestContext, instance_uuid: str, event: str,
                            result: str, traceback: str | None = None,
                            finish_action: bool = False) -> None:
        db.action_event_finish(ctxt, instance_uuid, event, result=result, traceback=traceback)
        if finish_action:
            db.action_finish(ctxt, instance_uuid)

    @rpc.expose
    def instance_destroyed(self, ctxt: RequestContext, instance_uuid: str) -> None:
        allocations.release(ctxt, instance_uuid)
        db.instance_destroy(ctxt, instance_uuid)
        try:
            db.action_finish(ctxt, instance_uuid)
        except exception.NotFound:
            pass  # deleted by a request that recorded no action (an admin tool, say)

    @rpc.expose
    def instances_on_host(self, ctxt: RequestContext, host: str) -> list[Instance]:
        return [Instance.from_db(row) for row in db.instance_get_all(ctxt, host=host)]

    @rpc.expose
    def migration_update(self, ctxt: RequestContext, migration_id: int, values: dict,
                         expected_status: list[str] | None = None) -> Migration:
        row = db.migration_update(ctxt, migration_id, values, expected_status=expected_status)
        return Migration.from_db(row)

    @rpc.expose
    def revert_allocations(self, ctxt: RequestContext, instance_uuid: str,
                           migration_uuid: str) -> None:
        # move() drops what the instance holds (the destination claim) in the same
        # transaction: the instance never holds both hosts, nor neither.
        allocations.move(ctxt, migration_uuid, instance_uuid)

    @rpc.expose
    def confirm_allocations(self, ctxt: RequestContext, migration_uuid: str) -> None:
        allocations.release(ctxt, migration_uuid)
