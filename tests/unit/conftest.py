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

    Yields a list: append started services to it; at teardown each is stopped and
    waited for, newest first.
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
    # Every service told to stop first, then waited for: an idle RPC server takes a few
    # seconds to notice, and those seconds overlap instead of adding up.
    for svc in reversed(started):
        svc.stop()
    for svc in reversed(started):
        svc.wait()
    rpc.cleanup()
    db.dispose_engine()
    CONF.clear_override("transport_url")
    CONF.clear_override("state_path")
    CONF.clear_override("connection", group="database")


@pytest.fixture
def plane(in_process):
    """Conductor, scheduler and compute hosts c1 and c2, started in this process."""
    from novalite.cmd import compute as compute_cmd
    from novalite.cmd import conductor as conductor_cmd
    from novalite.cmd import scheduler as scheduler_cmd
    from tests.unit.plane import Plane

    p = Plane()
    for svc in (conductor_cmd.make_service("ctl"), scheduler_cmd.make_service("ctl"),
                compute_cmd.make_service("c1"), compute_cmd.make_service("c2")):
        svc.start()
        in_process.append(svc)
        p.services[svc.host if svc.binary == "novalite-compute" else svc.binary] = svc
    return p
