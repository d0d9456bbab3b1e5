"""The API side of the server flows (Nova's compute/api.py role, kept small).

Every action on an existing server runs the same steps, in this order, so that a 202
already shows the new status and concurrent identical requests have exactly one winner:

1. read the instance (another project's server is InstanceNotFound unless the caller is
   an administrator);
2. refuse before changing anything: locked (409 unless admin), the compute host it
   needs has no service up (409), the states table does not allow the action from the
   current (vm_state, task_state) (409 with Nova's "Cannot 'stop' instance ..." text);
3. apply the states table's transition as one guarded UPDATE and record the instance
   action, in one transaction. A concurrent request that changed the instance first
   makes the UPDATE match no row: this request gets the same 409;
4. cast to the instance's compute host (or, for a create, to the conductor). If the cast
   itself fails the task_state is put back, so the server is not left half-changed.

Steps 1 and 2 read in one read transaction (one pooled connection for the instance and
the service of its host); a REST handler passes its policy check as `authorize`, which
runs on the instance read in step 1, before step 2.

Delete is the exception to step 4: a server that never reached a host, or whose host's
compute service is down, is deleted here in the API ("local delete"), allocations
included.

Resize and cold migration follow the same steps but cast to the conductor, which
creates the migration record. Confirm and revert change that record too: the guarded
UPDATE of the instance and the guarded UPDATE of its [finished] migration are one
transaction, so of concurrent confirm/revert requests exactly one wins.
"""

from __future__ import annotations

import enum
import logging
import re
import secrets
import string
import traceback
import uuid as uuid_lib
from collections.abc import Callable
from typing import Any

from novalite import exception, quota, rpc, servicegroup, states
from novalite.compute import rpcapi as compute_rpcapi
from novalite.conductor import rpcapi as conductor_rpcapi
from novalite.context import RequestContext
from novalite.db import allocations
from novalite.db import api as db
from novalite.db import flavors as flavor_db
from novalite.image import api as image_api
from novalite.objects.instance import Instance
from novalite.objects.migration import Migration
from novalite.objects.request_spec import RequestSpec

LOG = logging.getLogger(__name__)

COMPUTE_BINARY = "novalite-compute"
# Nova's [DEFAULT] multi_instance_display_name_template.
MULTI_INSTANCE_NAME_TEMPLATE = "%(name)s-%(count)d"
GIB = 1024 ** 3
_RESERVATION_CHARS = string.ascii_lowercase + string.digits
# Nova's labels in the 409s of os-migrateLive, force_complete and the abort.
LIVE_MIGRATE_LABEL = "os-migrateLive"
FORCE_COMPLETE_LABEL = "force_complete"
ABORT_LABEL = "abort live migration"
# What an abort may also stop from 2.65: a live migration the source has not started.
ABORTABLE_QUEUED: frozenset[states.MigrationStatus] = frozenset({
    states.MigrationStatus.QUEUED, states.MigrationStatus.PREPARING})
_PASSWORD_CHARS = "".join(c for c in string.ascii_letters + string.digits if c not in "0O1lI")

# The caller's right to act on an instance, e.g. the REST handler's policy check: raises
# (Forbidden) to refuse.
Authorize = Callable[[Any], object]


class RebootType(enum.StrEnum):
    SOFT = "SOFT"
    HARD = "HARD"


class Action(enum.StrEnum):
    """Instance action names, as os-instance-actions lists them (Nova's names)."""

    CREATE = "create"
    DELETE = "delete"
    START = "start"
    STOP = "stop"
    REBOOT = "reboot"
    LOCK = "lock"
    UNLOCK = "unlock"
    RESIZE = "resize"
    MIGRATE = "migrate"
    CONFIRM_RESIZE = "confirmResize"
    REVERT_RESIZE = "revertResize"
    LIVE_MIGRATION = "live-migration"
    LIVE_MIGRATION_FORCE_COMPLETE = "live_migration_force_complete"
    LIVE_MIGRATION_CANCEL = "live_migration_cancel"


class LockedBy(enum.StrEnum):
    """Who locked a server: its own project, or an administrator from elsewhere."""

    OWNER = "owner"
    ADMIN = "admin"


def generate_password(length: int = 12) -> str:
    """A random adminPass for the create response (Nova returns one by default)."""
    return "".join(secrets.choice(_PASSWORD_CHARS) for _ in range(length))


def id_from_ref(ref: str | int) -> str:
    """An id from a flavorRef/imageRef, which clients may send as a link URL."""
    text = str(ref).strip()
    return text.rstrip("/").rsplit("/", 1)[-1] if "/" in text else text


def sanitize_hostname(name: str, default: str) -> str:
    """A DNS label from a display name (what Nova puts in the instance's hostname)."""
    text = name.encode("latin-1", "ignore").decode("latin-1")[:63]
    text = re.sub(r"[ _.]", "-", text)
    text = re.sub(r"[^\w-]+", "", text, flags=re.ASCII).lower().strip("-")
    return text or default[:63]


