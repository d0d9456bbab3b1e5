"""Live migration on the compute hosts (DESIGN §4 "Live migration", steps 1-4).

    dest check_can_live_migrate_destination → source check_can_live_migrate_source
    source live_migration: [queued] → pool → [preparing] (dest pre_live_migration)
        → [running] under a monitor → post_live_migration
        → dest post_live_migration_at_destination → [completed]
    failure or abort → rollback: instance ACTIVE on the source, destination cleaned,
        allocations back on the source, [failed] / [cancelled] / [error], fault.
"""

from __future__ import annotations

import logging
import time
import traceback

from novalite import exception, rpc
from novalite.compute import steps
from novalite.conf import CONF
from novalite.context import RequestContext
from novalite.objects.instance import Instance
from novalite.objects.migration import Migration
from novalite.states import MigrationStatus as MS
from novalite.utils import concurrency

LOG = logging.getLogger(__name__)

EVENT = "compute_live_migration"
PROGRESS_INTERVAL = 0.2  # seconds between progress writes onto the migration
DEST_WATCH_INTERVAL = 1.0  # seconds between pings of the destination while running
DEST_CLEANUP_WAIT = 10.0  # seconds to wait for the destination's clean-up


class LiveMigrationMixin:
    """Part of ComputeManager (self.driver, self.conductor, self.compute, self.host)."""

    def _live_pool(self) -> concurrency.futures.ThreadPoolExecutor:
        if getattr(self, "_live_migration_pool", None) is None:
            self._live_migration_pool = concurrency.make_pool(
                CONF.compute.max_concurrent_live_migrations, "live-migration")
            self._cancelled: set[int] = set()
        return self._live_migration_pool

    # -- checks (calls) -----------------------------------------------------------
    @rpc.expose
    def check_can_live_migrate_destination(self, ctxt: RequestContext, instance: Instance,
                                           block_migration: bool | str) -> dict:
        """On the destination; asks the source in turn. Returns the migrate data."""
        dest_data = self.driver.check_can_live_migrate_destination(instance, block_migration)
        try:
            return self.compute.check_can_live_migrate_source(ctxt, instance.host, instance,
                                                              dest_data)
        finally:
            self.driver.cleanup_live_migration_destination_check(dest_data)

    @rpc.expose
    def check_can_live_migrate_source(self, ctxt: RequestContext, instance: Instance,
                                      dest_check_data: dict) -> dict:
        return self.driver.check_can_live_migrate_source(instance, dest_check_data)

    @rpc.expose
    def pre_live_migration(self, ctxt: RequestContext, instance: Instance,
                           migrate_data: dict) -> dict:
        return self.driver.pre_live_migration(instance, migrate_data)

    @rpc.expose
    def post_live_migration_at_destination(self, ctxt: RequestContext, instance: Instance,
                                           migration: Migration, migrate_data: dict) -> None:
        """The guest runs here now: host and node move, task cleared."""
        self.driver.post_live_migration_at_destination(instance, migrate_data)
        steps.transition(self, ctxt, instance, "live_migrated", host=self.host,
                         node=migration.dest_node,
                         power_state=int(self.power_state_of(instance)))

    @rpc.expose
    def rollback_live_migration_at_destination(self, ctxt: RequestContext, instance: Instance,
                                               migrate_data: dict) -> None:
        with self.instance_locks(instance.uuid):
            self.driver.rollback_live_migration_at_destination(instance, migrate_data)

    # -- the migration (source) ----------------------------------------------------
    @rpc.expose
    def live_migration(self, ctxt: RequestContext, instance: Instance, migration: Migration,
                       dest: str, migrate_data: dict) -> None:
        migration = self.conductor.migration_update(
            ctxt, migration.id, {"status": MS.QUEUED.value}, [MS.ACCEPTED.value])
        self._live_pool().submit(self._run_live_migration, ctxt, instance, migration, dest,
                                 migrate_data)

    def _run_live_migration(self, ctxt: RequestContext, instance: Instance,
                            migration: Migration, dest: str, migrate_data: dict) -> None:
        step = steps.Step(self, ctxt, instance.uuid, EVENT)
        try:
            if migration.id in self._cancelled:
                raise exception.LiveMigrationAborted(instance_uuid=instance.uuid)
            migration, = step.write(steps.migration_op(migration.id, MS.PREPARING,
                                                       [MS.QUEUED.value]))
            migrate_data = self.compute.pre_live_migration(ctxt, dest, instance, migrate_data)
            if migration.id in self._cancelled:
                raise exception.LiveMigrationAborted(instance_uuid=instance.uuid)
            migration, = step.write(steps.migration_op(migration.id, MS.RUNNING,
                                                       [MS.PREPARING.value]))
            monitor = _Monitor(self, ctxt, instance, migration, dest)
            try:
                self.driver.live_migration(instance, dest, migrate_data, monitor)
            except exception.LiveMigrationAborted:
                if monitor.failure is not None:  # aborted by us, for a reason to report
                    raise monitor.failure from None
                raise
            finally:
                monitor.stop()
        except Exception as exc:
            self._rollback_live_migration(ctxt, step, instance, migration, dest, migrate_data,
                                          exc)
            return
        finally:
            self._cancelled.discard(migration.id)
        self._post_live_migration(ctxt, step, instance, migration, dest, migrate_data)

    def _post_live_migration(self, ctxt: RequestContext, step: steps.Step, instance: Instance,
                             migration: Migration, dest: str, migrate_data: dict) -> None:
        try:
            self.driver.post_live_migration(instance, migrate_data)
            self.compute.post_live_migration_at_destination(ctxt, dest, instance, migration,
                                                            migrate_data)
        except Exception as exc:
            # The guest may already run on the destination: ERROR, for an operator to look.
            LOG.exception("Post live migration of %s failed", instance.uuid)
            self._fail(ctxt, step, instance, migration, exc, MS.ERROR, "live_migrate_failed")
            return
        # Allocations, the action and the final status in one transaction: a final
        # status means everything is settled.
        step.write(("confirm_allocations", {"migration_uuid": migration.uuid}),
                   steps.migration_op(migration.id, MS.COMPLETED), last=True)
        LOG.info("Instance %s live-migrated from %s to %s", instance.uuid, self.host, dest)

    def _rollback_live_migration(self, ctxt: RequestContext, step: steps.Step,
                                 instance: Instance, migration: Migration, dest: str,
                                 migrate_data: dict, exc: Exception) -> None:
        aborted = isinstance(exc, exception.LiveMigrationAborted)
        if not aborted:
            LOG.warning("Live migration of %s failed: %s", instance.uuid,
                        steps.message_of(exc))
        try:
            self.compute.rollback_live_migration_at_destination(
                ctxt, dest, instance, migrate_data, wait=DEST_CLEANUP_WAIT)
        except Exception as err:
            # Most likely the destination is down: leave the clean-up in its queue.
            LOG.warning("Cleaning the destination %s of %s did not answer (%s); it will "
                        "run when %s is back", dest, instance.uuid, type(err).__name__, dest)
            steps.safely(self.compute.rollback_live_migration_at_destination, ctxt, dest,
                         instance, migrate_data)
        status = MS.CANCELLED if aborted else MS.FAILED
        self._fail(ctxt, step, instance, migration, exc, status, "live_migrate_rollback")

    def _fail(self, ctxt: RequestContext, step: steps.Step, instance: Instance,
              migration: Migration, exc: Exception, status: MS, transition: str) -> None:
        details = "".join(traceback.format_exception(exc))
        step.failed(details, steps.fault_op(self, instance.uuid, exc, details))
        if transition == "live_migrate_rollback":
            steps.safely(self.conductor.revert_allocations, ctxt, instance.uuid,
                         migration.uuid)
        steps.safely(self.conductor.migration_update, ctxt, migration.id,
                     {"status": status.value})
        steps.safely(steps.transition, self, ctxt, instance, transition,
                     power_state=int(self.power_state_of(instance)))

    # -- operator actions (casts to the source) -----------------------------------
    @rpc.expose
    def live_migration_abort(self, ctxt: RequestContext, instance: Instance,
                             migration_id: int) -> None:
        self._live_pool()
        self._cancelled.add(migration_id)  # honoured if it is still queued or preparing
        self.driver.live_migration_abort(instance)

    @rpc.expose
    def live_migration_force_complete(self, ctxt: RequestContext, instance: Instance) -> None:
        self.driver.live_migration_force_complete(instance)


