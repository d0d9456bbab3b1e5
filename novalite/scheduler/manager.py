"""The scheduler: picks hosts for instances (select_destinations comes with the build flow)."""

from __future__ import annotations

from novalite.manager import Manager


class SchedulerManager(Manager):
    RPC_API_VERSION = "1.0"
