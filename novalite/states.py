"""Every instance and migration state novalite knows, and every legal move between them.

This is the one place that says which (vm_state, task_state) an operation may start
from and where it leaves the instance (the Ironic pattern: one table, asked by the
rest of the code). The API asks it before accepting an action, the conductor and the
compute agents ask it before each step and pass its answer to the guarded UPDATE
(``novalite.db.api.instance_update(..., expected_task_state=...)``), and the restart
reconcilers ask it what to do with an instance found mid-operation.

Vocabulary:

* ``vm_state`` is what the instance *is* (active, stopped, resized, ...);
* ``task_state`` is what is being done to it right now; ``None`` means nothing, so a
  (vm_state, None) pair is *stable* and any other pair is *transitional*;
* a :class:`Transition` is a named step: the set of (vm_state, task_state) pairs it may
  start from and the pair it leads to. ``UNCHANGED`` as target vm_state means "keep the
  vm_state the instance has" (``stop`` from active or error), ``PREVIOUS`` means "the
  vm_state recorded before a resize or cold migration began" (``old_vm_state`` in the
  instance's system_metadata: active or stopped), which is where confirm and revert
  land;
* every transitional task_state has a :class:`Recovery`: what a restarted service does
  with an instance it finds in that task_state, and the stable pair it lands on.

Transition names are lower case with underscores; hyphens are accepted as well
(``"live-migrate"`` is ``"live_migrate"``).
"""

from __future__ import annotations

import collections
import dataclasses
import enum
import itertools
from collections.abc import Iterable, Iterator

from novalite import exception


class _StrEnum(enum.StrEnum):
    """A str enum (str and enum.Enum) whose str() is its value, as stored in the DB."""


class VmState(_StrEnum):
    """What the instance is (Nova's vm_states values)."""

    ACTIVE = "active"
    BUILDING = "building"
    STOPPED = "stopped"
    RESIZED = "resized"
    PAUSED = "paused"
    ERROR = "error"
    DELETED = "deleted"


class TaskState(_StrEnum):
    """What is being done to the instance right now (Nova's task_states values)."""

    SCHEDULING = "scheduling"
    SPAWNING = "spawning"
    POWERING_OFF = "powering-off"
    POWERING_ON = "powering-on"
    REBOOT_PENDING = "reboot_pending"
    REBOOT_PENDING_HARD = "reboot_pending_hard"
    REBOOTING = "rebooting"
    REBOOTING_HARD = "rebooting_hard"
    PAUSING = "pausing"
    UNPAUSING = "unpausing"
    RESIZE_PREP = "resize_prep"
    RESIZE_MIGRATING = "resize_migrating"
    RESIZE_MIGRATED = "resize_migrated"
    RESIZE_FINISH = "resize_finish"
    RESIZE_REVERTING = "resize_reverting"
    RESIZE_CONFIRMING = "resize_confirming"
    MIGRATING = "migrating"
    DELETING = "deleting"


class PowerState(enum.IntEnum):
    """The hypervisor's view of the guest, stored as Nova's integer index."""

    NOSTATE = 0
    RUNNING = 1
    PAUSED = 3
    SHUTDOWN = 4
    CRASHED = 6
    SUSPENDED = 7


class MigrationType(_StrEnum):
    """migrations.migration_type: cold migration, resize, or live migration."""

    MIGRATION = "migration"
    RESIZE = "resize"
    LIVE_MIGRATION = "live-migration"


class MigrationStatus(_StrEnum):
    """migrations.status (a free-form string in Nova; an enum here from the start)."""

    ACCEPTED = "accepted"
    PRE_MIGRATING = "pre-migrating"
    QUEUED = "queued"
    PREPARING = "preparing"
    RUNNING = "running"
    MIGRATING = "migrating"
    POST_MIGRATING = "post-migrating"
    FINISHED = "finished"
    CONFIRMING = "confirming"
    CONFIRMED = "confirmed"
    REVERTING = "reverting"
    REVERTED = "reverted"
    COMPLETED = "completed"
    ERROR = "error"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_final(self) -> bool:
        """A final migration never changes again (and holds no allocation)."""
        return self in MIGRATION_FINAL


