"""The scheduler's host state cache on SQLite: every change the scheduler must see on
the next request is seen by an incremental (DELTA) read, never only by a full one.

Each test warms a cache up (a FULL read), changes the database the way the API, the
conductor or a compute report does, and checks the next read: that it was a DELTA read
(so the test exercises the cache, not a rebuild) and that it shows the change.
"""

from __future__ import annotations

import datetime

import pytest
import sqlalchemy as sa

from novalite import exception, servicegroup
from novalite.conf import CONF
from novalite.db import allocations, models
from novalite.db import api as db
from novalite.objects.request_spec import RequestSpec
from novalite.scheduler import engine, host_state
from novalite.scheduler.host_state import HostStateCache, Refresh
from tests.unit.scheduler.helpers import disable, make_host, mark_down

FLAVOR = {"vcpus": 1, "memory_mb": 2048, "root_gb": 10, "ephemeral_gb": 0, "swap": 0}


def spec(**kw) -> RequestSpec:
    return RequestSpec(project_id="p1", user_id="u1", flavor=dict(FLAVOR), **kw)


@pytest.fixture
def cache(sqlite_db) -> HostStateCache:
    return HostStateCache()


def states(cache: HostStateCache, ctx, refresh: Refresh | None = Refresh.DELTA,
           now: datetime.datetime | None = None) -> dict[str, host_state.HostState]:
    """The cache's states by host name, checking how it read them."""
    got = {h.host: h for h in cache.get(ctx, now)}
    if refresh is not None:
        assert cache.last_refresh is refresh
    return got


def _service_id(ctx, host: str) -> int:
    return db.service_get_by_host_and_binary(ctx, host, db.COMPUTE_BINARY).id


# -- what the API changes ----------------------------------------------------------------

def test_disabled_service_is_excluded_on_the_next_request(host_factory, ctx, cache):
    host_factory("c1")
    host_factory("c2")
    assert states(cache, ctx, Refresh.FULL)["c1"].service_disabled is False
    disable(ctx, "c1")
    c1 = states(cache, ctx)["c1"]
    assert (c1.service_disabled, c1.service_disabled_reason) == (True, "maintenance")
    db.service_update(ctx, _service_id(ctx, "c1"), {"disabled": False,
                                                    "disabled_reason": None})
    assert states(cache, ctx)["c1"].service_disabled is False


def test_forced_down_service_is_excluded_on_the_next_request(host_factory, ctx, cache):
    host_factory("c1")
    assert states(cache, ctx, Refresh.FULL)["c1"].service_up is True
    db.service_update(ctx, _service_id(ctx, "c1"), {"forced_down": True})
    c1 = states(cache, ctx)["c1"]
    assert (c1.forced_down, c1.service_up) == (True, False)


def test_engine_sees_a_disable_through_the_process_cache(host_factory, ctx):
    host_factory("c1", memory_mb=8192)
    host_factory("c2")
    assert engine.select_destinations(ctx, spec(), ["i1"])[0][0].host == "c1"
    disable(ctx, "c1")
    assert engine.select_destinations(ctx, spec(), ["i2"])[0][0].host == "c2"
    assert host_state._CACHE.last_refresh is Refresh.DELTA


# -- what compute reports change -----------------------------------------------------------

def test_new_compute_node_is_seen_on_the_next_request(host_factory, ctx, cache):
    host_factory("c1")
    assert set(states(cache, ctx, Refresh.FULL)) == {"c1"}
    host_factory("c2", az="az2")
    got = states(cache, ctx)
    assert set(got) == {"c1", "c2"}
    assert (got["c2"].availability_zone, got["c2"].service_up) == ("az2", True)
    # A node whose service registers only later gets it on the next read too.
    make_host(ctx, "c3", service=False)
    assert states(cache, ctx)["c3"].has_service is False
    db.service_heartbeat(ctx, "c3", db.COMPUTE_BINARY, "compute", 1)
    assert states(cache, ctx)["c3"].has_service is True


def test_inventory_and_ratio_changes_are_seen(host_factory, ctx, cache):
    host_factory("c1", vcpus=4, memory_mb=4096)
    assert states(cache, ctx, Refresh.FULL)["c1"].total == {
        "vcpus": 4, "memory_mb": 4096, "disk_gb": 40}
    make_host(ctx, "c1", vcpus=4, memory_mb=8192, cpu_allocation_ratio=2.0)
    assert states(cache, ctx)["c1"].total == {"vcpus": 8, "memory_mb": 8192, "disk_gb": 40}


