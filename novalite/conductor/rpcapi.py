"""Client side of the conductor RPC API.

Version history:
  1.0 - ping, service_heartbeat, compute_node_report
  1.1 - build_instances, reschedule_build; the narrow instance methods compute agents use:
        instance_update, instance_fault_create, action_event_start, action_event_finish,
        instance_destroyed, instances_on_host
  1.2 - migrate_server (resize and cold migration), reschedule_resize, migration_update,
        revert_allocations, confirm_allocations, resizes_to_confirm
  1.3 - live_migrate_instance, live_migration_progress
  1.4 - batch (several narrow writes in one transaction); action_event_start takes
        start_time
"""

from __future__ import annotations

import datetime
from typing import Any

from novalite import rpc
from novalite.conf import CONF
from novalite.context import RequestContext
from novalite.objects.compute_node import HostResources
from novalite.objects.instance import Instance
from novalite.objects.migration import Migration
from novalite.objects.request_spec import RequestSpec, Selection

TOPIC = "conductor"


class ConductorAPI:
    VERSION = "1.4"

    def __init__(self) -> None:
        self.client = rpc.get_client(TOPIC, self.VERSION,
                                     version_cap=CONF.upgrade_levels.conductor)

    def _short(self, version: str = "1.0"):
        return self.client.prepare(version=version, timeout=CONF.rpc_response_timeout_short)

    def ping(self, ctxt: RequestContext, timeout: float | None = None) -> str:
        return self.client.prepare(timeout=timeout).call(ctxt, "ping")

    # -- for compute agents: their registration and resources -----------------
    def service_heartbeat(self, ctxt: RequestContext, host: str, binary: str,
                          topic: str | None, version: int) -> dict:
        return self._short().call(ctxt, "service_heartbeat", host=host, binary=binary,
                                  topic=topic, version=version)

    def compute_node_report(self, ctxt: RequestContext, host: str,
                            resources: HostResources) -> dict:
        return self._short().call(ctxt, "compute_node_report", host=host, resources=resources)

    # -- flows --------------------------------------------------------------------
    def build_instances(self, ctxt: RequestContext, instances: list[Instance],
                        request_spec: RequestSpec, image: dict) -> None:
        """Schedule and build instances already recorded as (building, scheduling)."""
        self.client.prepare(version="1.1").cast(
            ctxt, "build_instances", instances=instances, request_spec=request_spec,
            image=image)

    def reschedule_build(self, ctxt: RequestContext, instance: Instance,
                         request_spec: RequestSpec, image: dict, alternates: list[Selection],
                         tried: list[dict]) -> None:
        """A build failed on a host (its claim already released): try the next alternate.

        tried: [{"host": h, "reason": r}, ...] for every host tried so far, in order.
        """
        self.client.prepare(version="1.1").cast(
            ctxt, "reschedule_build", instance=instance, request_spec=request_spec,
            image=image, alternates=alternates, tried=tried)

    # -- for compute agents: narrow instance persistence ---------------------------
    def instance_update(self, ctxt: RequestContext, instance_uuid: str, values: dict,
                        guard: dict | None = None) -> Instance:
        """Guarded update. guard: {"task_state": [...], "vm_state": [...]}; a missing key
        means no guard on that column; None in a list matches NULL. Raises
        UnexpectedTaskStateError (a Conflict) when the guard does not hold."""
        return self._short("1.1").call(ctxt, "instance_update", instance_uuid=instance_uuid,
                                       values=values, guard=guard or {})

    def instance_fault_create(self, ctxt: RequestContext, instance_uuid: str, code: int,
                              message: str, details: str | None, host: str | None) -> None:
        self._short("1.1").call(ctxt, "instance_fault_create", instance_uuid=instance_uuid,
                                code=code, message=message, details=details, host=host)

    def action_event_start(self, ctxt: RequestContext, instance_uuid: str, event: str,
                           host: str, start_time: datetime.datetime | None = None) -> None:
        if start_time is not None and self.client.can_send_version("1.4"):
            self._short("1.4").call(ctxt, "action_event_start", instance_uuid=instance_uuid,
                                    event=event, host=host, start_time=start_time)
            return
        self._short("1.1").call(ctxt, "action_event_start", instance_uuid=instance_uuid,
                                event=event, host=host)

    def batch(self, ctxt: RequestContext, ops: list[tuple[str, dict[str, Any]]],
              wait: bool = True) -> list | None:
        """Apply narrow writes ([(method, kwargs), ...], methods of this class) in one
        conductor transaction, in order. wait=False casts them (nothing returned) for
        bookkeeping nobody waits for. A conductor older than 1.4 gets one call each."""
        if not self.client.can_send_version("1.4"):
            return [getattr(self, method)(ctxt, **kwargs) for method, kwargs in ops]
        prepared = self._short("1.4")
        if not wait:
            prepared.cast(ctxt, "batch", ops=ops)
            return None
        return prepared.call(ctxt, "batch", ops=ops)

    def action_event_finish(self, ctxt: RequestContext, instance_uuid: str, event: str,
                            result: str, traceback: str | None = None,
                            finish_action: bool = False) -> None:
        """result: "Success" or "Error". finish_action also closes the instance action."""
        self._short("1.1").call(ctxt, "action_event_finish", instance_uuid=instance_uuid,
                                event=event, result=result, traceback=traceback,
                                finish_action=finish_action)

    def instance_destroyed(self, ctxt: RequestContext, instance_uuid: str) -> None:
        """The guest is gone: drop the instance's allocations and mark it deleted."""
        self._short("1.1").call(ctxt, "instance_destroyed", instance_uuid=instance_uuid)

    def instances_on_host(self, ctxt: RequestContext, host: str) -> list[Instance]:
        return self._short("1.1").call(ctxt, "instances_on_host", host=host)

    # -- resize and cold migration (1.2) ---------------------------------------------
    def migrate_server(self, ctxt: RequestContext, instance: Instance, flavor: dict,
                       requested_host: str | None, migration_type: str) -> None:
        """Start a resize (flavor is the new flavor) or a cold migration (flavor is the
        current one; requested_host optional). The instance is already in resize_prep."""
        self.client.prepare(version="1.2").cast(
            ctxt, "migrate_server", instance=instance, flavor=flavor,
            requested_host=requested_host, migration_type=migration_type)

    def reschedule_resize(self, ctxt: RequestContext, instance: Instance, migration: Migration,
                          request_spec: RequestSpec, alternates: list[Selection],
                          tried: list[dict]) -> None:
        """prep_resize failed on tried[-1]: release that claim and try the next alternate,
        or roll the whole move back."""
        self.client.prepare(version="1.2").cast(
            ctxt, "reschedule_resize", instance=instance, migration=migration,
            request_spec=request_spec, alternates=alternates, tried=tried)

    def migration_update(self, ctxt: RequestContext, migration_id: int, values: dict,
                         expected_status: list[str] | None = None) -> Migration:
        return self._short("1.2").call(ctxt, "migration_update", migration_id=migration_id,
                                       values=values, expected_status=expected_status)

    def revert_allocations(self, ctxt: RequestContext, instance_uuid: str,
                           migration_uuid: str) -> None:
        """Put the migration's (source) allocation back on the instance, dropping the
        instance's destination claim: one transaction."""
        self._short("1.2").call(ctxt, "revert_allocations", instance_uuid=instance_uuid,
                                migration_uuid=migration_uuid)

    def confirm_allocations(self, ctxt: RequestContext, migration_uuid: str) -> None:
        """Drop the migration's (source) allocation: the instance now lives on the dest."""
        self._short("1.2").call(ctxt, "confirm_allocations", migration_uuid=migration_uuid)

    def resizes_to_confirm(self, ctxt: RequestContext, host: str, older_than: int) -> list[str]:
        """Confirm (as an admin would) resizes finished on `host` more than `older_than`
        seconds ago; returns the instance uuids it confirmed."""
        return self._short("1.2").call(ctxt, "resizes_to_confirm", host=host,
                                       older_than=older_than)

    # -- live migration (1.3) -------------------------------------------------------
    def live_migrate_instance(self, ctxt: RequestContext, instance: Instance,
                              migration: Migration, block_migration: bool | str,
                              requested_host: str | None, force: bool) -> None:
        """Start a live migration. The API has already moved the instance to
        (active|paused, migrating) and created the migration [accepted].
        block_migration: True, False or "auto"; force: skip the scheduler's check of
        requested_host (2.30-2.67)."""
        self.client.prepare(version="1.3").cast(
            ctxt, "live_migrate_instance", instance=instance, migration=migration,
            block_migration=block_migration, requested_host=requested_host, force=force)
