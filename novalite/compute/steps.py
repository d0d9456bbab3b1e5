"""What every compute flow shares: the state change through the conductor, and the
bookkeeping around one step on one instance (lock, action event, fault, rollback).

Nova spreads this over five decorators on a 10,000-line manager; here it is one context
manager that every flow module uses.
"""

from __future__ import annotations

import contextlib
import logging
import traceback
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from novalite import exception, servicegroup, states
from novalite.context import RequestContext
from novalite.objects.instance import Instance

if TYPE_CHECKING:
    from novalite.compute.manager import ComputeManager

LOG = logging.getLogger(__name__)


Op = tuple[str, dict[str, Any]]  # a conductor write: (ConductorAPI method, its kwargs)


def transition_op(instance: Instance, name: str, **values: Any) -> Op:
    """The states table's transition `name` as a guarded instance update (an Op)."""
    tr = states.transition(name)
    target_vm, target_task = tr.target
    update = dict(values)
    update["task_state"] = target_task.value if target_task else None
    if target_vm is states.PREVIOUS:
        old = instance.system_metadata.get("old_vm_state", states.VmState.ACTIVE.value)
        update["vm_state"] = old
    elif target_vm is not states.UNCHANGED:
        update["vm_state"] = target_vm.value
    guard = {"task_state": tr.expected_task_states(), "vm_state": tr.expected_vm_states()}
    return ("instance_update", {"instance_uuid": instance.uuid, "values": update,
                                "guard": guard})


def migration_op(migration_id: int, status: states.MigrationStatus | None = None,
                 expected: list[str] | None = None, **values: Any) -> Op:
    """A guarded migration update (an Op): status (if any) and other columns."""
    if status is not None:
        values["status"] = status.value
    return ("migration_update", {"migration_id": migration_id, "values": values,
                                 "expected_status": expected})


def transition(manager: ComputeManager, ctxt: RequestContext, instance: Instance, name: str,
               **values: Any) -> Instance:
    """Apply the states table's transition `name` as a guarded update (via the conductor).

    Raises a Conflict when the instance is no longer where the transition starts (someone
    else changed it: a delete, say), so the caller stops instead of overwriting.
    """
    _, kwargs = transition_op(instance, name, **values)
    return manager.conductor.instance_update(ctxt, **kwargs)


class Step:
    """One compute step on one instance and its action event.

    The event costs no round trip of its own: its start (timestamped here, when the
    step begins) travels with the step's first write, and its successful finish with
    the write marked last (the final state: whoever sees it sees the event finished),
    or else in a cast once the step is done. Writes go through :meth:`write`, which
    applies them in one conductor transaction.
    """

    def __init__(self, manager: ComputeManager, ctxt: RequestContext, instance_uuid: str,
                 event: str, finish_action: bool = True) -> None:
        self.manager, self.ctxt, self.instance_uuid = manager, ctxt, instance_uuid
        self.event, self.finish_action = event, finish_action
        self.ok = False  # True once the step ran to its end
        self._finished = False
        # Bookkeeping not yet sent: kept until a write carrying it succeeds (a failed
        # write's transaction rolled it back with everything else).
        self._unsent: list[Op] = [("action_event_start", {
            "instance_uuid": instance_uuid, "event": event, "host": manager.host,
            "start_time": servicegroup.utcnow()})]

    def _finish_op(self, result: str, details: str | None = None) -> Op:
        return ("action_event_finish", {
            "instance_uuid": self.instance_uuid, "event": self.event, "result": result,
            "traceback": details, "finish_action": self.finish_action})

    def write(self, *ops: Op, last: bool = False) -> list:
        """Apply ops in one conductor call and transaction, with the step's unsent
        bookkeeping; last=True also finishes the event (Success). Returns each op's
        result (an Instance for instance_update, a Migration for migration_update)."""
        batch = [*self._unsent, *ops]
        if last:
            batch.append(self._finish_op("Success"))
        results = self.manager.conductor.batch(self.ctxt, batch)
        sent, self._unsent = len(self._unsent), []
        self._finished = self._finished or last
        return results[sent:sent + len(ops)]

    def transition(self, instance: Instance, name: str, last: bool = False,
                   **values: Any) -> Instance:
        """:func:`transition` as one of this step's writes."""
        return self.write(transition_op(instance, name, **values), last=last)[0]

    def succeeded(self) -> None:
        """The step ran to its end: finish the event unless the last write did. A cast:
        the state the step leads to is already committed, nobody waits for this."""
        self.ok = True
        if not self._finished:
            self._finished = True
            safely(self.manager.conductor.batch, self.ctxt,
                   [*self._unsent, self._finish_op("Success")], wait=False)
            self._unsent = []

    def failed(self, details: str, *before: Op) -> None:
        """Finish the event as Error (after `before`, e.g. a fault), in one call: the
        fault and the event are recorded before whatever state the failure leads to."""
        self._finished = True
        safely(self.manager.conductor.batch, self.ctxt,
               [*self._unsent, *before, self._finish_op("Error", details)])
        self._unsent = []


def message_of(exc: Exception) -> str:
    if isinstance(exc, exception.NovaliteException):
        return exc.format_message()
    return f"{type(exc).__name__}: {exc}"


@contextlib.contextmanager
def instance_step(manager: ComputeManager, ctxt: RequestContext, instance: Instance,
                  event: str, failure: str | None, finish_action: bool = True,
                  on_failure: Callable[[Exception], str | None] | None = None,
                  ) -> Iterator[Step]:
    """Run one compute step on `instance` under its lock, recorded as action event `event`.

    On failure: a fault is recorded, the `failure` transition of the states table returns
    the instance to a stable state (with the power state the driver now reports), the
    event ends in Error with the traceback, and the exception does not escape (these are
    casts: nobody waits for them). A Conflict from a guarded update means another
    operation took the instance over (a delete); then nothing is rolled back.
    """
    step = Step(manager, ctxt, instance.uuid, event, finish_action)
    with manager.instance_locks(instance.uuid):
        try:
            yield step
        except exception.UnexpectedTaskStateError as exc:
            LOG.info("%s on %s stopped: %s", event, instance.uuid, exc.format_message())
            step.failed(traceback.format_exc())
        except Exception as exc:
            LOG.exception("%s failed on instance %s", event, instance.uuid)
            details = traceback.format_exc()
            # Fault and event before the state: whoever sees it stable also sees why.
            step.failed(details, fault_op(manager, instance.uuid, exc, details))
            if on_failure is not None:
                failure = safely(on_failure, exc) or failure
            if failure is not None:
                safely(transition, manager, ctxt, instance, failure,
                       power_state=int(manager.power_state_of(instance)))
        else:
            step.succeeded()


def fault_op(manager: ComputeManager, instance_uuid: str, exc: Exception,
             details: str) -> Op:
    """A fault recorded against the instance on this host (an Op)."""
    return ("instance_fault_create", {
        "instance_uuid": instance_uuid, "code": getattr(exc, "code", 500),
        "message": message_of(exc), "details": details, "host": manager.host})


def safely(func: Any, *args: Any, **kwargs: Any) -> Any:
    """Bookkeeping must not turn one failure into another: log and go on."""
    try:
        return func(*args, **kwargs)
    except Exception:
        LOG.exception("Recording %s failed", getattr(func, "__name__", func))
        return None