MIGRATION_FINAL: frozenset[MigrationStatus] = frozenset({
    MigrationStatus.CONFIRMED, MigrationStatus.REVERTED, MigrationStatus.COMPLETED,
    MigrationStatus.ERROR, MigrationStatus.FAILED, MigrationStatus.CANCELLED,
})
MIGRATION_IN_PROGRESS: frozenset[MigrationStatus] = frozenset(
    set(MigrationStatus) - MIGRATION_FINAL)

# A PowerState's lower-case name is the string form Nova's API uses in notifications.
POWER_STATE_NAMES: dict[PowerState, str] = {
    PowerState.NOSTATE: "pending", PowerState.RUNNING: "running",
    PowerState.PAUSED: "paused", PowerState.SHUTDOWN: "shutdown",
    PowerState.CRASHED: "crashed", PowerState.SUSPENDED: "suspended",
}


# -- the instance transition table ---------------------------------------------------

class _Keep(enum.Enum):
    """Target vm_state placeholders: resolved against the instance when applied."""

    UNCHANGED = "unchanged"  # keep the instance's current vm_state
    PREVIOUS = "previous"  # the vm_state recorded before the move (old_vm_state)

    def __repr__(self) -> str:
        return self.name


UNCHANGED = _Keep.UNCHANGED
PREVIOUS = _Keep.PREVIOUS

# vm_states a resize / cold migration may start from, hence what PREVIOUS can be.
MOVE_SOURCE_VM_STATES: frozenset[VmState] = frozenset({VmState.ACTIVE, VmState.STOPPED})

# The pseudo-state of an instance that has no row yet; only "create" starts from it.
INITIAL: tuple[None, None] = (None, None)

# Stable = no task in progress. BUILDING is never stable: a build always has a task.
STABLE_VM_STATES: frozenset[VmState] = frozenset(set(VmState) - {VmState.BUILDING})
LIVE_VM_STATES: frozenset[VmState] = frozenset(set(VmState) - {VmState.DELETED})


@dataclasses.dataclass(frozen=True)
class Transition:
    """A named step: the (vm_state, task_state) pairs it may start from and its target.

    Sources are always a full product vm_states x task_states, so the guarded UPDATE
    ``vm_state IN expected_vm_states() AND task_state IN expected_task_states()`` checks
    exactly the declared sources.
    """

    name: str
    vm_states: frozenset[VmState | None]
    task_states: frozenset[TaskState | None]
    target_vm_state: VmState | _Keep
    target_task_state: TaskState | None
    doc: str = ""

    @property
    def sources(self) -> frozenset[tuple[VmState | None, TaskState | None]]:
        """Every (vm_state, task_state) pair this transition may start from."""
        return frozenset(itertools.product(self.vm_states, self.task_states))

    @property
    def target(self) -> tuple[VmState | _Keep, TaskState | None]:
        """(vm_state or UNCHANGED/PREVIOUS, task_state) this transition leads to."""
        return (self.target_vm_state, self.target_task_state)

    def expected_task_states(self) -> list[str | None]:
        """The task_states for the guarded UPDATE (None means task_state IS NULL)."""
        return _sorted_values(self.task_states)

    def expected_vm_states(self) -> list[str]:
        """The vm_states for the guarded UPDATE."""
        return [v for v in _sorted_values(self.vm_states) if v is not None]

    def allows(self, vm_state: str | None, task_state: str | None) -> bool:
        """Whether this transition may start from (vm_state, task_state)."""
        try:
            pair = (_vm(vm_state), _task(task_state))
        except ValueError:
            return False
        return pair[0] in self.vm_states and pair[1] in self.task_states

    def resolve(self, vm_state: str | None,
                previous_vm_state: str | None = None) -> tuple[VmState, TaskState | None]:
        """The concrete target pair for an instance currently in vm_state.

        PREVIOUS needs previous_vm_state (the instance's old_vm_state); it defaults to
        active, as Nova does when old_vm_state is missing.
        """
        target = self.target_vm_state
        if target is UNCHANGED:
            current = _vm(vm_state)
            if current is None:
                raise ValueError(f"{self.name}: an instance without vm_state has no "
                                 f"vm_state to keep")
            return current, self.target_task_state
        if target is PREVIOUS:
            previous = _vm(previous_vm_state) or VmState.ACTIVE
            if previous not in MOVE_SOURCE_VM_STATES:
                raise ValueError(f"{self.name}: previous vm_state {previous} is not one of "
                                 f"{sorted(v.value for v in MOVE_SOURCE_VM_STATES)}")
            return previous, self.target_task_state
        assert isinstance(target, VmState)
        return target, self.target_task_state

    def values(self, vm_state: str | None,
               previous_vm_state: str | None = None) -> dict[str, str | None]:
        """{"vm_state": ..., "task_state": ...} to write, as plain strings."""
        vm, task = self.resolve(vm_state, previous_vm_state)
        return {"vm_state": vm.value, "task_state": task.value if task else None}

    def possible_targets(self, vm_state: VmState | None) -> set[tuple[VmState, TaskState | None]]:
        """Every pair this transition can lead to from vm_state (PREVIOUS expanded)."""
        if self.target_vm_state is UNCHANGED:
            return {(vm_state, self.target_task_state)} if vm_state is not None else set()
        if self.target_vm_state is PREVIOUS:
            return {(v, self.target_task_state) for v in MOVE_SOURCE_VM_STATES}
        assert isinstance(self.target_vm_state, VmState)
        return {(self.target_vm_state, self.target_task_state)}


