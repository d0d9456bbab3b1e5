"""select_destinations on SQLite with real compute node, service and allocation rows:
host states, choice, alternates, the NoValidHost explanation, races and rollback."""

from __future__ import annotations

import logging

import pytest

from novalite import exception
from novalite.conf import CONF
from novalite.db import allocations
from novalite.db import api as db
from novalite.objects.request_spec import RequestSpec, Selection
from novalite.scheduler import engine, host_state
from novalite.scheduler import manager as scheduler_manager
from tests.unit.scheduler.helpers import disable, mark_down

FLAVOR = {"vcpus": 1, "memory_mb": 2048, "root_gb": 10, "ephemeral_gb": 0, "swap": 0}


def spec(**kw) -> RequestSpec:
    return RequestSpec(project_id="p1", user_id="u1", flavor=dict(FLAVOR), **kw)


@pytest.fixture
def overrides():
    """CONF.set_override(name, value, group) undone after the test."""
    done = []

    def set_(name, value, group=None):
        CONF.set_override(name, value, group=group)
        done.append((name, group))

    yield set_
    for name, group in done:
        CONF.clear_override(name, group=group)


def _hosts_by_ram(host_factory):
    """c1 (8 GiB free) > c2 (6 GiB) > c3 (4 GiB) > c4 (3 GiB)."""
    return [host_factory(name, memory_mb=mem, vcpus=8)
            for name, mem in (("c1", 8192), ("c2", 6144), ("c3", 4096), ("c4", 3072))]


# -- host states ---------------------------------------------------------------------------

def test_host_states_from_the_database(host_factory, ctx, overrides):
    overrides("default_availability_zone", "zone-default")
    up = host_factory("up", az="az1", vcpus=8, cpu_allocation_ratio=2.0)
    host_factory("down")
    mark_down(ctx, "down")
    host_factory("off")
    disable(ctx, "off")
    host_factory("orphan", service=False)
    inst = db.instance_create(ctx, {"name": "vm", "host": "up", "node": "up"})
    building = db.instance_create(ctx, {"name": "vm2"})
    assert allocations.claim(ctx, building.uuid, up.uuid, 3, 1024, 5, "p1", "u1")

    states = {h.host: h for h in host_state.get_host_states(ctx)}
    assert set(states) == {"up", "down", "off", "orphan"}
    h = states["up"]
    assert (h.node_uuid, h.availability_zone, h.service_up, h.service_disabled) == (
        up.uuid, "az1", True, False)
    assert h.total == {"vcpus": 16, "memory_mb": 4096, "disk_gb": 40}
    assert h.used == {"vcpus": 3, "memory_mb": 1024, "disk_gb": 5}
    assert h.free == {"vcpus": 13, "memory_mb": 3072, "disk_gb": 35}
    # Instances holding an allocation: the one being built (the placed one has none).
    assert h.num_instances == 1
    # Membership is read per request, for the hints: the placed instance by
    # instances.host, the one being built by its allocation.
    assert h.instance_uuids == set()
    members = host_state.instances_by_node(ctx, list(states.values()))
    assert members[h.node_id] == {inst.uuid, building.uuid}
    assert host_state.instances_by_node(ctx, [h], [building.uuid, "other"]) == {
        h.node_id: {building.uuid}}
    assert states["down"].service_up is False
    assert states["down"].availability_zone == "zone-default"
    assert (states["off"].service_disabled, states["off"].service_disabled_reason) == (
        True, "maintenance")
    assert states["orphan"].has_service is False


# -- choosing ------------------------------------------------------------------------------

def test_chooses_the_best_host_claims_it_and_returns_alternates(host_factory, ctx):
    nodes = _hosts_by_ram(host_factory)
    [[chosen, *alternates]] = engine.select_destinations(ctx, spec(), ["i1"])
    assert isinstance(chosen, Selection)
    assert (chosen.host, chosen.nodename, chosen.compute_node_uuid) == ("c1", "c1",
                                                                       nodes[0].uuid)
    assert (chosen.claimed, chosen.consumer_uuid) == (True, "i1")
    assert (chosen.vcpus, chosen.memory_mb, chosen.disk_gb) == (1, 2048, 10)
    # [scheduler] max_attempts = 3: two alternates, best first, not claimed.
    assert [a.host for a in alternates] == ["c2", "c3"]
    assert all(not a.claimed and a.consumer_uuid == "i1" and a.memory_mb == 2048
               for a in alternates)
    [alloc] = allocations.get_by_consumer(ctx, "i1")
    assert (alloc["host"], alloc["memory_mb"], alloc["project_id"], alloc["user_id"]) == (
        "c1", 2048, "p1", "u1")


