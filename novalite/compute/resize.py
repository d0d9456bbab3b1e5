"""Resize and cold migration on the compute hosts (DESIGN §4 steps 2-6).

    dest prep_resize → source resize_instance → dest finish_resize   → VERIFY_RESIZE
    confirm: source confirm_resize
    revert:  dest revert_resize → source finish_revert_resize

Every step moves the migration status and the instance's task_state with guarded
updates. A failed step records a fault, ends the migration [error], leaves allocations
where the instance actually lives, and returns the instance to its previous state — or
to ERROR when its guest may be damaged.
"""

from __future__ import annotations

import logging
import traceback

from novalite import exception, rpc
from novalite.compute import steps
from novalite.conf import CONF
from novalite.context import RequestContext, get_admin_context
from novalite.objects.instance import Instance
from novalite.objects.migration import Migration
from novalite.objects.request_spec import RequestSpec, Selection
from novalite.states import MigrationStatus as MS
from novalite.states import TaskState, VmState

LOG = logging.getLogger(__name__)

# Where the allocations go when a step fails: the host the instance lives on keeps it.
ON_SOURCE, ON_DEST = "source", "dest"


def _was_active(instance: Instance) -> bool:
    return instance.system_metadata.get("old_vm_state", VmState.ACTIVE.value) == VmState.ACTIVE