def _sorted_values(items: Iterable[enum.Enum | None]) -> list:
    values = [i.value if i is not None else None for i in items]
    return sorted(values, key=lambda v: (v is None, "" if v is None else str(v)))


def _vm(value: str | VmState | None) -> VmState | None:
    return None if value is None else VmState(value)


def _task(value: str | TaskState | None) -> TaskState | None:
    return None if value is None else TaskState(value)


def _t(name: str, vm_states: Iterable[VmState | None], task_states: Iterable[TaskState | None],
       target_vm: VmState | _Keep, target_task: TaskState | None, doc: str) -> Transition:
    return Transition(name, frozenset(vm_states), frozenset(task_states), target_vm,
                      target_task, doc)


V, T = VmState, TaskState
_MOVE = MOVE_SOURCE_VM_STATES
_RESIZE_STEPS = (T.RESIZE_PREP, T.RESIZE_MIGRATING, T.RESIZE_MIGRATED, T.RESIZE_FINISH)
_REBOOT_TASKS = (T.REBOOT_PENDING, T.REBOOTING, T.REBOOT_PENDING_HARD, T.REBOOTING_HARD)
_HARD_REBOOT_FROM = (V.ACTIVE, V.STOPPED, V.PAUSED, V.ERROR)
_ALL_TASKS: tuple[TaskState | None, ...] = (None, *TaskState)

