"""The states table: everything reachable, every transitional state recoverable,
the API status mapping, and refusals."""

from __future__ import annotations

import collections

import pytest

from novalite import exception, states
from novalite.states import MigrationStatus as MS
from novalite.states import TaskState as T
from novalite.states import VmState as V


def test_every_vm_state_and_task_state_is_reachable_from_create():
    reachable = states.reachable_pairs()
    assert {vm for vm, _ in reachable if vm is not None} == set(V)
    assert {task for _, task in reachable if task is not None} == set(T)


def test_every_transition_is_used_from_some_reachable_state():
    reachable = states.reachable_pairs()
    for name, tr in states.TRANSITIONS.items():
        assert tr.sources & reachable, f"{name} can never fire"


def test_every_transitional_task_state_declares_a_recovery_landing_stable():
    reachable = states.reachable_pairs()
    assert set(states.RECOVERIES) == set(T)
    for vm_state, task_state in reachable:
        if task_state is None:
            continue
        recovery = states.recovery_for(task_state)
        assert recovery.action in (states.RecoveryAction.RESUME,
                                   states.RecoveryAction.ROLLBACK)
        for previous in states.MOVE_SOURCE_VM_STATES:
            landed = recovery.lands_on(vm_state, previous)
            assert states.is_stable(*landed), (vm_state, task_state, landed)


def test_every_reachable_state_can_reach_a_stable_state():
    reachable = states.reachable_pairs()
    edges = collections.defaultdict(set)
    for source, _, target in states.iter_edges():
        edges[source].add(target)
    for pair in reachable - {states.INITIAL}:
        seen, todo = {pair}, [pair]
        while todo:
            current = todo.pop()
            for nxt in edges[current] - seen:
                seen.add(nxt)
                todo.append(nxt)
        assert any(states.is_stable(*p) for p in seen), pair


def test_stable_states_are_exactly_the_task_none_pairs():
    for vm_state, task_state in states.reachable_pairs() - {states.INITIAL}:
        assert states.is_stable(vm_state, task_state) == (task_state is None)


def test_guarded_update_expectations_match_the_declared_sources():
    """vm_state IN expected_vm_states() AND task_state IN expected_task_states() (the
    guarded UPDATE) accepts exactly the pairs the table allows."""
    pairs = {(v, t) for v in V for t in (None, *T)}
    for tr in states.TRANSITIONS.values():
        for vm_state, task_state in pairs:
            guard = (vm_state.value in tr.expected_vm_states()
                     and (task_state.value if task_state else None)
                     in tr.expected_task_states())
            assert guard == tr.allows(vm_state, task_state), (tr.name, vm_state, task_state)


def test_flows_of_the_design():
    """The happy paths of DESIGN §4, step by step through the table."""
    flows = {
        "boot": [(None, None), "create", "spawn", "spawned"],
        "stop-start": [(V.ACTIVE, None), "stop", "powered_off", "start", "powered_on"],
        "reboot": [(V.ACTIVE, None), "reboot", "rebooting", "rebooted"],
        "resize-confirm": [(V.ACTIVE, None), "resize", "resize_migrating",
                           "resize_migrated", "resize_finish", "finished", "confirm",
                           "confirmed"],
        "live": [(V.ACTIVE, None), "live-migrate", "live-migrated"],
    }
    ends = {"boot": (V.ACTIVE, None), "stop-start": (V.ACTIVE, None),
            "reboot": (V.ACTIVE, None), "resize-confirm": (V.ACTIVE, None),
            "live": (V.ACTIVE, None)}
    for flow, (start, *names) in flows.items():
        current = start
        for name in names:
            current = states.check(name, *current, previous_vm_state=V.ACTIVE)
        assert current == ends[flow], flow


def test_revert_of_a_stopped_server_lands_stopped():
    pair = states.check("revert", V.RESIZED, None)
    assert pair == (V.RESIZED, T.RESIZE_REVERTING)
    assert states.check("reverted", *pair, previous_vm_state="stopped") == (V.STOPPED, None)


def test_stop_keeps_vm_state_in_task_and_values():
    assert states.check("stop", "error", None) == (V.ERROR, T.POWERING_OFF)
    tr = states.transition("stop")
    assert tr.target == (states.UNCHANGED, T.POWERING_OFF)
    assert tr.expected_task_states() == [None]
    assert tr.expected_vm_states() == ["active", "error"]
    assert tr.values("active") == {"vm_state": "active", "task_state": "powering-off"}