def test_zone_and_node_disabled_changes_are_seen(host_factory, ctx, cache):
    host_factory("c1", az="az1")
    assert states(cache, ctx, Refresh.FULL)["c1"].availability_zone == "az1"
    make_host(ctx, "c1", az="az2", disabled=True)
    c1 = states(cache, ctx)["c1"]
    assert (c1.availability_zone, c1.node_disabled) == ("az2", True)


def test_heartbeat_brings_a_down_service_back(host_factory, ctx, cache):
    host_factory("c1")
    mark_down(ctx, "c1")
    assert states(cache, ctx, Refresh.FULL)["c1"].service_up is False
    db.service_heartbeat(ctx, "c1", db.COMPUTE_BINARY, "compute", 1)
    assert states(cache, ctx)["c1"].service_up is True


def test_a_silent_service_goes_down_with_the_clock_alone(host_factory, ctx, cache):
    host_factory("c1")
    now = servicegroup.utcnow()
    assert states(cache, ctx, Refresh.FULL, now=now)["c1"].service_up is True
    later = now + datetime.timedelta(seconds=CONF.service_down_time + 1)
    assert states(cache, ctx, now=later)["c1"].service_up is False
    # And back (the clock of a caller may go back; nothing in the database changed).
    assert states(cache, ctx, now=now)["c1"].service_up is True


# -- what claims change ------------------------------------------------------------------------

def test_usage_after_a_claim_and_after_a_release(host_factory, ctx, cache):
    node = host_factory("c1", memory_mb=4096)
    assert states(cache, ctx, Refresh.FULL)["c1"].used["memory_mb"] == 0
    # The conductor claims an alternate (claim_alternate), outside this cache's process.
    assert allocations.claim(ctx, "i1", node.uuid, 1, 3584, 1, "p1", "u1")
    c1 = states(cache, ctx)["c1"]
    assert (c1.used["memory_mb"], c1.free["memory_mb"], c1.num_instances) == (3584, 512, 0)
    assert allocations.release(ctx, "i1") == 1
    assert states(cache, ctx)["c1"].used["memory_mb"] == 0


def test_usage_after_a_move_of_allocations(host_factory, ctx, cache):
    src, dst = host_factory("src"), host_factory("dst")
    inst = db.instance_create(ctx, {"name": "vm"})
    assert allocations.claim(ctx, inst.uuid, src.uuid, 1, 1024, 1, "p1", "u1")
    assert states(cache, ctx, Refresh.FULL)["src"].num_instances == 1
    allocations.move(ctx, inst.uuid, "migration-1")
    assert allocations.claim(ctx, inst.uuid, dst.uuid, 1, 2048, 1, "p1", "u1")
    got = states(cache, ctx)
    # The source's allocation now belongs to the migration: not an instance any more.
    assert (got["src"].used["memory_mb"], got["src"].num_instances) == (1024, 0)
    assert (got["dst"].used["memory_mb"], got["dst"].num_instances) == (2048, 1)


def test_explanation_uses_current_usage(host_factory, ctx):
    """The explanation NoValidHost gives after another process claimed."""
    c1 = host_factory("c1", memory_mb=4096)
    host_factory("c2", memory_mb=1024)
    host_factory("c3")
    disable(ctx, "c3")
    host_state.get_host_states(ctx)  # warm the process cache up
    assert allocations.claim(ctx, "other", c1.uuid, 1, 3584, 1, "p1", "u1")
    with pytest.raises(exception.NoValidHost) as info:
        engine.select_destinations(ctx, spec(), ["i1"])
    assert info.value.kwargs["reason"] == (
        "There are 3 compute hosts. ComputeFilter removed 1 (disabled or down: c3 is "
        "disabled); ResourceFilter removed 2 (not enough memory_mb: c1 has 512 free, "
        "2048 asked; not enough memory_mb: c2 has 1024 free, 2048 asked).")
    assert host_state._CACHE.last_refresh is Refresh.DELTA
    allocations.release(ctx, "other")
    assert engine.select_destinations(ctx, spec(), ["i1"])[0][0].host == "c1"