_TRANSITIONS: tuple[Transition, ...] = (
    # -- create (DESIGN §4 "Create / delete") --------------------------------------------
    _t("create", [None], [None], V.BUILDING, T.SCHEDULING,
       "API: the instance row is inserted; the conductor schedules it."),
    _t("spawn", [V.BUILDING], [T.SCHEDULING], V.BUILDING, T.SPAWNING,
       "Compute build_and_run_instance: the chosen host starts the guest."),
    _t("spawned", [V.BUILDING], [T.SPAWNING], V.ACTIVE, None,
       "Compute: the driver's spawn returned; power RUNNING."),
    _t("reschedule", [V.BUILDING], [T.SPAWNING], V.BUILDING, T.SCHEDULING,
       "Compute: spawn failed on this host; claim released, conductor tries an alternate."),
    _t("build_failed", [V.BUILDING], [T.SCHEDULING, T.SPAWNING], V.ERROR, None,
       "No valid host, alternates exhausted or build aborted: ERROR with a fault."),
    # -- start / stop ------------------------------------------------------------------
    _t("start", [V.STOPPED], [None], UNCHANGED, T.POWERING_ON,
       "API os-start; cast start_instance."),
    _t("powered_on", [V.STOPPED], [T.POWERING_ON], V.ACTIVE, None,
       "Compute: the driver powered the guest on."),
    _t("start_failed", [V.STOPPED], [T.POWERING_ON], UNCHANGED, None,
       "Compute: power on failed; task reverted, fault recorded, vm_state kept."),
    _t("stop", [V.ACTIVE, V.ERROR], [None], UNCHANGED, T.POWERING_OFF,
       "API os-stop; cast stop_instance."),
    _t("powered_off", [V.ACTIVE, V.ERROR], [T.POWERING_OFF], V.STOPPED, None,
       "Compute: the driver powered the guest off; power SHUTDOWN."),
    _t("stop_failed", [V.ACTIVE, V.ERROR], [T.POWERING_OFF], UNCHANGED, None,
       "Compute: power off failed; task reverted, fault recorded, vm_state kept."),
    # -- reboot ------------------------------------------------------------------------
    _t("reboot", [V.ACTIVE], [None], UNCHANGED, T.REBOOT_PENDING,
       "API reboot SOFT."),
    _t("reboot_hard", _HARD_REBOOT_FROM, [None, T.REBOOT_PENDING, T.REBOOTING], UNCHANGED,
       T.REBOOT_PENDING_HARD,
       "API reboot HARD: also from stopped/paused/error, and over a soft reboot in progress."),
    _t("rebooting", [V.ACTIVE], [T.REBOOT_PENDING], UNCHANGED, T.REBOOTING,
       "Compute: the soft reboot started."),
    _t("rebooting_hard", _HARD_REBOOT_FROM, [T.REBOOT_PENDING_HARD], UNCHANGED,
       T.REBOOTING_HARD, "Compute: the hard reboot started."),
    _t("rebooted", _HARD_REBOOT_FROM, _REBOOT_TASKS, V.ACTIVE, None,
       "Compute: the guest runs again."),
    _t("reboot_failed", _HARD_REBOOT_FROM, _REBOOT_TASKS, UNCHANGED, None,
       "Compute: reboot failed; task reverted, fault recorded, vm_state kept."),
    # -- pause / unpause (the only way into PAUSED, which live migration accepts) --------
    _t("pause", [V.ACTIVE], [None], UNCHANGED, T.PAUSING, "API pause."),
    _t("paused", [V.ACTIVE], [T.PAUSING], V.PAUSED, None, "Compute: guest paused."),
    _t("pause_failed", [V.ACTIVE], [T.PAUSING], UNCHANGED, None,
       "Compute: pause failed; task reverted."),
    _t("unpause", [V.PAUSED], [None], UNCHANGED, T.UNPAUSING, "API unpause."),
    _t("unpaused", [V.PAUSED], [T.UNPAUSING], V.ACTIVE, None, "Compute: guest running."),
    _t("unpause_failed", [V.PAUSED], [T.UNPAUSING], UNCHANGED, None,
       "Compute: unpause failed; task reverted."),
    # -- resize and cold migration (DESIGN §4 steps 1-4) ----------------------------------
    _t("resize", _MOVE, [None], UNCHANGED, T.RESIZE_PREP,
       "API resize; conductor migrate_server, dest prep_resize."),
    _t("migrate", _MOVE, [None], UNCHANGED, T.RESIZE_PREP,
       "API migrate (cold); same path as resize with the same flavor."),
    _t("resize_migrating", _MOVE, [T.RESIZE_PREP], UNCHANGED, T.RESIZE_MIGRATING,
       "Source resize_instance: power off and copy disks [migrating]."),
    _t("resize_migrated", _MOVE, [T.RESIZE_MIGRATING], UNCHANGED, T.RESIZE_MIGRATED,
       "Source: disks copied, host=dest [post-migrating]; cast finish_resize."),
    _t("resize_finish", _MOVE, [T.RESIZE_MIGRATED], UNCHANGED, T.RESIZE_FINISH,
       "Dest finish_resize: apply the new flavor, define and power on."),
    _t("finished", _MOVE, [T.RESIZE_FINISH], V.RESIZED, None,
       "Dest: guest defined on dest [finished]; API status VERIFY_RESIZE."),
    _t("resize_rollback", _MOVE, [T.RESIZE_PREP, T.RESIZE_MIGRATING, T.RESIZE_MIGRATED],
       UNCHANGED, None,
       "No host / prep or copy failed / restart recovery: guest back on the source, "
       "host=source, allocation back to the instance, migration [error], fault."),
    _t("resize_failed", _MOVE, _RESIZE_STEPS, V.ERROR, None,
       "Unrecoverable failure during the move: ERROR, migration [error], fault."),
    # -- confirm / revert (DESIGN §4 steps 5-7) -----------------------------------------
    _t("confirm", [V.RESIZED], [None], UNCHANGED, T.RESIZE_CONFIRMING,
       "API confirmResize, auto-confirm, or delete of a resized server [confirming]."),
    _t("confirmed", [V.RESIZED], [T.RESIZE_CONFIRMING], PREVIOUS, None,
       "Source confirm_resize: old guest removed [confirmed]; active or stopped as before."),
    _t("confirm_failed", [V.RESIZED], [T.RESIZE_CONFIRMING], V.ERROR, None,
       "Source: confirm failed; ERROR, fault (a hard reboot recovers it)."),
    _t("revert", [V.RESIZED], [None], UNCHANGED, T.RESIZE_REVERTING,
       "API revertResize [reverting]; dest revert_resize, source finish_revert_resize."),
    _t("reverted", [V.RESIZED], [T.RESIZE_REVERTING], PREVIOUS, None,
       "Source finish_revert_resize: old flavor, host=source, guest back as before."),
    _t("revert_failed", [V.RESIZED], [T.RESIZE_REVERTING], V.ERROR, None,
       "Revert failed; ERROR, migration [error], fault."),
    # -- live migration -----------------------------------------------------------------
    _t("live_migrate", [V.ACTIVE, V.PAUSED], [None], UNCHANGED, T.MIGRATING,
       "API os-migrateLive [accepted]."),
    _t("live_migrated", [V.ACTIVE, V.PAUSED], [T.MIGRATING], UNCHANGED, None,
       "Dest post_live_migration_at_destination: host=dest [completed]."),
    _t("live_migrate_rollback", [V.ACTIVE, V.PAUSED], [T.MIGRATING], UNCHANGED, None,
       "Pre-check failure, abort or failed job: guest stays on the source "
       "[error|failed|cancelled], allocation back, fault."),
    _t("live_migrate_failed", [V.ACTIVE, V.PAUSED], [T.MIGRATING], V.ERROR, None,
       "Unexpected failure where the guest's location is unknown: ERROR, fault."),
    # -- delete -------------------------------------------------------------------------
    _t("delete", LIVE_VM_STATES, _ALL_TASKS, UNCHANGED, T.DELETING,
       "API delete (any state; only the lock is checked); cast terminate_instance."),
    _t("deleted", LIVE_VM_STATES, [T.DELETING], V.DELETED, None,
       "Compute terminate_instance: guest destroyed, allocations dropped, row deleted."),
    _t("delete_failed", LIVE_VM_STATES, [T.DELETING], V.ERROR, None,
       "Compute: terminate failed; ERROR, fault (delete may be retried)."),
    _t("local_delete", LIVE_VM_STATES, _ALL_TASKS, V.DELETED, None,
       "API: no host, or its compute service is down: delete without the compute agent."),
)
del V, T

