"""Concurrent claims on every database backend (SQLite, PostgreSQL, MariaDB/MySQL).

Each thread's transaction runs on its own pooled connection, i.e. its own database
session, which is what separate scheduler processes look like to the server: the
guarded generation UPDATE must let exactly as many claims through as the node has
room for, never more.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from novalite import context, exception
from novalite.db import allocations, migration
from novalite.db import api as db
from novalite.objects.request_spec import RequestSpec
from novalite.scheduler import engine
from tests.unit.scheduler.helpers import make_host

THREADS = 16


def _race(target: Callable[[int], object]) -> tuple[list[object], list[BaseException]]:
    barrier = threading.Barrier(THREADS)
    results: list[object] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def run(i: int) -> None:
        barrier.wait()
        try:
            value = target(i)
        except BaseException as err:  # noqa: BLE001 - reported by the test
            with lock:
                errors.append(err)
        else:
            with lock:
                results.append(value)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not any(t.is_alive() for t in threads)
    return results, errors


@pytest.fixture
def ctx(db_config) -> context.RequestContext:
    migration.db_sync()
    return context.RequestContext(user_id="u", project_id="p", request_id="req-race")


def test_concurrent_claims_on_one_node_never_overbook(ctx):
    node = make_host(ctx, "c1", vcpus=6, memory_mb=6 * 1024, local_gb=600)
    generation = db.compute_node_get(ctx, node.uuid).generation

    results, errors = _race(lambda i: allocations.claim(
        ctx, f"i{i}", node.uuid, 1, 1024, 100, "p", "u"))
    assert errors == []
    # Every loser re-read and saw the node full: exactly the capacity got through.
    assert results.count(True) == 6 and results.count(False) == THREADS - 6
    usage = db.compute_node_usage(ctx)[node.id]
    assert (usage["vcpus"], usage["memory_mb"], usage["disk_gb"]) == (6, 6 * 1024, 600)
    assert db.compute_node_get(ctx, node.uuid).generation == generation + 6


def test_concurrent_schedules_spread_and_never_overbook(ctx):
    nodes = [make_host(ctx, f"c{i}", vcpus=64, memory_mb=4096, local_gb=100)
             for i in range(3)]
    spec = RequestSpec(project_id="p", user_id="u",
                       flavor={"vcpus": 1, "memory_mb": 1024, "root_gb": 1})

    def schedule(i: int) -> str:
        try:
            [[chosen, *_]] = engine.select_destinations(ctx, spec, [f"vm{i}"])
        except exception.NoValidHost:
            return "none"
        return chosen.host

    results, errors = _race(schedule)
    assert errors == []
    placed = [r for r in results if r != "none"]
    # 3 nodes × 4 GiB: twelve 1 GiB instances fit, the other four get NoValidHost.
    assert len(placed) == 12 and results.count("none") == THREADS - 12
    usage = db.compute_node_usage(ctx)
    assert all(usage[n.id]["memory_mb"] == 4096 for n in nodes)
    assert sorted(placed) == ["c0"] * 4 + ["c1"] * 4 + ["c2"] * 4
    assert allocations.audit(ctx) != []  # the vm uuids are not instances: all "leaked"


def test_release_and_move_race_with_claims(ctx):
    node = make_host(ctx, "c1", vcpus=4, memory_mb=4096, local_gb=40)
    for i in range(4):
        assert allocations.claim(ctx, f"old{i}", node.uuid, 1, 1024, 10, "p", "u")

    def work(i: int) -> object:
        if i < 4:
            return allocations.release(ctx, f"old{i}")
        if i < 8:
            return allocations.move(ctx, f"nobody{i}", f"x{i}")
        return allocations.claim(ctx, f"new{i}", node.uuid, 1, 1024, 10, "p", "u")

    results, errors = _race(work)
    assert errors == []
    claimed = [r for r in results if r is True]
    assert len(claimed) <= 4
    usage = db.compute_node_usage(ctx)[node.id]
    assert usage["vcpus"] == len(claimed) <= 4
