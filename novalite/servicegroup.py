"""Whether a service is up: a recent enough heartbeat and not forced down."""

from __future__ import annotations

import datetime
from typing import Any

from novalite.conf import CONF


def utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC).replace(tzinfo=None)


def is_up(service: Any, now: datetime.datetime | None = None) -> bool:
    """service needs last_seen_up (naive UTC), updated_at, created_at and forced_down."""
    if service.forced_down:
        return False
    last = service.last_seen_up or service.updated_at or service.created_at
    if last is None:
        return False
    elapsed = ((now or utcnow()) - last).total_seconds()
    return abs(elapsed) <= CONF.service_down_time