TRANSITIONS: dict[str, Transition] = {t.name: t for t in _TRANSITIONS}
assert len(TRANSITIONS) == len(_TRANSITIONS), "duplicate transition name"


def _normalise(name: str) -> str:
    return name.strip().lower().replace("-", "_")


def transition(name: str) -> Transition:
    """The transition called name (hyphens or underscores); KeyError names the valid ones."""
    try:
        return TRANSITIONS[_normalise(name)]
    except KeyError:
        raise KeyError(f"unknown instance transition {name!r}; known: "
                       f"{', '.join(sorted(TRANSITIONS))}") from None


def _fmt_pair(vm_state: object, task_state: object) -> str:
    return f"vm_state={vm_state or None}, task_state={task_state or None}"


def check(name: str, vm_state: str | None, task_state: str | None,
          previous_vm_state: str | None = None) -> tuple[VmState, TaskState | None]:
    """The target of transition name from (vm_state, task_state), or
    InvalidStateTransition (a 409 at the API) when the table does not allow it."""
    tr = transition(name)
    if not tr.allows(vm_state, task_state):
        allowed = ", ".join(sorted(f"{v}/{t}" for v, t in tr.sources))
        message = (f"Instance cannot {tr.name.replace('_', '-')} while in "
                   f"{_fmt_pair(vm_state, task_state)} (allowed from: {allowed}).")
        raise exception.InvalidStateTransition(
            message, kind="Instance", source=_fmt_pair(vm_state, task_state), target=tr.name)
    return tr.resolve(vm_state, previous_vm_state)