@pytest.mark.parametrize(("max_attempts", "return_alternates", "expected"), [
    (1, True, []), (2, True, ["c2"]), (10, True, ["c2", "c3", "c4"]), (3, False, []),
])
def test_alternates_count(host_factory, ctx, overrides, max_attempts, return_alternates,
                          expected):
    _hosts_by_ram(host_factory)
    overrides("max_attempts", max_attempts, group="scheduler")
    [[chosen, *alternates]] = engine.select_destinations(
        ctx, spec(), ["i1"], return_alternates=return_alternates)
    assert chosen.host == "c1"
    assert [a.host for a in alternates] == expected


def test_several_instances_see_each_others_claims(host_factory, ctx):
    host_factory("big", memory_mb=4096)
    host_factory("small", memory_mb=3072)
    result = engine.select_destinations(ctx, spec(num_instances=3), ["i1", "i2", "i3"])
    # big (4096) takes i1, then small (3072 free) beats big (2048 free), then big again.
    assert [sel[0].host for sel in result] == ["big", "small", "big"]
    assert [len(allocations.get_by_consumer(ctx, u)) for u in ("i1", "i2", "i3")] == [1, 1, 1]


def test_filters_zones_and_hints(host_factory, ctx):
    host_factory("a1", az="az1")
    host_factory("a2", az="az1", memory_mb=8192)
    host_factory("b1", az="az2", memory_mb=16384)
    neighbour = db.instance_create(ctx, {"name": "n", "host": "a1", "node": "a1"})
    assert engine.select_destinations(ctx, spec(availability_zone="az1"),
                                      ["i1"])[0][0].host == "a2"
    same = spec(scheduler_hints={"same_host": [neighbour.uuid]})
    assert engine.select_destinations(ctx, same, ["i2"])[0][0].host == "a1"
    different = spec(scheduler_hints={"different_host": [neighbour.uuid]})
    [[chosen, *alternates]] = engine.select_destinations(ctx, different, ["i3"])
    assert chosen.host == "b1" and [a.host for a in alternates] == ["a2"]
    assert engine.select_destinations(ctx, spec(ignore_hosts=["b1"]), ["i4"])[0][0].host == "a2"
    [[only]] = engine.select_destinations(ctx, spec(requested_destination="a1"), ["i5"])
    assert only.host == "a1"


def test_host_subset_size_picks_among_the_best(host_factory, ctx, overrides, monkeypatch):
    _hosts_by_ram(host_factory)
    overrides("host_subset_size", 3, group="filter_scheduler")
    monkeypatch.setattr(engine.random, "randrange", lambda n: n - 1)
    [[chosen, *alternates]] = engine.select_destinations(ctx, spec(), ["i1"])
    assert chosen.host == "c3"
    assert [a.host for a in alternates] == ["c1", "c2"]


# -- no valid host ---------------------------------------------------------------------------

def test_explanation_names_each_filter_and_host(host_factory, ctx):
    host_factory("c1", memory_mb=512)
    host_factory("c2", memory_mb=1024)
    host_factory("c3")
    disable(ctx, "c3")
    with pytest.raises(exception.NoValidHost) as info:
        engine.select_destinations(ctx, spec(), ["i1"])
    assert info.value.kwargs["reason"] == (
        "There are 3 compute hosts. ComputeFilter removed 1 (disabled or down: c3 is "
        "disabled); ResourceFilter removed 2 (not enough memory_mb: c1 has 512 free, "
        "2048 asked; not enough memory_mb: c2 has 1024 free, 2048 asked).")
    assert info.value.format_message().startswith("No valid host was found. There are 3")
    assert allocations.get_by_consumer(ctx, "i1") == []


