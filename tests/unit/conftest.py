"""Fixtures for unit tests that run services in one process."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from novalite import rpc
from novalite.conf import CONF
from novalite.db import api as db
from novalite.db import migration


@pytest.fixture
def in_process(tmp_path) -> Iterator[list]:
    """fake:// transport, a fresh SQLite database at head, state under tmp_path.

    Yields a list: append started services to it and they are stopped (no new
    messages), then waited for, in reverse order at teardown.
    """
    rpc.register_opts(CONF)
    CONF.set_override("transport_url", "fake://")
    CONF.set_override("state_path", str(tmp_path))
    CONF.set_override("connection", f"sqlite:///{tmp_path}/unit.sqlite", group="database")
    db.dispose_engine()
    migration.db_sync()
    rpc.cleanup()
    rpc.init(CONF)
    started: list = []
    yield started
    for svc in reversed(started):
        svc.stop()
    for svc in reversed(started):
        svc.wait()
    rpc.cleanup()
    db.dispose_engine()
    CONF.clear_override("transport_url")
    CONF.clear_override("state_path")
    CONF.clear_override("connection", group="database")