def allowed_transitions(vm_state: str | None, task_state: str | None) -> list[str]:
    """Names of every transition that may start from (vm_state, task_state)."""
    return sorted(name for name, tr in TRANSITIONS.items() if tr.allows(vm_state, task_state))


def is_stable(vm_state: str | None, task_state: str | None) -> bool:
    """No operation in progress: task_state None and a vm_state that can rest."""
    return task_state is None and vm_state is not None and VmState(vm_state) in STABLE_VM_STATES


def reachable_pairs() -> set[tuple[VmState | None, TaskState | None]]:
    """Every (vm_state, task_state) pair the table can reach from INITIAL (via create)."""
    seen: set[tuple[VmState | None, TaskState | None]] = {INITIAL}
    queue: collections.deque = collections.deque([INITIAL])
    while queue:
        vm_state, task_state = queue.popleft()
        for tr in TRANSITIONS.values():
            if vm_state in tr.vm_states and task_state in tr.task_states:
                for pair in tr.possible_targets(vm_state):
                    if pair not in seen:
                        seen.add(pair)
                        queue.append(pair)
    return seen


def iter_edges() -> Iterator[tuple[tuple, str, tuple]]:
    """(source pair, transition name, target pair) for every reachable edge (for diagrams)."""
    for vm_state, task_state in sorted(reachable_pairs(), key=str):
        for tr in TRANSITIONS.values():
            if vm_state in tr.vm_states and task_state in tr.task_states:
                for target in sorted(tr.possible_targets(vm_state), key=str):
                    yield (vm_state, task_state), tr.name, target


# -- restart recovery ------------------------------------------------------------------

class RecoveryAction(_StrEnum):
    RESUME = "resume"  # redo the interrupted step (it is idempotent) and carry on
    ROLLBACK = "rollback"  # undo the operation back to the last stable state


@dataclasses.dataclass(frozen=True)
class Recovery:
    """What a restarted service does with an instance found in task_state.

    ``via`` is the chain of transitions it applies, in order, from the state it found;
    the last one lands on a stable (vm_state, None).
    """

    task_state: TaskState
    action: RecoveryAction
    via: tuple[str, ...]
    doc: str

    @property
    def transition(self) -> Transition:
        """The transition that lands on the stable state."""
        return TRANSITIONS[self.via[-1]]

    def lands_on(self, vm_state: str | None,
                 previous_vm_state: str | None = None) -> tuple[VmState, None]:
        """The stable pair an instance in (vm_state, task_state) ends on."""
        current: VmState | None = _vm(vm_state)
        task: TaskState | None = self.task_state
        for name in self.via:
            current, task = check(name, current, task, previous_vm_state)
        assert task is None, f"recovery of {self.task_state} does not end stable"
        assert current is not None
        return current, None


def _r(task_state: TaskState, action: RecoveryAction, via: tuple[str, ...] | str,
       doc: str) -> Recovery:
    return Recovery(task_state, action, (via,) if isinstance(via, str) else via, doc)