def test_explanation_for_request_filters_and_no_hosts(host_factory, ctx):
    with pytest.raises(exception.NoValidHost, match="There are no compute hosts"):
        engine.select_destinations(ctx, spec(), ["i1"])
    host_factory("c1")
    host_factory("c2")
    with pytest.raises(exception.NoValidHost) as info:
        engine.select_destinations(ctx, spec(ignore_hosts=["c1"],
                                             requested_destination="c1"), ["i1"])
    assert info.value.kwargs["reason"] == (
        "There are 2 compute hosts. IgnoreHostsFilter removed 1 (ignored by the request: "
        "c1); RequestedDestinationFilter removed 1 (not the requested destination c1).")


def test_a_request_that_does_not_fully_fit_leaves_no_claims(host_factory, ctx):
    host_factory("c1", memory_mb=4096)
    with pytest.raises(exception.NoValidHost) as info:
        engine.select_destinations(ctx, spec(num_instances=3), ["i1", "i2", "i3"])
    assert info.value.kwargs["reason"].startswith(
        "Instance 3 of 3 (i3) did not fit after the first 2 were placed. There is 1 "
        "compute host. ResourceFilter removed 1 (not enough memory_mb: c1 has 0 free")
    assert [allocations.get_by_consumer(ctx, u) for u in ("i1", "i2", "i3")] == [[], [], []]
    assert list(db.compute_node_usage(ctx).values())[0]["memory_mb"] == 0


def test_lost_claim_falls_to_the_next_host(host_factory, ctx):
    nodes = _hosts_by_ram(host_factory)
    stale = host_state.get_host_states(ctx)
    # Another scheduler fills c1 after our host states were read.
    assert allocations.claim(ctx, "other", nodes[0].uuid, 1, 8192, 1, "p1", "u1")
    [[chosen, *alternates]] = engine.select_destinations(ctx, spec(), ["i1"],
                                                         host_states=stale)
    assert chosen.host == "c2" and chosen.claimed
    assert [a.host for a in alternates] == ["c3", "c4"]  # c1 is full: not an alternate


def test_claims_lost_past_the_ranked_few_go_on_down_the_ranking(host_factory, ctx,
                                                                 monkeypatch):
    # host_subset_size 1 + 2 alternates + no margin: only the best 3 are ranked first.
    monkeypatch.setattr(engine, "RANK_MARGIN", 0)
    nodes = [host_factory(f"h{i}", memory_mb=8192 - 1024 * i) for i in range(5)]
    stale = host_state.get_host_states(ctx)
    for i in range(3):  # other schedulers fill the three best hosts
        assert allocations.claim(ctx, f"other{i}", nodes[i].uuid, 1, 8192 - 1024 * i, 1,
                                 "p1", "u1")
    [[chosen, *alternates]] = engine.select_destinations(ctx, spec(), ["i1"],
                                                         host_states=stale)
    assert chosen.host == "h3" and [a.host for a in alternates] == ["h4"]


def test_alternates_come_from_past_the_ranked_few(host_factory, ctx, monkeypatch):
    monkeypatch.setattr(engine, "RANK_MARGIN", 0)
    nodes = [host_factory(f"h{i}", memory_mb=8192 - 1024 * i) for i in range(5)]
    stale = host_state.get_host_states(ctx)
    assert allocations.claim(ctx, "other", nodes[0].uuid, 1, 8192, 1, "p1", "u1")
    [[chosen, *alternates]] = engine.select_destinations(ctx, spec(), ["i1"],
                                                         host_states=stale)
    assert chosen.host == "h1" and [a.host for a in alternates] == ["h2", "h3"]


def test_every_claim_lost(host_factory, ctx):
    nodes = [host_factory("c1", memory_mb=2048), host_factory("c2", memory_mb=2048)]
    stale = host_state.get_host_states(ctx)
    for i, node in enumerate(nodes):
        assert allocations.claim(ctx, f"other{i}", node.uuid, 1, 2048, 1, "p1", "u1")
    with pytest.raises(exception.NoValidHost) as info:
        engine.select_destinations(ctx, spec(), ["i1"], host_states=stale)
    assert info.value.kwargs["reason"] == (
        "There are 2 compute hosts. 2 passed the filters but could not be claimed "
        "(c1, c2): concurrent requests took the room.")