def test_two_schedulers_see_each_others_claims(host_factory, ctx):
    host_factory("c1", memory_mb=4096)
    host_factory("c2", memory_mb=3072)
    first, second = HostStateCache(), HostStateCache()
    first.get(ctx)
    second.get(ctx)
    [[chosen, *_]] = engine.select_destinations(ctx, spec(), ["i1"],
                                                host_states=first.get(ctx))
    assert chosen.host == "c1"
    got = {h.host: h for h in second.get(ctx)}
    assert second.last_refresh is Refresh.DELTA
    assert got["c1"].free["memory_mb"] == 2048
    [[chosen, *_]] = engine.select_destinations(ctx, spec(), ["i2"], host_states=list(
        got.values()))
    assert chosen.host == "c2"


# -- nodes and services that go ------------------------------------------------------------

def test_deleted_service_and_nodes_disappear(host_factory, ctx, cache):
    host_factory("c1")
    host_factory("c2")
    assert set(states(cache, ctx, Refresh.FULL)) == {"c1", "c2"}
    db.service_destroy(ctx, _service_id(ctx, "c1"))
    assert set(states(cache, ctx)) == {"c2"}


def test_a_row_removed_out_of_sight_triggers_a_full_read(host_factory, ctx, cache):
    node = host_factory("c1")
    host_factory("c2")
    assert set(states(cache, ctx, Refresh.FULL)) == {"c1", "c2"}
    table = models.ComputeNode.__table__
    with db.get_engine().begin() as conn:  # a hard delete: no row left to stamp
        conn.execute(table.delete().where(table.c.id == node.id))
    assert set(states(cache, ctx, Refresh.FULL)) == {"c2"}
    assert set(states(cache, ctx)) == {"c2"}


# -- late commits ------------------------------------------------------------------------------

def _stamp_node(ctx, name: str, when: datetime.datetime, **values) -> None:
    """Change a node with an explicit updated_at, as a writer whose commit lands after
    a read that started later than its stamp would."""
    table = models.ComputeNode.__table__
    with db.get_engine().begin() as conn:
        conn.execute(table.update().where(table.c.host == name)
                     .values(updated_at=when, **values))


def test_a_commit_stamped_before_the_previous_read_is_seen(host_factory, ctx, cache):
    host_factory("c1", az="az1")
    states(cache, ctx, Refresh.FULL)
    states(cache, ctx)  # the previous read, which started after the stamp below
    _stamp_node(ctx, "c1", cache._read_at - host_state.CHANGE_SLACK / 2,
                availability_zone="late")
    assert states(cache, ctx)["c1"].availability_zone == "late"


def test_a_later_commit_is_seen_by_the_next_sweep(host_factory, ctx, cache, monkeypatch):
    host_factory("c1", az="az1")
    states(cache, ctx, Refresh.FULL)
    # Outside the per-request window, inside the sweep's.
    _stamp_node(ctx, "c1", cache._read_at - host_state.SWEEP_SLACK / 2,
                availability_zone="late")
    monkeypatch.setattr(host_state, "SWEEP_INTERVAL", 3600.0)
    assert states(cache, ctx)["c1"].availability_zone == "az1"
    monkeypatch.setattr(host_state, "SWEEP_INTERVAL", 0.0)
    assert states(cache, ctx)["c1"].availability_zone == "late"


def test_a_resync_catches_anything(host_factory, ctx, cache):
    host_factory("c1", az="az1")
    states(cache, ctx, Refresh.FULL)
    _stamp_node(ctx, "c1", datetime.datetime(2000, 1, 1), availability_zone="ancient")
    assert states(cache, ctx)["c1"].availability_zone == "az1"  # nothing says it changed
    CONF.set_override("host_state_resync_interval", 0, group="scheduler")
    try:
        assert states(cache, ctx, Refresh.FULL)["c1"].availability_zone == "ancient"
    finally:
        CONF.clear_override("host_state_resync_interval", group="scheduler")


def test_the_clock_going_back_means_a_full_read(host_factory, ctx, cache, monkeypatch):
    host_factory("c1")
    states(cache, ctx, Refresh.FULL)
    past = servicegroup.utcnow() - datetime.timedelta(hours=1)
    monkeypatch.setattr(servicegroup, "utcnow", lambda: past)
    states(cache, ctx, Refresh.FULL)