_RESUME, _ROLLBACK = RecoveryAction.RESUME, RecoveryAction.ROLLBACK
T = TaskState
RECOVERIES: dict[TaskState, Recovery] = {r.task_state: r for r in (
    _r(T.SCHEDULING, _ROLLBACK, "build_failed",
       "Conductor: the build was interrupted before a host took it; drop any claim, "
       "ERROR with a fault naming the interruption."),
    _r(T.SPAWNING, _ROLLBACK, "build_failed",
       "Compute: a half-built guest cannot be trusted; destroy it, drop the claim, "
       "ERROR with a fault (as Nova does)."),
    _r(T.POWERING_OFF, _RESUME, "powered_off",
       "Compute: power off again (idempotent), then stopped."),
    _r(T.POWERING_ON, _RESUME, "powered_on",
       "Compute: power on again (idempotent), then active."),
    _r(T.REBOOT_PENDING, _RESUME, "rebooted",
       "Compute: the user asked for a reboot; do it (hard, to be safe), then active."),
    _r(T.REBOOTING, _RESUME, "rebooted",
       "Compute: the reboot may have half happened; hard reboot, then active."),
    _r(T.REBOOT_PENDING_HARD, _RESUME, "rebooted", "Compute: hard reboot, then active."),
    _r(T.REBOOTING_HARD, _RESUME, "rebooted", "Compute: hard reboot again, then active."),
    _r(T.PAUSING, _RESUME, "paused", "Compute: pause the guest (idempotent), then paused."),
    _r(T.UNPAUSING, _RESUME, "unpaused",
       "Compute: unpause the guest (idempotent), then active."),
    _r(T.RESIZE_PREP, _ROLLBACK, "resize_rollback",
       "Conductor/dest: nothing moved yet; drop the destination claim, allocation back "
       "to the instance, migration [error], original vm_state."),
    _r(T.RESIZE_MIGRATING, _ROLLBACK, "resize_rollback",
       "Source: the disk copy was interrupted; move <dir>_resize back, power on unless "
       "it was stopped, clean the destination, allocation back, migration [error]."),
    _r(T.RESIZE_MIGRATED, _RESUME, ("resize_finish", "finished"),
       "Conductor/dest: the disks are on the destination; cast finish_resize again "
       "(Nova leaves this stuck). If the destination is gone, roll back instead "
       "(resize_rollback: host=source, the source still has <dir>_resize)."),
    _r(T.RESIZE_FINISH, _RESUME, "finished",
       "Dest: finish_migration again (define + power on are idempotent) [finished]."),
    _r(T.RESIZE_REVERTING, _RESUME, "reverted",
       "Dest then source: destroy the dest guest if still there, finish_revert_resize "
       "on the source, allocation back [reverted] (Nova leaves this stuck)."),
    _r(T.RESIZE_CONFIRMING, _RESUME, "confirmed",
       "Source: confirm_migration again (removing <dir>_resize is idempotent), drop "
       "the migration allocation [confirmed]."),
    _r(T.MIGRATING, _ROLLBACK, "live_migrate_rollback",
       "Source: abort the job, clean the destination, allocation back, migration "
       "[error]. If the guest is found running on the destination only, the "
       "post-migration is completed instead (live_migrated)."),
    _r(T.DELETING, _RESUME, "deleted",
       "Compute: finish the deletion (destroy is idempotent), drop allocations."),
)}
del T


def recovery_for(task_state: str | TaskState) -> Recovery:
    """The declared restart recovery of a transitional task_state."""
    return RECOVERIES[TaskState(task_state)]


# -- migration statuses ----------------------------------------------------------------