def test_needs_instance_uuids(host_factory, ctx):
    host_factory("c1")
    with pytest.raises(exception.Invalid):
        engine.select_destinations(ctx, spec(), [])
    # The spec's own instance_uuid is used when the list is empty.
    [[chosen]] = engine.select_destinations(ctx, spec(instance_uuid="i9"), [])
    assert chosen.consumer_uuid == "i9"


# -- rescheduling -------------------------------------------------------------------------

def test_claim_alternate_after_releasing_the_failed_host(host_factory, ctx):
    host_factory("c1", memory_mb=4096)
    host_factory("c2", memory_mb=2048)
    [[chosen, alternate]] = engine.select_destinations(ctx, spec(), ["i1"])
    assert (chosen.host, alternate.host) == ("c1", "c2")
    # The build failed on c1: release that claim, then claim the alternate.
    assert allocations.release(ctx, "i1", chosen.compute_node_uuid) == 1
    assert engine.claim_alternate(ctx, alternate, spec())
    assert alternate.claimed
    assert [a["host"] for a in allocations.get_by_consumer(ctx, "i1")] == ["c2"]


def test_claim_alternate_without_room_or_node(host_factory, ctx):
    node = host_factory("c1", memory_mb=2048)
    alt = Selection(host="c1", nodename="c1", compute_node_uuid=node.uuid,
                    consumer_uuid="i1", vcpus=1, memory_mb=2048, disk_gb=1)
    assert allocations.claim(ctx, "other", node.uuid, 0, 1, 0, "p1", "u1")
    assert not engine.claim_alternate(ctx, alt, spec())
    assert not alt.claimed
    gone = Selection(host="x", nodename="x", compute_node_uuid="no-such-node",
                     consumer_uuid="i1")
    assert not engine.claim_alternate(ctx, gone, spec())
    with pytest.raises(exception.Invalid):
        engine.claim_alternate(ctx, Selection(host="x", nodename="x",
                                              compute_node_uuid=node.uuid), spec())


# -- the manager ------------------------------------------------------------------------------

def test_manager_logs_the_explanation(host_factory, ctx, caplog):
    host_factory("c1", memory_mb=512)
    mgr = scheduler_manager.SchedulerManager("sched")
    assert mgr.RPC_API_VERSION == "1.1"
    with caplog.at_level(logging.INFO, logger="novalite.scheduler.manager"):
        with pytest.raises(exception.NoValidHost):
            mgr.select_destinations(ctx, spec(), ["i1"])
    [record] = [r for r in caplog.records if r.name == "novalite.scheduler.manager"]
    assert record.levelno == logging.INFO
    assert "not enough memory_mb: c1 has 512 free, 2048 asked" in record.getMessage()
    assert record.context is ctx


def test_select_destinations_over_rpc(host_factory, ctx):
    from novalite import rpc
    from novalite.scheduler import rpcapi

    host_factory("c1")
    host_factory("c2", memory_mb=1024)
    rpc.register_opts(CONF)
    CONF.set_override("transport_url", "fake://")
    rpc.cleanup()
    rpc.init(CONF)
    mgr = scheduler_manager.SchedulerManager("sched")
    server = rpc.get_server("scheduler", "sched", mgr.RPC_API_VERSION, [mgr])
    server.start()
    try:
        client = rpcapi.SchedulerAPI()
        [[chosen, *alternates]] = client.select_destinations(ctx, spec(), ["i1"])
        assert isinstance(chosen, Selection) and chosen.claimed and chosen.host == "c1"
        assert alternates == []  # c2 is too small
        with pytest.raises(exception.NoValidHost, match="ResourceFilter removed 2"):
            big = RequestSpec(project_id="p1", user_id="u1",
                              flavor={**FLAVOR, "memory_mb": 3000})
            client.select_destinations(ctx, big, ["i2"])
    finally:
        server.stop()
        server.wait()
        rpc.cleanup()
        CONF.clear_override("transport_url")


def test_manager_checks_filters_at_start(overrides):
    mgr = scheduler_manager.SchedulerManager("sched")
    mgr.init_host()
    overrides("enabled_filters", ["ComputeFilter", "RetryFilter"], group="filter_scheduler")
    with pytest.raises(exception.ConfigError, match="RetryFilter"):
        mgr.init_host()