class API:
    """Server operations for the REST handlers: checks, state, records, casts.

    The RPC clients are created on first use (and again if the process's transport was
    replaced), so building an API needs no transport; tests may pass their own.
    """

    def __init__(self, conductor: Any = None, compute: Any = None) -> None:
        self._fixed_conductor, self._fixed_compute = conductor, compute
        self._clients: dict[str, tuple[Any, Any]] = {}

    def _client(self, name: str, factory: Callable[[], Any]) -> Any:
        transport = rpc.TRANSPORT
        cached = self._clients.get(name)
        if cached is None or cached[0] is not transport:
            cached = (transport, factory())
            self._clients[name] = cached
        return cached[1]

    @property
    def conductor(self) -> conductor_rpcapi.ConductorAPI:
        if self._fixed_conductor is not None:
            return self._fixed_conductor
        return self._client("conductor", conductor_rpcapi.ConductorAPI)

    @property
    def compute(self) -> compute_rpcapi.ComputeAPI:
        if self._fixed_compute is not None:
            return self._fixed_compute
        return self._client("compute", compute_rpcapi.ComputeAPI)

    # -- reading --------------------------------------------------------------------

    def get(self, ctx: RequestContext, instance_uuid: str, read_deleted: bool = False) -> Any:
        """The instance; InstanceNotFound for another project's (admins see all), so a
        server's existence never leaks across projects."""
        row = db.instance_get(ctx, instance_uuid, read_deleted=read_deleted)
        if not ctx.is_admin and row.project_id != ctx.project_id:
            raise exception.InstanceNotFound(instance_id=instance_uuid)
        return row

    def get_all(self, ctx: RequestContext, filters: dict[str, Any] | None = None,
                limit: int | None = None, marker: str | None = None,
                sort_keys: list[str] | None = None,
                sort_dirs: list[str] | None = None) -> list[Any]:
        """One page of servers (filters as db.instance_get_all_by_filters). A caller who
        is not an administrator only ever sees their own project, whatever the filters."""
        filters = dict(filters or {})
        if not ctx.is_admin:
            filters["project_id"] = ctx.project_id
        return db.instance_get_all_by_filters(ctx, filters, sort_keys=sort_keys,
                                              sort_dirs=sort_dirs, limit=limit, marker=marker)

    # -- create ---------------------------------------------------------------------

    def create(self, ctx: RequestContext, *, name: str, flavor_ref: str | int, image_ref: str,
               availability_zone: str | None = None, metadata: dict | None = None,
               min_count: int = 1, max_count: int = 1, scheduler_hints: dict | None = None,
               description: str | None = None, key_name: str | None = None,
               user_data: str | None = None, hostname: str | None = None,
               requested_host: str | None = None, system_metadata: dict | None = None,
               allow_zero_disk: bool = False) -> list[Any]:
        """Record min_count..max_count new servers (building, scheduling) and cast one
        build_instances to the conductor for all of them; returns their rows.

        As in Nova: as many as the quota allows between min_count and max_count are
        created (OverQuota, 403, if not even min_count fit); with several, names get a
        "-1", "-2"... suffix; all share one reservation_id. The flavor must be visible
        to the caller and enabled (FlavorNotFound), the image must exist (ImageNotFound)
        and fit the flavor (FlavorMemoryTooSmall / FlavorDiskTooSmall, 400).
        availability_zone is stored as given (None when the caller named none, as Nova
        does); requested_host asks the scheduler for that host.
        """
        if min_count < 1 or max_count < min_count:
            raise exception.Invalid(message="min_count must be <= max_count")
        metadata = dict(metadata or {})
        with db.transaction(writer=False):  # the reads before the insert: one connection
            limits = quota.limits_for(ctx, ctx.project_id)
            self._check_metadata_quota(limits, metadata)
            flavor = self._flavor(ctx, flavor_ref)
        # With no counted limit (instances, cores, ram), nothing can be over quota: no
        # usage to count, before the insert or after it.
        counted = any(limits[name] != quota.UNLIMITED for name in quota.COUNTED)
        image = image_api.get(ctx, str(image_ref))
        self._check_image(image, flavor, allow_zero_disk)
        snapshot = flavor_db.flavor_snapshot(flavor)
        vm_state, task_state = states.check("create", None, None)
        reservation_id = "r-" + "".join(secrets.choice(_RESERVATION_CHARS) for _ in range(8))
        rows: list[Any] = []
        with db.transaction():
            count = (self._instances_allowed(ctx, flavor, min_count, max_count) if counted
                     else max_count)
            for index in range(count):
                instance_uuid = str(uuid_lib.uuid4())
                display_name = (name if count == 1 else MULTI_INSTANCE_NAME_TEMPLATE % {
                    "name": name, "count": index + 1})
                row = db.instance_create(ctx, {
                    "uuid": instance_uuid, "name": display_name, "description": description,
                    "hostname": hostname or sanitize_hostname(display_name,
                                                              f"Server-{instance_uuid}"),
                    "flavor": snapshot, "image_ref": image["id"], "key_name": key_name,
                    "user_data": user_data, "reservation_id": reservation_id,
                    "launch_index": index, "availability_zone": availability_zone,
                    "metadata": metadata, "system_metadata": dict(system_metadata or {}),
                    "vm_state": vm_state, "task_state": task_state,
                    "power_state": states.PowerState.NOSTATE, "progress": 0, "locked": False,
                })
                db.action_start(ctx, row.uuid, Action.CREATE)
                rows.append(row)
        if counted:
            self._recheck_quota(ctx, rows)
        spec = RequestSpec(
            project_id=ctx.project_id, user_id=ctx.user_id, flavor=snapshot, image=image,
            num_instances=len(rows), availability_zone=availability_zone,
            scheduler_hints=dict(scheduler_hints or {}), requested_destination=requested_host,
            instance_uuid=rows[0].uuid)
        try:
            self.conductor.build_instances(ctx, [Instance.from_db(r) for r in rows], spec,
                                           image)
        except Exception as exc:
            LOG.exception("Casting build_instances for %s failed", [r.uuid for r in rows])
            for row in rows:
                self._fail_build(ctx, row.uuid, exc)
            raise
        return rows

    @staticmethod
    def _flavor(ctx: RequestContext, flavor_ref: str | int) -> Any:
        flavor_id = id_from_ref(flavor_ref)
        flavor = flavor_db.flavor_get_by_flavorid(ctx, flavor_id)
        if getattr(flavor, "disabled", False):
            raise exception.FlavorNotFound(flavor_id=flavor_id)
        return flavor

    @staticmethod
    def _check_image(image: dict, flavor: Any, allow_zero_disk: bool) -> None:
        """The image must be active and fit the flavor (Nova's checks, same order)."""
        if image.get("status", "active") != "active":
            raise exception.Invalid(message=f"Image {image['id']} is not active.")
        if int(image.get("min_ram") or 0) > flavor.memory_mb:
            raise exception.FlavorMemoryTooSmall()
        if not flavor.root_gb:
            if not allow_zero_disk:
                raise exception.Forbidden(message="Only volume-backed servers are allowed "
                                                  "for flavors with zero disk.")
            return
        root_bytes = flavor.root_gb * GIB
        for what, size in (("image", image.get("size")),
                           ("image", image.get("virtual_size")),
                           ("minimum disk", int(image.get("min_disk") or 0) * GIB)):
            if size and int(size) > root_bytes:
                raise exception.FlavorDiskTooSmall(flavor_size=root_bytes, what=what,
                                                   image_size=int(size))

    @staticmethod
    def _check_metadata_quota(limits: dict[str, int], metadata: dict) -> None:
        allowed = limits.get("metadata_items", quota.UNLIMITED)
        if allowed != quota.UNLIMITED and len(metadata) > allowed:
            raise exception.OverQuota(message=f"Quota exceeded for metadata_items: Requested "
                                              f"{len(metadata)}, but the limit is {allowed}")

    @staticmethod
    def _instances_allowed(ctx: RequestContext, flavor: Any, min_count: int,
                           max_count: int) -> int:
        """How many to create (inside the inserting transaction, see quota.enforce)."""
        count = quota.allowed_instances(ctx, ctx.project_id, flavor.vcpus, flavor.memory_mb,
                                        max_count)
        if count < min_count:
            # Raises OverQuota with Nova's message; passes only if a limit just moved.
            quota.enforce(ctx, ctx.project_id, instances=min_count,
                          cores=min_count * flavor.vcpus, ram=min_count * flavor.memory_mb)
            count = min_count
        return count

    def _recheck_quota(self, ctx: RequestContext, rows: list[Any]) -> None:
        """Nova's quota recheck: a concurrent create may have passed the same check on
        PostgreSQL/MariaDB; if the project is now over a limit, undo this create."""
        with db.transaction(writer=False):  # both reads on one connection
            limits = quota.limits_for(ctx, ctx.project_id)
            usage = quota.usage_for(ctx, ctx.project_id)
        flavor = rows[0].flavor or {}
        mine = {"instances": len(rows), "cores": len(rows) * int(flavor.get("vcpus") or 0),
                "ram": len(rows) * int(flavor.get("memory_mb") or 0)}
        overs = [name for name in quota.COUNTED
                 if limits[name] != quota.UNLIMITED and usage[name] > limits[name]
                 and mine[name] > 0]
        if not overs:
            return
        for row in rows:
            try:
                with db.transaction():
                    db.instance_destroy(ctx, row.uuid)
                    db.action_finish(ctx, row.uuid, message="Error")
            except exception.NovaliteException:
                LOG.exception("Could not undo the over-quota create of %s", row.uuid)
        raise exception.OverQuota(
            overs=", ".join(overs), req=", ".join(str(mine[n]) for n in overs),
            used=", ".join(str(usage[n] - mine[n]) for n in overs),
            allowed=", ".join(str(limits[n]) for n in overs))

    @staticmethod
    def _fail_build(ctx: RequestContext, instance_uuid: str, exc: Exception) -> None:
        """The build could not even be handed to the conductor: ERROR with a fault."""
        try:
            with db.transaction():
                db.instance_transition(ctx, instance_uuid, "build_failed")
                db.instance_fault_create(ctx, {
                    "instance_uuid": instance_uuid, "code": 500,
                    "message": f"The build could not be sent to the conductor: "
                               f"{type(exc).__name__}: {exc}",
                    "details": "".join(traceback.format_exception(exc))})
                db.action_finish(ctx, instance_uuid, message="Error")
        except exception.NovaliteException:
            LOG.exception("Could not mark %s as failed", instance_uuid)

    # -- update ---------------------------------------------------------------------

    def update(self, ctx: RequestContext, instance_uuid: str, values: dict[str, Any],
               instance: Any = None) -> Any:
        """Set name, description, hostname and/or system_metadata keys (PUT /servers).

        No state guard and no lock check, as in Nova: renaming never races an action.
        system_metadata keys given are merged into the instance's.
        """
        row = instance if instance is not None else self.get(ctx, instance_uuid)
        allowed = {"name", "description", "hostname", "system_metadata"}
        unknown = set(values) - allowed
        if unknown:
            raise exception.Invalid(reason=f"cannot update {', '.join(sorted(unknown))}")
        update = dict(values)
        if "system_metadata" in update:
            update["system_metadata"] = {**(row.system_metadata or {}),
                                         **update["system_metadata"]}
        if not update:
            return row
        return db.instance_update(ctx, row.uuid, update)

    # -- power actions ---------------------------------------------------------------

    def start(self, ctx: RequestContext, instance_uuid: str, instance: Any = None,
              authorize: Authorize | None = None) -> Any:
        """os-start: (stopped, None) → (stopped, powering-on), cast start_instance."""
        row = self._checked(ctx, instance_uuid, instance, authorize, Action.START, "start",
                            needs_host=True)
        updated = self._apply(ctx, row, Action.START, "start")
        self._cast(ctx, updated, "start", lambda inst: self.compute.start_instance(ctx, inst))
        return updated

    def stop(self, ctx: RequestContext, instance_uuid: str, clean_shutdown: bool = True,
             instance: Any = None, authorize: Authorize | None = None) -> Any:
        """os-stop: (active|error, None) → (…, powering-off), cast stop_instance."""
        row = self._checked(ctx, instance_uuid, instance, authorize, Action.STOP, "stop",
                            needs_host=True)
        updated = self._apply(ctx, row, Action.STOP, "stop")
        self._cast(ctx, updated, "stop",
                   lambda inst: self.compute.stop_instance(ctx, inst,
                                                           clean_shutdown=clean_shutdown))
        return updated

    def reboot(self, ctx: RequestContext, instance_uuid: str, reboot_type: str | RebootType,
               instance: Any = None, authorize: Authorize | None = None) -> Any:
        """reboot SOFT (from active) or HARD (also from stopped, paused, error and over a
        soft reboot in progress, as the states table says), cast reboot_instance."""
        kind = RebootType(str(reboot_type).upper())
        transition = "reboot_hard" if kind is RebootType.HARD else "reboot"
        row = self._checked(ctx, instance_uuid, instance, authorize, Action.REBOOT,
                            transition, needs_host=True)
        updated = self._apply(ctx, row, Action.REBOOT, transition)
        self._cast(ctx, updated, transition,
                   lambda inst: self.compute.reboot_instance(ctx, inst, kind.value))
        return updated

    # -- resize and cold migration (DESIGN §4) ----------------------------------------

    def resize(self, ctx: RequestContext, instance_uuid: str, flavor_ref: str | int,
               instance: Any = None, auto_disk_config: bool | None = None,
               authorize: Authorize | None = None) -> Any:
        """resize: (active|stopped, None) → (…, resize_prep), cast the conductor's
        migrate_server with the new flavor's snapshot.

        Refused, in Nova's order: locked, source compute down, wrong state (409); an
        unknown or disabled flavor, the current flavor, a smaller disk, an image that
        no longer fits (400); an upsize over the project's quota (403).
        """
        with db.transaction(writer=False):  # every read before the write: one connection
            row = self._checked(ctx, instance_uuid, instance, authorize, Action.RESIZE,
                                "resize", needs_host=True)
            current = dict(row.flavor or {})
            new_flavor = self._resize_flavor(ctx, flavor_ref, current)
            self._check_image_fits(ctx, row, new_flavor)
            snapshot = flavor_db.flavor_snapshot(new_flavor)
        values = self._move_values(row, auto_disk_config)
        cores, ram = self._flavor_deltas(current, snapshot)

        def check_quota() -> None:
            # Inside the transaction that marks the instance (see quota.enforce).
            quota.enforce(ctx, row.project_id, cores=cores, ram=ram)

        updated = self._apply(ctx, row, Action.RESIZE, "resize", values=values,
                              within=check_quota)
        self._cast(ctx, updated, "resize",
                   lambda inst: self.conductor.migrate_server(
                       ctx, inst, snapshot, None, states.MigrationType.RESIZE.value))
        return updated

    def migrate(self, ctx: RequestContext, instance_uuid: str, host: str | None = None,
                instance: Any = None, authorize: Authorize | None = None) -> Any:
        """Cold migration: like resize with the current flavor, transition and action
        "migrate"; `host` (who may name one is the handler's policy) must be another
        existing compute host (400 otherwise)."""
        with db.transaction(writer=False):  # every read before the write: one connection
            row = self._checked(ctx, instance_uuid, instance, authorize, Action.MIGRATE,
                                "migrate", needs_host=True)
            if host is not None:
                if host == row.host:
                    raise exception.CannotMigrateToSameHost()
                if not db.compute_node_get_all(ctx, hosts=[host]):
                    raise exception.ComputeHostNotFound(host=host)
        snapshot = dict(row.flavor or {})
        updated = self._apply(ctx, row, Action.MIGRATE, "migrate",
                              values=self._move_values(row, None))
        self._cast(ctx, updated, "migrate",
                   lambda inst: self.conductor.migrate_server(
                       ctx, inst, snapshot, host, states.MigrationType.MIGRATION.value))
        return updated

    @staticmethod
    def finished_migration(ctx: RequestContext, instance_uuid: str) -> Any:
        """The instance's newest migration in [finished] (what confirm and revert act
        on); MigrationNotFoundByStatus when there is none (Nova's "not resized")."""
        found = db.migration_get_all(ctx, instance_uuid=instance_uuid,
                                     statuses=[states.MigrationStatus.FINISHED.value])
        if not found:
            raise exception.MigrationNotFoundByStatus(
                instance_id=instance_uuid, status=states.MigrationStatus.FINISHED.value)
        return found[-1]

    def confirm_resize(self, ctx: RequestContext, instance_uuid: str, instance: Any = None,
                       migration: Any = None, authorize: Authorize | None = None) -> Any:
        """confirmResize: (resized, None) + [finished] → (resized, resize_confirming) +
        [confirming], cast confirm_resize to the migration's source host.

        The source compute must be up (409 ServiceUnavailable), checked before anything
        changes so the request can be retried, as in Nova. `migration` lets a caller
        that already holds the [finished] migration (auto-confirm) pass it.
        """
        with db.transaction(writer=False):  # every read before the write: one connection
            row = self._checked(ctx, instance_uuid, instance, authorize,
                                Action.CONFIRM_RESIZE, "confirm", needs_host=False)
            found = (migration if migration is not None
                     else self._newest_finished_migration(ctx, row.uuid))
            source_up = (found is not None and bool(found.source_compute)
                         and self._host_is_up(ctx, found.source_compute))
        if found is None:
            raise self._not_resized(ctx, row, Action.CONFIRM_RESIZE, "confirm")
        if not source_up:
            raise exception.ServiceUnavailable(host=found.source_compute)
        updated, moved = self._apply_with_migration(
            ctx, row, Action.CONFIRM_RESIZE, "confirm", found.id,
            states.MigrationStatus.CONFIRMING)
        self._cast(ctx, updated, "confirm",
                   lambda inst: self.compute.confirm_resize(
                       ctx, moved.source_compute, inst, Migration.from_db(moved)),
                   undo=self._undo_migration(ctx, moved.id,
                                             states.MigrationStatus.CONFIRMING))
        return updated

    def revert_resize(self, ctx: RequestContext, instance_uuid: str,
                      instance: Any = None, authorize: Authorize | None = None) -> Any:
        """revertResize: (resized, None) + [finished] → (resized, resize_reverting) +
        [reverting], cast revert_resize to the migration's destination host.

        Going back to a bigger flavor is checked against the quota (403), as Nova
        checks it. Like Nova, the destination's service is not checked: the revert
        waits for it (and restart recovery resumes resize_reverting).
        """
        with db.transaction(writer=False):  # every read before the write: one connection
            row = self._checked(ctx, instance_uuid, instance, authorize,
                                Action.REVERT_RESIZE, "revert", needs_host=False)
            found = self._newest_finished_migration(ctx, row.uuid)
        if found is None:
            raise self._not_resized(ctx, row, Action.REVERT_RESIZE, "revert")
        old_flavor = dict(found.old_flavor or row.old_flavor or {})
        cores, ram = self._flavor_deltas(dict(row.flavor or {}), old_flavor)

        def check_quota() -> None:
            quota.enforce(ctx, row.project_id, cores=cores, ram=ram)

        updated, moved = self._apply_with_migration(
            ctx, row, Action.REVERT_RESIZE, "revert", found.id,
            states.MigrationStatus.REVERTING, before=check_quota)
        self._cast(ctx, updated, "revert",
                   lambda inst: self.compute.revert_resize(
                       ctx, moved.dest_compute, inst, Migration.from_db(moved)),
                   undo=self._undo_migration(ctx, moved.id,
                                             states.MigrationStatus.REVERTING))
        return updated

    def _newest_finished_migration(self, ctx: RequestContext, instance_uuid: str) -> Any:
        """finished_migration, or None when there is none (see _not_resized)."""
        try:
            return self.finished_migration(ctx, instance_uuid)
        except exception.MigrationNotFoundByStatus:
            return None

    def _not_resized(self, ctx: RequestContext, row: Any, action: Action,
                     transition: str) -> exception.NovaliteException:
        """What to raise when `row` has no [finished] migration: if a concurrent
        confirm/revert took it after `row` was read, that request's state 409 (the
        instance and the migration change in one transaction, so the instance shows
        it), else "not resized". Re-reads the instance: call it outside the read
        transaction `row` came from, whose session would hand back the same row."""
        current = db.instance_get(ctx, row.uuid)
        if not states.transition(transition).allows(current.vm_state, current.task_state):
            return self._invalid_state(action.value, transition, current)
        return exception.MigrationNotFoundByStatus(
            instance_id=row.uuid, status=states.MigrationStatus.FINISHED.value)

    def _resize_flavor(self, ctx: RequestContext, flavor_ref: str | int,
                       current: dict[str, Any]) -> Any:
        """The flavor to resize to, checked as Nova checks it (all 400s)."""
        flavor_id = id_from_ref(flavor_ref)
        flavor = flavor_db.flavor_get_by_flavorid(ctx, flavor_id)
        current_root = int(current.get("root_gb") or 0)
        if not flavor.root_gb and current_root:
            # novalite servers are image-backed: a zero-disk flavor would lose the disk.
            raise exception.CannotResizeDisk(reason="Resize to zero disk flavor is not "
                                                    "allowed.")
        if str(flavor.flavorid) == str(current.get("flavorid")):
            raise exception.CannotResizeToSameFlavor()
        if flavor.disabled:
            raise exception.FlavorNotFound(flavor_id=flavor_id)
        # Disks only grow (what the libvirt driver refuses too); a root disk of 0 means
        # "the image's size", which any root size holds.
        if current_root and flavor.root_gb < current_root:
            raise exception.ResizeError(reason="Unable to resize disk down.")
        if flavor.ephemeral_gb < int(current.get("ephemeral_gb") or 0):
            raise exception.ResizeError(reason="Unable to resize disk down.")
        return flavor

    def _check_image_fits(self, ctx: RequestContext, row: Any, flavor: Any) -> None:
        """The server's image must fit the new flavor (min_ram, min_disk, size), as for
        a create; an image removed since the boot is not checked (Nova reads it from
        the instance's system metadata, which novalite does not copy)."""
        if not row.image_ref:
            return
        try:
            image = image_api.get(ctx, str(row.image_ref))
        except exception.ImageNotFound:
            return
        self._check_image({**image, "status": "active"}, flavor, allow_zero_disk=True)

    @staticmethod
    def _move_values(row: Any, auto_disk_config: bool | None) -> dict[str, Any]:
        """Columns a resize/migrate writes with its transition: old_vm_state (where
        confirm and revert land) and progress 0, as Nova does."""
        sysmeta = dict(row.system_metadata or {})
        sysmeta["old_vm_state"] = str(row.vm_state)
        if auto_disk_config is not None:
            sysmeta["auto_disk_config"] = bool(auto_disk_config)
        return {"system_metadata": sysmeta, "progress": 0}

    @staticmethod
    def _flavor_deltas(current: dict[str, Any], new: dict[str, Any]) -> tuple[int, int]:
        """(cores, ram) a move to `new` adds to the project's usage (may be negative)."""
        return (int(new.get("vcpus") or 0) - int(current.get("vcpus") or 0),
                int(new.get("memory_mb") or 0) - int(current.get("memory_mb") or 0))

    def _apply_with_migration(self, ctx: RequestContext, row: Any, action: Action,
                              transition: str, migration_id: int,
                              status: states.MigrationStatus,
                              before: Callable[[], None] | None = None) -> tuple[Any, Any]:
        """The instance transition, `before` (a quota check), the guarded move of the
        [finished] migration to `status` and the action: one transaction."""
        moved: list[Any] = []

        def move_migration() -> None:
            if before is not None:
                before()
            moved.append(db.migration_update(
                ctx, migration_id, {"status": status.value},
                expected_status=[states.MigrationStatus.FINISHED.value]))

        updated = self._apply(ctx, row, action, transition, within=move_migration)
        return updated, moved[0]

    @staticmethod
    def _undo_migration(ctx: RequestContext, migration_id: int,
                        status: states.MigrationStatus) -> Callable[[], None]:
        """Put the migration back to [finished] when the cast could not be sent."""
        return lambda: db.migration_undo_status(ctx, migration_id, status.value,
                                                states.MigrationStatus.FINISHED.value)

    # -- live migration (DESIGN §4) ------------------------------------------------

    def live_migrate(self, ctx: RequestContext, instance_uuid: str, host: str | None = None,
                     block_migration: bool | str = "auto", force: bool = False,
                     instance: Any = None, authorize: Authorize | None = None) -> Any:
        """os-migrateLive: (active|paused, None) → (…, migrating), action
        "live-migration" and the migration [accepted] in one transaction, then cast the
        conductor's live_migrate_instance; returns the updated row.

        The migration is created here rather than in the conductor (Nova creates it
        there) so that the 202 already has a record to show, abort, or recover, and
        concurrent requests cannot leave two. Refused, before anything changes: locked,
        source compute down, wrong state (409, Nova's "Cannot 'os-migrateLive' ..."); a
        named host with no enabled compute service (ComputeHostNotFound) or the current
        host (UnableToMigrateToSelf), both 400s. block_migration is True, False or
        "auto"; force (a host before 2.30, or force=true in 2.30-2.67) asks the
        conductor to skip the scheduler's check of `host`.
        """
        with db.transaction(writer=False):  # every read before the write: one connection
            row = self._instance(ctx, instance_uuid, instance, authorize)
            self._check_lock(ctx, row)
            self._check_host_up(ctx, row)
            if not states.transition("live_migrate").allows(row.vm_state, row.task_state):
                raise self._invalid_state(LIVE_MIGRATE_LABEL, "live_migrate", row)
            if host is not None:
                self._check_live_destination(ctx, row, host)
        flavor = dict(row.flavor or {})
        created: list[Any] = []

        def create_migration() -> None:
            created.append(db.migration_create(ctx, {
                "instance_uuid": row.uuid,
                "migration_type": states.MigrationType.LIVE_MIGRATION.value,
                "status": states.MigrationStatus.ACCEPTED.value,
                "source_compute": row.host, "source_node": row.node,
                "dest_compute": host, "old_flavor": flavor, "new_flavor": flavor}))

        try:
            updated = self._apply(ctx, row, Action.LIVE_MIGRATION, "live_migrate",
                                  within=create_migration)
        except exception.InstanceInvalidState as exc:
            # A concurrent request won the race: Nova's label, not the action's name.
            raise exception.InstanceInvalidState(
                **{**exc.kwargs, "action": LIVE_MIGRATE_LABEL}) from None
        migration = created[0]

        def undo() -> None:
            # Nobody can have picked the migration up: the cast never left.
            db.migration_update(ctx, migration.id,
                                {"status": states.MigrationStatus.ERROR.value},
                                expected_status=[states.MigrationStatus.ACCEPTED.value])

        self._cast(ctx, updated, "live_migrate",
                   lambda inst: self.conductor.live_migrate_instance(
                       ctx, inst, Migration.from_db(migration), block_migration, host,
                       force),
                   undo=undo)
        return updated

    @staticmethod
    def _check_live_destination(ctx: RequestContext, row: Any, host: str) -> None:
        """A named destination must be an enabled compute service other than the
        server's own host (400s; whether it fits is the conductor's question)."""
        try:
            service = db.service_get_by_host_and_binary(ctx, host, COMPUTE_BINARY)
        except exception.ServiceNotFound:
            raise exception.ComputeHostNotFound(host=host) from None
        if service.disabled:
            raise exception.ComputeHostNotFound(host=host)
        if host == row.host:
            raise exception.UnableToMigrateToSelf(instance_id=row.uuid, host=host)

    def force_complete_live_migration(self, ctx: RequestContext, instance_uuid: str,
                                      migration_id: int | str,
                                      instance: Any = None) -> Any:
        """POST .../migrations/{id}/action force_complete (2.22): ask the source to
        make the [running] live migration converge; returns the migration.

        The server must be (active, migrating) and not locked (409, labelled
        "force_complete" as Nova's); the migration this server's
        (MigrationNotFoundForInstance), a live migration and [running]
        (InvalidMigrationState, 400). Nothing changes state here: the source's monitor
        reports the outcome on the migration.
        """
        row = instance if instance is not None else self.get(ctx, instance_uuid)
        self._check_lock(ctx, row)
        self._check_live_state(row, FORCE_COMPLETE_LABEL,
                               vm_states={states.VmState.ACTIVE})
        migration = self._live_migration_of(ctx, row, migration_id)
        self._check_migration_status(row, migration, {states.MigrationStatus.RUNNING},
                                     "force complete")
        self._record_and_cast(ctx, row, Action.LIVE_MIGRATION_FORCE_COMPLETE,
                              lambda inst: self.compute.live_migration_force_complete(
                                  ctx, migration.source_compute, inst))
        return migration

    def abort_live_migration(self, ctx: RequestContext, instance_uuid: str,
                             migration_id: int | str, allow_queued: bool = False,
                             instance: Any = None) -> Any:
        """DELETE .../migrations/{id} (2.24): ask the source to abort the live
        migration; returns the migration.

        The server must be in task_state migrating and not locked (409, labelled
        "abort live migration" as Nova's). The migration must be this server's live
        migration and [running], or with allow_queued (2.65) also [queued] or
        [preparing] (400 otherwise). The source (which may not have started the
        migration yet) cancels it, rolls back and marks it [cancelled].
        """
        row = instance if instance is not None else self.get(ctx, instance_uuid)
        self._check_lock(ctx, row)
        self._check_live_state(row, ABORT_LABEL, vm_states=None)
        migration = self._live_migration_of(ctx, row, migration_id)
        allowed = set(ABORTABLE_QUEUED if allow_queued else ()) | {
            states.MigrationStatus.RUNNING}
        self._check_migration_status(row, migration, allowed, "abort live migration")
        self._record_and_cast(ctx, row, Action.LIVE_MIGRATION_CANCEL,
                              lambda inst: self.compute.live_migration_abort(
                                  ctx, migration.source_compute, inst, migration.id))
        return migration

    @staticmethod
    def _live_migration_of(ctx: RequestContext, row: Any, migration_id: int | str) -> Any:
        """The server's migration by its integer id, as Nova's URLs name it (a uuid or
        other text is MigrationNotFoundForInstance too)."""
        if not str(migration_id).isdigit():
            raise exception.MigrationNotFoundForInstance(migration_id=migration_id,
                                                         instance_id=row.uuid)
        return db.migration_get_by_id_and_instance(ctx, int(migration_id), row.uuid)

    @staticmethod
    def _check_live_state(row: Any, label: str,
                          vm_states: set[states.VmState] | None) -> None:
        """(vm_state in vm_states, migrating), else Nova's 409 naming what is wrong."""
        if vm_states is not None and row.vm_state not in vm_states:
            raise exception.InstanceInvalidState(action=label, instance_uuid=row.uuid,
                                                 attr="vm_state", state=row.vm_state)
        if row.task_state != states.TaskState.MIGRATING:
            raise exception.InstanceInvalidState(action=label, instance_uuid=row.uuid,
                                                 attr="task_state", state=row.task_state)

    @staticmethod
    def _check_migration_status(row: Any, migration: Any,
                                allowed: set[states.MigrationStatus], method: str) -> None:
        """A live migration in one of `allowed`, else InvalidMigrationState (400). A
        cold migration or resize never is one of them, which is Nova's answer too."""
        if (migration.migration_type != states.MigrationType.LIVE_MIGRATION
                or migration.status not in {status.value for status in allowed}):
            raise exception.InvalidMigrationState(
                migration_id=migration.id, instance_uuid=row.uuid, state=migration.status,
                method=method)

    def _record_and_cast(self, ctx: RequestContext, row: Any, action: Action,
                         send: Callable[[Instance], None]) -> None:
        """Record the action (as Nova does; it shows in os-instance-actions), then
        cast; a cast that cannot be sent closes the action with an error."""
        db.action_start(ctx, row.uuid, action)
        try:
            send(Instance.from_db(row))
        except Exception:
            LOG.exception("Casting %s for instance %s failed", action.value, row.uuid)
            try:
                db.action_finish(ctx, row.uuid, message="Error")
            except exception.NovaliteException:
                LOG.exception("Could not close action %s on %s", action.value, row.uuid)
            raise

    # -- locks ----------------------------------------------------------------------

    @staticmethod
    def is_expected_locked_by(ctx: RequestContext, instance: Any) -> bool:
        """False when the lock was taken by the other side (owner vs administrator), in
        which case unlocking needs the unlock_override policy."""
        expected = LockedBy.OWNER if instance.project_id == ctx.project_id else LockedBy.ADMIN
        return not instance.locked_by or instance.locked_by == expected

    def lock(self, ctx: RequestContext, instance_uuid: str, reason: str | None = None,
             instance: Any = None) -> Any:
        """Lock: only administrators may then act on the server. The owner locking an
        already locked server changes nothing (Nova); an administrator takes it over."""
        row = instance if instance is not None else self.get(ctx, instance_uuid)
        is_owner = row.project_id == ctx.project_id
        if row.locked and is_owner:
            return row
        with db.transaction():
            updated = db.instance_update(ctx, row.uuid, {
                "locked": True, "locked_by": LockedBy.OWNER if is_owner else LockedBy.ADMIN,
                "locked_reason": reason})
            self._record_api_action(ctx, row.uuid, Action.LOCK)
        return updated

    def unlock(self, ctx: RequestContext, instance_uuid: str, instance: Any = None) -> Any:
        """Unlock (the caller's right to, see is_expected_locked_by, is the handler's
        policy check)."""
        row = instance if instance is not None else self.get(ctx, instance_uuid)
        with db.transaction():
            updated = db.instance_update(ctx, row.uuid, {
                "locked": False, "locked_by": None, "locked_reason": None})
            self._record_api_action(ctx, row.uuid, Action.UNLOCK)
        return updated

    # -- delete ---------------------------------------------------------------------

    def delete(self, ctx: RequestContext, instance_uuid: str, instance: Any = None,
               authorize: Authorize | None = None) -> None:
        """Delete from any state (only a lock refuses, 409 unless admin).

        No host yet, or its compute service down: deleted here, allocations released
        (Nova's local delete). Otherwise (…, deleting) and cast terminate_instance; a
        server already being deleted by its host is left to it (the request succeeds).

        A resized server (VERIFY_RESIZE) is confirmed first, as Nova does: its
        [finished] migration goes to [confirming] in the same transaction and
        confirm_resize is cast to the source (which removes the old guest and the
        migration's allocation) before terminate_instance goes to the destination,
        where the instance now lives.
        """
        with db.transaction(writer=False):  # the first attempt's reads: one connection
            row = self._instance(ctx, instance_uuid, instance, authorize)
            self._check_lock(ctx, row)
            to_confirm, host_up = self._delete_facts(ctx, row)
        for _attempt in range(5):
            try:
                if not host_up:
                    self._local_delete(ctx, row, to_confirm)
                    return
                if row.task_state == states.TaskState.DELETING:
                    return
                self._delete_on_host(ctx, row, to_confirm)
                return
            except (exception.UnexpectedTaskStateError,
                    exception.UnexpectedMigrationStatusError):
                # Scheduled to a host, or confirmed/reverted, meanwhile: decide again.
                with db.transaction(writer=False):
                    row = self.get(ctx, row.uuid)
                    to_confirm, host_up = self._delete_facts(ctx, row)
        raise exception.InstanceInvalidState(action="delete", instance_uuid=row.uuid,
                                             attr="task_state", state=row.task_state)

    def _delete_facts(self, ctx: RequestContext, row: Any) -> tuple[Any | None, bool]:
        """What a delete decides on: the migration it confirms first, and whether the
        instance has a host whose compute service is up."""
        to_confirm = self._migration_to_confirm(ctx, row)
        return to_confirm, row.host is not None and self._host_is_up(ctx, row.host)

    def _migration_to_confirm(self, ctx: RequestContext, row: Any) -> Any | None:
        """The [finished] migration a delete confirms first: only for a resized server."""
        if row.vm_state != states.VmState.RESIZED:
            return None
        try:
            return self.finished_migration(ctx, row.uuid)
        except exception.MigrationNotFoundByStatus:
            return None  # confirmed or reverted meanwhile, or being so

    def _delete_on_host(self, ctx: RequestContext, row: Any, to_confirm: Any | None) -> None:
        """(…, deleting) [+ migration confirming], then cast confirm_resize to the
        source (if resized) and terminate_instance to the instance's host."""
        moved: list[Any] = []

        def confirm_first() -> None:
            if to_confirm is not None:
                moved.append(db.migration_update(
                    ctx, to_confirm.id, {"status": states.MigrationStatus.CONFIRMING.value},
                    expected_status=[states.MigrationStatus.FINISHED.value]))

        self._precheck(ctx, row, Action.DELETE, "delete", needs_host=False, check_lock=False)
        updated = self._apply(ctx, row, Action.DELETE, "delete", within=confirm_first)
        previous = row.task_state
        if moved:
            confirming = moved[0]
            if not self._host_is_up(ctx, confirming.source_compute):
                LOG.warning("Deleting resized instance %s: its source host %s is down; the "
                            "confirmation waits for it", row.uuid, confirming.source_compute)
            self._cast(ctx, updated, "delete",
                       lambda inst: self.compute.confirm_resize(
                           ctx, confirming.source_compute, inst,
                           Migration.from_db(confirming)),
                       revert_to=previous,
                       undo=self._undo_migration(ctx, confirming.id,
                                                 states.MigrationStatus.CONFIRMING))
        self._cast(ctx, updated, "delete",
                   lambda inst: self.compute.terminate_instance(ctx, inst),
                   revert_to=previous)

    def _local_delete(self, ctx: RequestContext, row: Any, to_confirm: Any | None = None) -> None:
        """Delete without the compute agent, in one transaction: the action record, every
        allocation of the instance and of its unfinished migrations, the row itself
        (only if its host is still the one the decision was made on).

        A resized server's [finished] migration is marked [confirming] too, and if its
        source host is up confirm_resize is cast there afterwards so that the source
        removes the old guest's files (best effort: the delete is already done).
        """
        states.check("local_delete", row.vm_state, row.task_state)
        in_progress = [status.value for status in states.MIGRATION_IN_PROGRESS]
        confirm = (to_confirm is not None and bool(to_confirm.source_compute)
                   and self._host_is_up(ctx, to_confirm.source_compute))
        with db.transaction():
            db.action_start(ctx, row.uuid, Action.DELETE)
            confirming = None
            if confirm:
                confirming = db.migration_update(
                    ctx, to_confirm.id, {"status": states.MigrationStatus.CONFIRMING.value},
                    expected_status=[states.MigrationStatus.FINISHED.value])
            allocations.release(ctx, row.uuid)
            for migration in db.migration_get_all(ctx, instance_uuid=row.uuid,
                                                  statuses=in_progress):
                allocations.release(ctx, migration.uuid)
            deleted = db.instance_destroy_if_host(ctx, row.uuid, row.host)
            db.action_finish(ctx, row.uuid)
        LOG.info("Deleted instance %s locally (host %s)", row.uuid, row.host or "none")
        if confirming is not None:
            try:
                self.compute.confirm_resize(ctx, confirming.source_compute,
                                            Instance.from_db(deleted),
                                            Migration.from_db(confirming))
            except Exception:  # noqa: BLE001 - the delete itself is done
                LOG.exception("Could not ask %s to clean up after deleted instance %s",
                              confirming.source_compute, row.uuid)

    # -- the shared steps ---------------------------------------------------------------

    @staticmethod
    def _check_lock(ctx: RequestContext, row: Any) -> None:
        if row.locked and not ctx.is_admin:
            raise exception.InstanceIsLocked(instance_uuid=row.uuid)

    @staticmethod
    def _host_is_up(ctx: RequestContext, host: str) -> bool:
        try:
            service = db.service_get_by_host_and_binary(ctx, host, COMPUTE_BINARY)
        except exception.ServiceNotFound:
            return False
        return servicegroup.is_up(service)

    def _check_host_up(self, ctx: RequestContext, row: Any) -> None:
        if not row.host:
            raise exception.InstanceNotReady(instance_id=row.uuid)
        if not self._host_is_up(ctx, row.host):
            raise exception.ServiceUnavailable(host=row.host)

    @staticmethod
    def _invalid_state(label: str, transition: str, row: Any) -> exception.InstanceInvalidState:
        """Nova's 409: names vm_state when that is what is wrong, else task_state."""
        tr = states.transition(transition)
        if row.vm_state not in tr.vm_states:
            attr, state = "vm_state", row.vm_state
        else:
            attr, state = "task_state", row.task_state
        return exception.InstanceInvalidState(action=label, instance_uuid=row.uuid,
                                              attr=attr, state=state)

    def _instance(self, ctx: RequestContext, instance_uuid: str, instance: Any,
                  authorize: Authorize | None) -> Any:
        """Step 1: the instance (unless the caller already read it), which `authorize`
        must then accept."""
        row = instance if instance is not None else self.get(ctx, instance_uuid)
        if authorize is not None:
            authorize(row)
        return row

    def _checked(self, ctx: RequestContext, instance_uuid: str, instance: Any,
                 authorize: Authorize | None, action: Action, transition: str,
                 needs_host: bool, check_lock: bool = True) -> Any:
        """Steps 1 and 2 of the module docstring in one read transaction (their reads
        share one pooled connection); returns the instance."""
        with db.transaction(writer=False):
            row = self._instance(ctx, instance_uuid, instance, authorize)
            self._precheck(ctx, row, action, transition, needs_host, check_lock)
        return row

    def _precheck(self, ctx: RequestContext, row: Any, action: Action, transition: str,
                  needs_host: bool, check_lock: bool = True) -> None:
        """Step 2: refuse before changing anything (lock, host up, states table)."""
        if check_lock:
            self._check_lock(ctx, row)
        if needs_host:
            self._check_host_up(ctx, row)
        if not states.transition(transition).allows(row.vm_state, row.task_state):
            raise self._invalid_state(action.value, transition, row)

    def _apply(self, ctx: RequestContext, row: Any, action: Action, transition: str,
               values: dict[str, Any] | None = None,
               within: Callable[[], None] | None = None) -> Any:
        """Step 3: the guarded transition (with extra column values), `within` (more
        guarded work that must commit with it, or a check that may refuse it) and the
        action record, in one transaction; returns the updated row.

        A guard that fails because another request changed the instance first is the
        state 409 naming where the instance is now; one that fails on something else
        (a migration `within` moves) is raised as it is (a Conflict, 409).
        """
        try:
            with db.transaction():
                updated = db.instance_transition(ctx, row.uuid, transition, values=values)
                if within is not None:
                    within()
                db.action_start(ctx, row.uuid, action)
        except (exception.UnexpectedTaskStateError, exception.InvalidStateTransition,
                exception.UnexpectedMigrationStatusError):
            current = db.instance_get(ctx, row.uuid)
            if states.transition(transition).allows(current.vm_state, current.task_state):
                raise
            raise self._invalid_state(action.value, transition, current) from None
        return updated

    def _cast(self, ctx: RequestContext, updated: Any, transition: str,
              send: Callable[[Instance], None], revert_to: str | None = None,
              undo: Callable[[], None] | None = None) -> None:
        """Step 4: send the cast; if it cannot be sent, undo the task_state (guarded on
        the one just set), run `undo` (e.g. the migration back to [finished]) and close
        the action, in one transaction, then let the error out (a 500)."""
        try:
            send(Instance.from_db(updated))
        except Exception:
            LOG.exception("Casting %s for instance %s failed", transition, updated.uuid)
            _vm, task = states.transition(transition).target
            try:
                with db.transaction():
                    db.instance_update(ctx, updated.uuid, {"task_state": revert_to},
                                       expected_task_state=[task])
                    if undo is not None:
                        undo()
                    db.action_finish(ctx, updated.uuid, message="Error")
            except exception.NovaliteException:
                LOG.exception("Could not undo %s on %s", transition, updated.uuid)
            raise

    @staticmethod
    def _record_api_action(ctx: RequestContext, instance_uuid: str, action: Action) -> None:
        """An action done entirely in the API (lock, unlock): started, one api_<action>
        event, finished, as Nova records them."""
        event = f"api_{action.value}"
        db.action_start(ctx, instance_uuid, action)
        db.action_event_start(ctx, instance_uuid, event)
        db.action_event_finish(ctx, instance_uuid, event, result="Success")
        db.action_finish(ctx, instance_uuid)
