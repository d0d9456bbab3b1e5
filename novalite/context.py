"""The request context: who is asking, under which request id.

It travels from the API through every RPC message (see novalite.rpc.RequestContextSerializer),
so that each service logs the same request id and records it on instance actions.
"""

from __future__ import annotations

from typing import Any

from oslo_context import context as oslo_context


class RequestContext(oslo_context.RequestContext):
    """oslo.context's context plus novalite's admin flag rules.

    `store=False` keeps a context out of the thread-local store that log lines read,
    so internal work (heartbeats, periodic tasks) does not stamp a made-up request id
    on the logs of the thread that created it.
    """

    def __init__(self, *args: Any, store: bool = True, **kwargs: Any) -> None:
        self._store = store
        super().__init__(*args, **kwargs)
        if not self.is_admin and "admin" in (self.roles or []):
            self.is_admin = True

    def update_store(self) -> None:
        if self._store:
            super().update_store()

    def elevated(self) -> RequestContext:
        """A copy with admin rights, for internal work done on a user's behalf."""
        ctx = self.from_dict(self.to_dict(), store=False)
        ctx.is_admin = True
        if "admin" not in ctx.roles:
            ctx.roles = list(ctx.roles) + ["admin"]
        return ctx


def get_admin_context() -> RequestContext:
    """A context for work no user asked for (heartbeats, periodic tasks)."""
    return RequestContext(is_admin=True, roles=["admin"], store=False)