class ResizeMixin:
    """Part of ComputeManager (self.driver, self.conductor, self.compute, self.host)."""

    # -- destination ------------------------------------------------------------------
    @rpc.expose
    def prep_resize(self, ctxt: RequestContext, instance: Instance, migration: Migration,
                    flavor: dict, request_spec: RequestSpec, alternates: list[Selection],
                    tried: list[dict]) -> None:
        with self.instance_locks(instance.uuid):
            # No state changes here: the event is sent once, when the step is over.
            step = steps.Step(self, ctxt, instance.uuid, "compute_prep_resize",
                              finish_action=False)
            try:
                if instance.host == self.host and not CONF.allow_resize_to_same_host:
                    raise exception.Invalid(reason="the destination is the current host")
                disk_target = self.driver.prep_resize(instance, flavor)
            except Exception as exc:
                reason = steps.message_of(exc)
                LOG.warning("prep_resize of %s failed on %s: %s", instance.uuid, self.host,
                            reason)
                step.failed(traceback.format_exc())
                self.conductor.reschedule_resize(ctxt, instance, migration, request_spec,
                                                 alternates,
                                                 tried + [{"host": self.host, "reason": reason}])
                return
            step.succeeded()
        self.compute.resize_instance(ctxt, migration.source_compute, instance, migration,
                                     flavor, disk_target=disk_target)

    @rpc.expose
    def finish_resize(self, ctxt: RequestContext, instance: Instance, migration: Migration,
                      flavor: dict) -> None:
        with self._move_step(ctxt, instance, migration, "compute_finish_resize",
                             failure="resize_failed", allocations=ON_DEST) as step:
            instance = step.transition(instance, "resize_finish", flavor=flavor,
                                       old_flavor=migration.old_flavor, new_flavor=flavor)
            self.driver.finish_migration(instance, {}, flavor, power_on=_was_active(instance))
            step.write(steps.migration_op(migration.id, MS.FINISHED, [MS.POST_MIGRATING.value]),
                       steps.transition_op(instance, "finished",
                                           power_state=int(self.power_state_of(instance))),
                       last=True)

    @rpc.expose
    def revert_resize(self, ctxt: RequestContext, instance: Instance,
                      migration: Migration) -> None:
        with self._move_step(ctxt, instance, migration, "compute_revert_resize",
                             failure="revert_failed", allocations=ON_DEST,
                             finish_action=False) as step:
            self.driver.revert_migration_at_destination(instance)
        if step.ok:
            self.compute.finish_revert_resize(ctxt, migration.source_compute, instance,
                                              migration)

    # -- source -----------------------------------------------------------------------
    @rpc.expose
    def resize_instance(self, ctxt: RequestContext, instance: Instance, migration: Migration,
                        flavor: dict, disk_target: dict | None = None) -> None:
        with self._move_step(ctxt, instance, migration, "compute_resize_instance",
                             failure="resize_rollback", allocations=ON_SOURCE,
                             finish_action=False, restore_guest=True) as step:
            # Each step: the instance's task_state, then the migration's status (one write).
            instance, migration = step.write(
                steps.transition_op(instance, "resize_migrating"),
                steps.migration_op(migration.id, MS.MIGRATING, [MS.PRE_MIGRATING.value]))
            self.driver.migrate_disk_and_power_off(instance, migration.dest_compute, flavor,
                                                   disk_target)
            instance, migration = step.write(
                steps.transition_op(instance, "resize_migrated", host=migration.dest_compute,
                                    node=migration.dest_node),
                steps.migration_op(migration.id, MS.POST_MIGRATING, [MS.MIGRATING.value]))
        if step.ok:
            self.compute.finish_resize(ctxt, migration.dest_compute, instance, migration,
                                       flavor)

    @rpc.expose
    def confirm_resize(self, ctxt: RequestContext, instance: Instance,
                       migration: Migration) -> None:
        if instance.task_state == TaskState.DELETING or instance.vm_state == VmState.DELETED:
            self._confirm_for_delete(ctxt, instance, migration)
            return
        with self._move_step(ctxt, instance, migration, "compute_confirm_resize",
                             failure="confirm_failed", allocations=ON_DEST) as step:
            self.driver.confirm_migration(instance)
            step.write(steps.migration_op(migration.id, MS.CONFIRMED, [MS.CONFIRMING.value]),
                       ("confirm_allocations", {"migration_uuid": migration.uuid}),
                       steps.transition_op(instance, "confirmed", old_flavor=None,
                                           new_flavor=None),
                       last=True)

    @rpc.expose
    def finish_revert_resize(self, ctxt: RequestContext, instance: Instance,
                             migration: Migration) -> None:
        with self._move_step(ctxt, instance, migration, "compute_finish_revert_resize",
                             failure="revert_failed", allocations=ON_SOURCE) as step:
            _, instance = step.write(
                ("revert_allocations", {"instance_uuid": instance.uuid,
                                        "migration_uuid": migration.uuid}),
                ("instance_update", {
                    "instance_uuid": instance.uuid,
                    "values": {"host": migration.source_compute,
                               "node": migration.source_node, "flavor": migration.old_flavor,
                               "old_flavor": None, "new_flavor": None},
                    "guard": {"task_state": [TaskState.RESIZE_REVERTING.value]}}))
            self.driver.finish_revert_migration(instance, power_on=_was_active(instance))
            step.write(steps.migration_op(migration.id, MS.REVERTED, [MS.REVERTING.value]),
                       steps.transition_op(instance, "reverted",
                                           power_state=int(self.power_state_of(instance))),
                       last=True)

    def _confirm_for_delete(self, ctxt: RequestContext, instance: Instance,
                            migration: Migration) -> None:
        """A resized server is being deleted: drop the old guest and the migration's
        allocation; the delete (on the destination) owns the instance itself."""
        with self.instance_locks(instance.uuid):
            try:
                self.driver.confirm_migration(instance)
            except Exception:
                LOG.exception("Cleaning up the source guest of %s failed", instance.uuid)
            # One transaction: a final status means the allocation is gone too.
            self.conductor.batch(ctxt, [
                ("confirm_allocations", {"migration_uuid": migration.uuid}),
                steps.migration_op(migration.id, MS.CONFIRMED, [MS.CONFIRMING.value])])

    # -- shared -----------------------------------------------------------------------
    def _move_step(self, ctxt: RequestContext, instance: Instance, migration: Migration,
                   event: str, failure: str, allocations: str, finish_action: bool = True,
                   restore_guest: bool = False):
        """steps.instance_step, plus the move's own failure handling: migration [error]
        and allocations left on the host the instance lives on."""

        def on_failure(exc: Exception) -> str:
            self.conductor.migration_update(ctxt, migration.id, {"status": MS.ERROR.value})
            if allocations == ON_SOURCE:
                self.conductor.revert_allocations(ctxt, instance.uuid, migration.uuid)
            else:
                self.conductor.confirm_allocations(ctxt, migration.uuid)
            if restore_guest:
                # The guest may be powered off with its disks moved: bring it back here.
                try:
                    self.driver.finish_revert_migration(instance,
                                                        power_on=_was_active(instance))
                    self.conductor.instance_update(
                        ctxt, instance.uuid,
                        {"host": migration.source_compute, "node": migration.source_node},
                        {})
                except Exception:
                    LOG.exception("Restoring the guest of %s failed", instance.uuid)
                    return "resize_failed"
            return failure

        return steps.instance_step(self, ctxt, instance, event, failure=failure,
                                   finish_action=finish_action, on_failure=on_failure)

    def confirm_old_resizes(self) -> None:
        """Periodic, on the destination: auto-confirm after [compute] resize_confirm_window."""
        window = CONF.compute.resize_confirm_window
        if window > 0:
            done = self.conductor.resizes_to_confirm(get_admin_context(), self.host, window)
            for uuid in done:
                LOG.info("Auto-confirmed the resize of %s after %ss", uuid, window)
