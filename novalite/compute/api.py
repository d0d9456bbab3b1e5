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

Delete is the exception to step 4: a server that never reached a host, or whose host's
compute service is down, is deleted here in the API ("local delete"), allocations
included.
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
from novalite.objects.request_spec import RequestSpec

LOG = logging.getLogger(__name__)

COMPUTE_BINARY = "novalite-compute"
# Nova's [DEFAULT] multi_instance_display_name_template.
MULTI_INSTANCE_NAME_TEMPLATE = "%(name)s-%(count)d"
GIB = 1024 ** 3
_RESERVATION_CHARS = string.ascii_lowercase + string.digits
_PASSWORD_CHARS = "".join(c for c in string.ascii_letters + string.digits if c not in "0O1lI")


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
        self._check_metadata_quota(ctx, metadata)
        flavor = self._flavor(ctx, flavor_ref)
        image = image_api.get(ctx, str(image_ref))
        self._check_image(image, flavor, allow_zero_disk)
        snapshot = flavor_db.flavor_snapshot(flavor)
        vm_state, task_state = states.check("create", None, None)
        reservation_id = "r-" + "".join(secrets.choice(_RESERVATION_CHARS) for _ in range(8))
        rows: list[Any] = []
        with db.transaction():
            count = self._instances_allowed(ctx, flavor, min_count, max_count)
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
    def _check_metadata_quota(ctx: RequestContext, metadata: dict) -> None:
        allowed = quota.limits_for(ctx, ctx.project_id).get("metadata_items", quota.UNLIMITED)
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

    def start(self, ctx: RequestContext, instance_uuid: str, instance: Any = None) -> Any:
        """os-start: (stopped, None) → (stopped, powering-on), cast start_instance."""
        row = instance if instance is not None else self.get(ctx, instance_uuid)
        updated = self._change(ctx, row, Action.START, "start", needs_host=True)
        self._cast(ctx, updated, "start", lambda inst: self.compute.start_instance(ctx, inst))
        return updated

    def stop(self, ctx: RequestContext, instance_uuid: str, clean_shutdown: bool = True,
             instance: Any = None) -> Any:
        """os-stop: (active|error, None) → (…, powering-off), cast stop_instance."""
        row = instance if instance is not None else self.get(ctx, instance_uuid)
        updated = self._change(ctx, row, Action.STOP, "stop", needs_host=True)
        self._cast(ctx, updated, "stop",
                   lambda inst: self.compute.stop_instance(ctx, inst,
                                                           clean_shutdown=clean_shutdown))
        return updated

    def reboot(self, ctx: RequestContext, instance_uuid: str, reboot_type: str | RebootType,
               instance: Any = None) -> Any:
        """reboot SOFT (from active) or HARD (also from stopped, paused, error and over a
        soft reboot in progress, as the states table says), cast reboot_instance."""
        kind = RebootType(str(reboot_type).upper())
        row = instance if instance is not None else self.get(ctx, instance_uuid)
        transition = "reboot_hard" if kind is RebootType.HARD else "reboot"
        updated = self._change(ctx, row, Action.REBOOT, transition, needs_host=True)
        self._cast(ctx, updated, transition,
                   lambda inst: self.compute.reboot_instance(ctx, inst, kind.value))
        return updated

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

    def delete(self, ctx: RequestContext, instance_uuid: str, instance: Any = None) -> None:
        """Delete from any state (only a lock refuses, 409 unless admin).

        No host yet, or its compute service down: deleted here, allocations released
        (Nova's local delete). Otherwise (…, deleting) and cast terminate_instance; a
        server already being deleted by its host is left to it (the request succeeds).
        """
        row = instance if instance is not None else self.get(ctx, instance_uuid)
        self._check_lock(ctx, row)
        for _attempt in range(5):
            if row.host is None or not self._host_is_up(ctx, row.host):
                try:
                    self._local_delete(ctx, row)
                    return
                except exception.UnexpectedTaskStateError:
                    # Scheduled to a host meanwhile: decide again with the new host.
                    row = self.get(ctx, row.uuid)
                    continue
            if row.task_state == states.TaskState.DELETING:
                return
            # TODO(resize): a resized server is to be confirmed first (DESIGN §4) once
            # confirmResize exists.
            updated = self._change(ctx, row, Action.DELETE, "delete", needs_host=False,
                                   check_lock=False)
            previous = row.task_state
            self._cast(ctx, updated, "delete",
                       lambda inst: self.compute.terminate_instance(ctx, inst),
                       revert_to=previous)
            return
        raise exception.InstanceInvalidState(action="delete", instance_uuid=row.uuid,
                                             attr="task_state", state=row.task_state)

    def _local_delete(self, ctx: RequestContext, row: Any) -> None:
        """Delete without the compute agent, in one transaction: the action record, every
        allocation of the instance and of its unfinished migrations, the row itself
        (only if its host is still the one the decision was made on)."""
        states.check("local_delete", row.vm_state, row.task_state)
        in_progress = [status.value for status in states.MIGRATION_IN_PROGRESS]
        with db.transaction():
            db.action_start(ctx, row.uuid, Action.DELETE)
            allocations.release(ctx, row.uuid)
            for migration in db.migration_get_all(ctx, instance_uuid=row.uuid,
                                                  statuses=in_progress):
                allocations.release(ctx, migration.uuid)
            db.instance_destroy_if_host(ctx, row.uuid, row.host)
            db.action_finish(ctx, row.uuid)
        LOG.info("Deleted instance %s locally (host %s)", row.uuid, row.host or "none")

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

    def _change(self, ctx: RequestContext, row: Any, action: Action, transition: str,
                needs_host: bool, check_lock: bool = True) -> Any:
        """Steps 2 and 3 of the module docstring; returns the updated row."""
        if check_lock:
            self._check_lock(ctx, row)
        if needs_host:
            self._check_host_up(ctx, row)
        if not states.transition(transition).allows(row.vm_state, row.task_state):
            raise self._invalid_state(action.value, transition, row)
        try:
            with db.transaction():
                updated = db.instance_transition(ctx, row.uuid, transition)
                db.action_start(ctx, row.uuid, action)
        except (exception.UnexpectedTaskStateError, exception.InvalidStateTransition):
            # Another request changed the instance first; report where it is now.
            current = db.instance_get(ctx, row.uuid)
            raise self._invalid_state(action.value, transition, current) from None
        return updated

    def _cast(self, ctx: RequestContext, updated: Any, transition: str,
              send: Callable[[Instance], None], revert_to: str | None = None) -> None:
        """Step 4: send the cast; if it cannot be sent, undo the task_state (guarded on
        the one just set) and close the action, then let the error out (a 500)."""
        try:
            send(Instance.from_db(updated))
        except Exception:
            LOG.exception("Casting %s for instance %s failed", transition, updated.uuid)
            _vm, task = states.transition(transition).target
            try:
                with db.transaction():
                    db.instance_update(ctx, updated.uuid, {"task_state": revert_to},
                                       expected_task_state=[task])
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
