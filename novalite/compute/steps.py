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

from novalite import exception, states
from novalite.context import RequestContext
from novalite.objects.instance import Instance

if TYPE_CHECKING:
    from novalite.compute.manager import ComputeManager

LOG = logging.getLogger(__name__)


def transition(manager: ComputeManager, ctxt: RequestContext, instance: Instance, name: str,
               **values: Any) -> Instance:
    """Apply the states table's transition `name` as a guarded update (via the conductor).

    Raises a Conflict when the instance is no longer where the transition starts (someone
    else changed it: a delete, say), so the caller stops instead of overwriting.
    """
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
    return manager.conductor.instance_update(ctxt, instance.uuid, update, guard)


def message_of(exc: Exception) -> str:
    if isinstance(exc, exception.NovaliteException):
        return exc.format_message()
    return f"{type(exc).__name__}: {exc}"


class StepResult:
    """Yielded by instance_step: `ok` is True once the step ran to its end."""

    ok = False


@contextlib.contextmanager
def instance_step(manager: ComputeManager, ctxt: RequestContext, instance: Instance,
                  event: str, failure: str | None, finish_action: bool = True,
                  on_failure: Callable[[Exception], str | None] | None = None,
                  ) -> Iterator[StepResult]:
    """Run one compute step on `instance` under its lock, recorded as action event `event`.

    On failure: a fault is recorded, the `failure` transition of the states table returns
    the instance to a stable state (with the power state the driver now reports), the
    event ends in Error with the traceback, and the exception does not escape (these are
    casts: nobody waits for them). A Conflict from a guarded update means another
    operation took the instance over (a delete); then nothing is rolled back.
    """
    result = StepResult()
    with manager.instance_locks(instance.uuid):
        safely(manager.conductor.action_event_start, ctxt, instance.uuid, event, manager.host)
        try:
            yield result
        except exception.UnexpectedTaskStateError as exc:
            LOG.info("%s on %s stopped: %s", event, instance.uuid, exc.format_message())
            safely(manager.conductor.action_event_finish, ctxt, instance.uuid, event,
                   "Error", traceback.format_exc(), finish_action)
        except Exception as exc:
            LOG.exception("%s failed on instance %s", event, instance.uuid)
            details = traceback.format_exc()
            # Fault and event before the state: whoever sees it stable also sees why.
            safely(manager.conductor.instance_fault_create, ctxt, instance.uuid,
                   getattr(exc, "code", 500), message_of(exc), details, manager.host)
            safely(manager.conductor.action_event_finish, ctxt, instance.uuid, event,
                   "Error", details, finish_action)
            if on_failure is not None:
                failure = safely(on_failure, exc) or failure
            if failure is not None:
                safely(transition, manager, ctxt, instance, failure,
                       power_state=int(manager.power_state_of(instance)))
        else:
            result.ok = True
            safely(manager.conductor.action_event_finish, ctxt, instance.uuid, event,
                   "Success", None, finish_action)


def safely(func: Any, *args: Any, **kwargs: Any) -> Any:
    """Bookkeeping must not turn one failure into another: log and go on."""
    try:
        return func(*args, **kwargs)
    except Exception:
        LOG.exception("Recording %s failed", getattr(func, "__name__", func))
        return None
