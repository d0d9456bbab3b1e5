"""Fixtures for the scheduler tests: a context and compute hosts made of real DB rows."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from novalite import context
from tests.unit.scheduler.helpers import make_host


@pytest.fixture
def ctx() -> context.RequestContext:
    return context.RequestContext(user_id="u1", project_id="p1", request_id="req-sched")


@pytest.fixture
def host_factory(sqlite_db, ctx) -> Callable[..., Any]:
    def factory(name: str, **kwargs: Any) -> Any:
        return make_host(ctx, name, **kwargs)
    return factory
