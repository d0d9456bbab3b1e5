"""What the conductor writes about a flow besides states: faults, action events, the
end of an action. All best effort where noted: bookkeeping never fails a flow."""

from __future__ import annotations

import traceback as tb

from novalite import exception
from novalite.context import RequestContext
from novalite.db import api as db


def message_of(exc: Exception) -> str:
    if isinstance(exc, exception.NovaliteException):
        return exc.format_message()
    return f"{type(exc).__name__}: {exc}"


def fault(ctxt: RequestContext, instance_uuid: str, exc: Exception,
          message: str | None = None) -> None:
    db.instance_fault_create(ctxt, {
        "instance_uuid": instance_uuid, "code": getattr(exc, "code", 500),
        "message": message or message_of(exc),
        "details": "".join(tb.format_exception(exc))})


def event(ctxt: RequestContext, instance_uuid: str, name: str, phase: str,
          error: Exception | None = None) -> None:
    """Start or finish the conductor's step `name` on the request's action."""
    try:
        if phase == "start":
            db.action_event_start(ctxt, instance_uuid, name)
        else:
            db.action_event_finish(
                ctxt, instance_uuid, name, result="Error" if error else "Success",
                traceback="".join(tb.format_exception(error)) if error else None)
    except exception.NotFound:
        pass  # no action recorded for this request (an internal caller)


def finish_action(ctxt: RequestContext, instance_uuid: str) -> None:
    try:
        db.action_finish(ctxt, instance_uuid)
    except exception.NotFound:
        pass