@pytest.mark.parametrize("name,vm_state,task_state", [
    ("start", "active", None),
    ("stop", "stopped", None),
    ("stop", "active", "powering-off"),
    ("resize", "active", "migrating"),
    ("resize", "paused", None),
    ("confirm", "active", None),
    ("live_migrate", "stopped", None),
    ("spawned", "building", "scheduling"),
    ("delete", "deleted", None),
    ("start", "no-such-state", None),
])
def test_invalid_transitions_raise_a_conflict(name, vm_state, task_state):
    with pytest.raises(exception.InvalidStateTransition) as info:
        states.check(name, vm_state, task_state)
    assert info.value.code == 409
    assert name.replace("_", "-") in info.value.format_message()


def test_unknown_transition_name():
    with pytest.raises(KeyError, match="unknown instance transition"):
        states.transition("frobnicate")


def test_delete_allowed_from_anything_live():
    for vm_state, task_state in states.reachable_pairs() - {states.INITIAL}:
        if vm_state is not V.DELETED:
            assert states.check("delete", vm_state, task_state)[1] is T.DELETING


def test_allowed_transitions():
    assert "start" in states.allowed_transitions("stopped", None)
    assert "stop" not in states.allowed_transitions("stopped", None)


def test_enum_values_are_novas_strings():
    assert V.ACTIVE == "active" and str(V.ACTIVE) == "active"
    assert T.POWERING_OFF.value == "powering-off"
    assert T.REBOOT_PENDING_HARD.value == "reboot_pending_hard"
    assert states.PowerState.SHUTDOWN == 4 and states.PowerState.CRASHED == 6
    assert states.MigrationType.LIVE_MIGRATION.value == "live-migration"


# -- migration statuses ----------------------------------------------------------------

def test_migration_statuses_reachable_and_final_ones_have_no_exit():
    seen = set(states.MIGRATION_INITIAL.values())
    todo = list(seen)
    while todo:
        for nxt in states.MIGRATION_TRANSITIONS[todo.pop()] - seen:
            seen.add(nxt)
            todo.append(nxt)
    assert seen == set(MS)
    for status in MS:
        assert status.is_final == (not states.MIGRATION_TRANSITIONS[status])
    assert {s for s in MS if s.is_final} == {MS.CONFIRMED, MS.REVERTED, MS.COMPLETED,
                                             MS.ERROR, MS.FAILED, MS.CANCELLED}


def test_every_in_progress_migration_can_end():
    for status in states.MIGRATION_IN_PROGRESS:
        assert MS.ERROR in states.MIGRATION_TRANSITIONS[status]


def test_migration_transition_checks():
    assert states.migration_can_move("finished", "confirming")
    assert not states.migration_can_move("confirmed", "error")
    assert not states.migration_can_move("bogus", "error")
    assert states.check_migration_transition("running", "completed") is MS.COMPLETED
    with pytest.raises(exception.InvalidStateTransition):
        states.check_migration_transition("completed", "running")
    assert states.migration_sources("confirming") == ["finished"]
    assert states.migration_initial_status("live-migration") is MS.ACCEPTED
    assert states.migration_initial_status("resize") is MS.PRE_MIGRATING


# -- API status ------------------------------------------------------------------------

@pytest.mark.parametrize("vm_state,task_state,status", [
    ("active", None, "ACTIVE"),
    ("active", "migrating", "MIGRATING"),
    ("paused", "migrating", "MIGRATING"),
    ("active", "resize_prep", "RESIZE"),
    ("stopped", "resize_migrating", "RESIZE"),
    ("active", "resize_migrated", "RESIZE"),
    ("stopped", "resize_finish", "RESIZE"),
    ("resized", None, "VERIFY_RESIZE"),
    ("resized", "resize_confirming", "VERIFY_RESIZE"),
    ("resized", "resize_reverting", "REVERT_RESIZE"),
    ("stopped", None, "SHUTOFF"),
    ("stopped", "powering-on", "SHUTOFF"),
    ("active", "powering-off", "ACTIVE"),
    ("building", "scheduling", "BUILD"),
    ("building", "spawning", "BUILD"),
    ("active", "reboot_pending", "REBOOT"),
    ("active", "rebooting", "REBOOT"),
    ("active", "reboot_pending_hard", "HARD_REBOOT"),
    ("active", "rebooting_hard", "HARD_REBOOT"),
    ("stopped", "rebooting_hard", "SHUTOFF"),
    ("error", None, "ERROR"),
    ("error", "deleting", "ERROR"),
    ("deleted", None, "DELETED"),
    ("paused", None, "PAUSED"),
    ("soft-delete", None, "UNKNOWN"),
    (None, None, "UNKNOWN"),
])
def test_api_status(vm_state, task_state, status):
    assert states.api_status(vm_state, task_state) == status


def test_every_reachable_state_has_a_known_api_status():
    for vm_state, task_state in states.reachable_pairs() - {states.INITIAL}:
        assert states.api_status(vm_state, task_state) != "UNKNOWN"