def test_another_database_means_a_full_read(host_factory, ctx, cache, tmp_path):
    host_factory("c1")
    states(cache, ctx, Refresh.FULL)
    db.dispose_engine()
    CONF.set_override("connection", f"sqlite:///{tmp_path / 'other.sqlite'}",
                      group="database")
    models.metadata.create_all(db.get_engine())
    make_host(ctx, "other")
    assert set(states(cache, ctx, Refresh.FULL)) == {"other"}


# -- what a request does to the shared states -----------------------------------------------

def test_a_claim_in_progress_shows_to_concurrent_requests(host_factory, ctx, monkeypatch):
    host_factory("c1", memory_mb=4096)
    host_factory("c2", memory_mb=3072)
    seen = []
    real_claim = allocations.claim

    def claim(ctx_, consumer, node_uuid, *args, **kwargs):
        # What a concurrent request of this process would see while this claim runs.
        seen.append({h.host: h.free["memory_mb"] for h in host_state.get_host_states(ctx)})
        if consumer == "lost":  # a concurrent request took the room first
            return False
        return real_claim(ctx_, consumer, node_uuid, *args, **kwargs)

    monkeypatch.setattr(allocations, "claim", claim)
    assert engine.select_destinations(ctx, spec(), ["i1"])[0][0].host == "c1"
    assert seen[-1] == {"c1": 2048, "c2": 3072}
    # A lost claim gives the room back.
    with pytest.raises(exception.NoValidHost):
        engine.select_destinations(ctx, spec(), ["lost"], return_alternates=False)
    assert seen[-2:] == [{"c1": 2048, "c2": 1024}, {"c1": 0, "c2": 3072}]
    assert {h.host: h.free["memory_mb"] for h in host_state.get_host_states(ctx)} == {
        "c1": 2048, "c2": 3072}


def test_hints_read_members_without_touching_the_cache(host_factory, ctx):
    host_factory("a1", memory_mb=8192)
    host_factory("a2")
    neighbour = db.instance_create(ctx, {"name": "n", "host": "a2", "node": "a2"})
    host_state.get_host_states(ctx)
    same = spec(scheduler_hints={"same_host": [neighbour.uuid]})
    assert engine.select_destinations(ctx, same, ["i1"])[0][0].host == "a2"
    different = spec(scheduler_hints={"different_host": [neighbour.uuid, "i1"]})
    assert engine.select_destinations(ctx, different, ["i2"])[0][0].host == "a1"
    # The cached states never keep a request's members.
    cached = {h.host: h for h in host_state.get_host_states(ctx)}
    assert neighbour.uuid not in cached["a2"].instance_uuids


def test_resync_interval_zero_reads_everything_each_time(host_factory, ctx, cache):
    host_factory("c1")
    CONF.set_override("host_state_resync_interval", 0, group="scheduler")
    try:
        states(cache, ctx, Refresh.FULL)
        states(cache, ctx, Refresh.FULL)
    finally:
        CONF.clear_override("host_state_resync_interval", group="scheduler")


def test_cached_states_match_a_fresh_read(host_factory, ctx, cache):
    """After a mix of changes, the DELTA-maintained states equal a FULL read's."""
    nodes = [host_factory(f"c{i}", memory_mb=4096 + i) for i in range(5)]
    states(cache, ctx, Refresh.FULL)
    assert allocations.claim(ctx, "i1", nodes[0].uuid, 1, 1000, 1, "p1", "u1")
    disable(ctx, "c1")
    db.service_destroy(ctx, _service_id(ctx, "c2"))
    make_host(ctx, "c3", memory_mb=9000, ram_allocation_ratio=1.5)
    host_factory("c9")
    mark_down(ctx, "c4")
    now = servicegroup.utcnow()
    incremental = cache.get(ctx, now)
    assert cache.last_refresh is Refresh.DELTA
    assert incremental == HostStateCache().get(ctx, now)
    table = models.Service.__table__
    with db.get_engine().connect() as conn:  # the test changed what it meant to
        assert conn.scalar(sa.select(sa.func.count()).select_from(table)) == 6