S = MigrationStatus
MIGRATION_TRANSITIONS: dict[MigrationStatus, frozenset[MigrationStatus]] = {
    # cold migration / resize
    S.PRE_MIGRATING: frozenset({S.MIGRATING, S.ERROR}),
    S.MIGRATING: frozenset({S.POST_MIGRATING, S.ERROR}),
    S.POST_MIGRATING: frozenset({S.FINISHED, S.ERROR}),
    S.FINISHED: frozenset({S.CONFIRMING, S.REVERTING, S.ERROR}),
    S.CONFIRMING: frozenset({S.CONFIRMED, S.ERROR}),
    S.REVERTING: frozenset({S.REVERTED, S.ERROR}),
    # live migration
    S.ACCEPTED: frozenset({S.QUEUED, S.ERROR, S.FAILED, S.CANCELLED}),
    S.QUEUED: frozenset({S.PREPARING, S.ERROR, S.FAILED, S.CANCELLED}),
    S.PREPARING: frozenset({S.RUNNING, S.ERROR, S.FAILED, S.CANCELLED}),
    S.RUNNING: frozenset({S.COMPLETED, S.ERROR, S.FAILED, S.CANCELLED}),
    # final
    **{s: frozenset() for s in MIGRATION_FINAL},
}
del S

MIGRATION_INITIAL: dict[MigrationType, MigrationStatus] = {
    MigrationType.MIGRATION: MigrationStatus.PRE_MIGRATING,
    MigrationType.RESIZE: MigrationStatus.PRE_MIGRATING,
    MigrationType.LIVE_MIGRATION: MigrationStatus.ACCEPTED,
}


def migration_initial_status(migration_type: str | MigrationType) -> MigrationStatus:
    """The status a new migration record of that type starts in."""
    return MIGRATION_INITIAL[MigrationType(migration_type)]


def migration_can_move(src: str | MigrationStatus, dst: str | MigrationStatus) -> bool:
    """Whether a migration may go from status src to status dst."""
    try:
        return MigrationStatus(dst) in MIGRATION_TRANSITIONS[MigrationStatus(src)]
    except ValueError:
        return False


def migration_sources(dst: str | MigrationStatus) -> list[str]:
    """Statuses from which dst may be reached: the expected_status of a guarded update."""
    target = MigrationStatus(dst)
    return sorted(s.value for s, nxt in MIGRATION_TRANSITIONS.items() if target in nxt)


def check_migration_transition(src: str | MigrationStatus,
                               dst: str | MigrationStatus) -> MigrationStatus:
    """MigrationStatus(dst), or InvalidStateTransition if src may not move to it."""
    if not migration_can_move(src, dst):
        raise exception.InvalidStateTransition(kind="Migration", source=str(src),
                                               target=str(dst))
    return MigrationStatus(dst)


# -- API status ------------------------------------------------------------------------

_RESIZE_TASKS = {t: "RESIZE" for t in _RESIZE_STEPS}
_API_STATUS: dict[VmState, tuple[str, dict[TaskState, str]]] = {
    VmState.ACTIVE: ("ACTIVE", {
        TaskState.REBOOT_PENDING: "REBOOT", TaskState.REBOOTING: "REBOOT",
        TaskState.REBOOT_PENDING_HARD: "HARD_REBOOT", TaskState.REBOOTING_HARD: "HARD_REBOOT",
        TaskState.MIGRATING: "MIGRATING", **_RESIZE_TASKS,
    }),
    VmState.BUILDING: ("BUILD", {}),
    VmState.STOPPED: ("SHUTOFF", dict(_RESIZE_TASKS)),
    VmState.RESIZED: ("VERIFY_RESIZE", {TaskState.RESIZE_REVERTING: "REVERT_RESIZE"}),
    VmState.PAUSED: ("PAUSED", {TaskState.MIGRATING: "MIGRATING"}),
    VmState.ERROR: ("ERROR", {}),
    VmState.DELETED: ("DELETED", {}),
}


def api_status(vm_state: str | None, task_state: str | None = None) -> str:
    """The server `status` the compute API shows for (vm_state, task_state).

    Each vm_state has a default status; a few task_states override it (ACTIVE while
    migrating is MIGRATING, active or stopped during a resize step is RESIZE, resized
    while reverting is REVERT_RESIZE, ...). Unknown vm_states are UNKNOWN, as in Nova.
    """
    try:
        default, by_task = _API_STATUS[VmState(vm_state)]
    except ValueError:
        return "UNKNOWN"
    if task_state is None:
        return default
    try:
        return by_task.get(TaskState(task_state), default)
    except ValueError:
        return default