class _Monitor:
    """The driver's progress callback: writes progress bytes onto the migration (at most
    every PROGRESS_INTERVAL) and applies the completion timeout."""

    def __init__(self, manager: LiveMigrationMixin, ctxt: RequestContext, instance: Instance,
                 migration: Migration, dest: str) -> None:
        self.manager, self.ctxt = manager, ctxt
        self.instance, self.migration, self.dest = instance, migration, dest
        self.started = time.monotonic()
        self.last_write = 0.0
        self.timed_out = False
        self.largest_total = 0  # bytes to move, as the largest report so far says
        # Set when the migration must fail rather than end as the driver says.
        self.failure: Exception | None = None
        self._stopped = concurrency.Event()
        self._watch = concurrency.spawn(self._watch_destination, name="live-migration-watch")

    def _watch_destination(self) -> None:
        """A destination that stops answering aborts the migration: the guest keeps
        running on the source instead of being handed to a dead host."""
        misses = 0
        while not self._stopped.wait(DEST_WATCH_INTERVAL):
            try:
                self.manager.compute.ping(self.ctxt, self.dest, timeout=DEST_WATCH_INTERVAL)
                misses = 0
            except Exception:
                misses += 1
                if misses >= 2 and self.failure is None:
                    LOG.warning("Destination %s stopped answering; aborting the live "
                                "migration of %s", self.dest, self.instance.uuid)
                    self.failure = exception.MigrationError(
                        reason=f"the destination {self.dest} stopped answering")
                    self.manager.driver.live_migration_abort(self.instance)

    def stop(self) -> None:
        self._stopped.set()

    def timeout(self, stats: dict) -> float:
        # The largest total seen: a job that is failing reports zeros, which must not
        # shrink the allowance to nothing and turn a failure into a timeout abort.
        total = stats.get("memory_total", 0) + stats.get("disk_total", 0)
        self.largest_total = max(self.largest_total, total)
        per_gib = CONF.libvirt.live_migration_completion_timeout
        if not per_gib or not self.largest_total:
            return float("inf")
        return max(2.0, per_gib * self.largest_total / 2**30)

    def __call__(self, stats: dict) -> None:
        now = time.monotonic()
        done = not stats.get("memory_remaining") and not stats.get("disk_remaining")
        if done or now - self.last_write >= PROGRESS_INTERVAL:
            self.last_write = now
            # A cast: progress is for watchers, the migration must not wait for it.
            steps.safely(self.manager.conductor.batch, self.ctxt,
                         [steps.migration_op(self.migration.id, **stats)], wait=False)
        if not self.timed_out and now - self.started > self.timeout(stats):
            self.timed_out = True
            action = CONF.libvirt.live_migration_timeout_action
            LOG.warning("Live migration of %s exceeded its completion timeout: %s",
                        self.instance.uuid, action)
            if action == "force_complete":
                self.manager.driver.live_migration_force_complete(self.instance)
            else:
                self.manager.driver.live_migration_abort(self.instance)
