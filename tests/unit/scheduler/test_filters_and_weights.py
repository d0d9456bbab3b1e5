"""Each filter and weigher on hand-made HostStates (no database)."""

from __future__ import annotations

import pytest

from novalite import exception
from novalite.conf import CONF
from novalite.objects.request_spec import RequestSpec
from novalite.scheduler import filters, weights
from novalite.scheduler.host_state import HostState

FLAVOR = {"vcpus": 2, "memory_mb": 2048, "root_gb": 10, "ephemeral_gb": 0, "swap": 0}


def hs(name: str = "c1", **kw) -> HostState:
    values = dict(node_id=1, node_uuid=f"uuid-{name}", host=name, nodename=name,
                  availability_zone="nova", total={"vcpus": 8, "memory_mb": 8192,
                                                   "disk_gb": 100},
                  used={"vcpus": 0, "memory_mb": 0, "disk_gb": 0})
    values.update(kw)
    return HostState(**values)


def spec(**kw) -> RequestSpec:
    return RequestSpec(project_id="p1", user_id="u1", flavor=dict(FLAVOR), **kw)


@pytest.mark.parametrize(("state", "passes", "detail"), [
    ({}, True, None),
    ({"service_disabled": True}, False, "c1 is disabled"),
    ({"service_up": False}, False, "c1 is down"),
    ({"forced_down": True, "service_up": False}, False, "c1 is forced down"),
    ({"has_service": False}, False, "c1 has no compute service"),
    ({"node_disabled": True}, False, "c1 has its compute node disabled"),
])
def test_compute_filter(state, passes, detail):
    f, host = filters.ComputeFilter(), hs(**state)
    assert f.host_passes(host, spec()) is passes
    if detail:
        assert f.host_detail(host, spec()) == detail
        assert f.describe([host], spec()) == f"disabled or down: {detail}"


def test_resource_filter_each_resource_and_swap():
    f = filters.FILTERS["ResourceFilter"]()
    assert f.host_passes(hs(), spec())
    full_ram = hs(used={"vcpus": 0, "memory_mb": 7680, "disk_gb": 0})
    assert not f.host_passes(full_ram, spec())
    assert f.host_detail(full_ram, spec()) == "not enough memory_mb: c1 has 512 free, 2048 asked"
    assert not f.host_passes(hs(used={"vcpus": 7, "memory_mb": 0, "disk_gb": 0}), spec())
    # 10 GiB root + 1 MiB of swap needs 11 GiB: swap rounds up to a whole GiB.
    tight = hs(used={"vcpus": 0, "memory_mb": 0, "disk_gb": 90})
    assert f.host_passes(tight, spec())
    swap = RequestSpec(project_id="p", user_id=None, flavor={**FLAVOR, "swap": 1})
    assert not f.host_passes(tight, swap)
    both = hs(name="c2", used={"vcpus": 8, "memory_mb": 8192, "disk_gb": 0})
    assert f.describe([full_ram, both], spec()) == (
        "not enough memory_mb: c1 has 512 free, 2048 asked; "
        "not enough vcpus: c2 has 0 free, 2 asked, "
        "not enough memory_mb: c2 has 0 free, 2048 asked")


def test_availability_zone_filter():
    f = filters.AvailabilityZoneFilter()
    assert not f.applies(spec())
    assert f.host_passes(hs(availability_zone="az1"), spec())
    assert f.host_passes(hs(availability_zone="az1"), spec(availability_zone="az1"))
    other = hs(availability_zone="az2")
    assert not f.host_passes(other, spec(availability_zone="az1"))
    assert f.describe([other], spec(availability_zone="az1")) == (
        "in another availability zone: c1 is in az2")


def test_same_and_different_host_filters():
    host = hs(instance_uuids={"a", "b"})
    same, diff = filters.SameHostFilter(), filters.DifferentHostFilter()
    assert not same.applies(spec()) and not diff.applies(spec())
    assert same.host_passes(host, spec(scheduler_hints={"same_host": ["a", "z"]}))
    assert same.host_passes(host, spec(scheduler_hints={"same_host": "b"}))
    assert not same.host_passes(host, spec(scheduler_hints={"same_host": ["z"]}))
    assert diff.host_passes(host, spec(scheduler_hints={"different_host": ["z"]}))
    assert not diff.host_passes(host, spec(scheduler_hints={"different_host": ["z", "a"]}))
    assert same.host_passes(host, spec()) and diff.host_passes(host, spec())


def test_request_filters():
    ignore, dest = filters.IgnoreHostsFilter(), filters.RequestedDestinationFilter()
    assert ignore.host_passes(hs("c1"), spec(ignore_hosts=["c2"]))
    assert not ignore.host_passes(hs("c2"), spec(ignore_hosts=["c2"]))
    assert dest.host_passes(hs("c2"), spec(requested_destination="c2"))
    assert not dest.host_passes(hs("c1"), spec(requested_destination="c2"))
    assert dest.describe([hs("c1")], spec(requested_destination="c2")) == (
        "not the requested destination c2")


def test_registry_and_config():
    names = [f.name for f in filters.get_filters()]
    assert names[:2] == ["IgnoreHostsFilter", "RequestedDestinationFilter"]
    assert names[2:] == list(CONF.filter_scheduler.enabled_filters)
    # Listing a request filter does not run it twice.
    assert [f.name for f in filters.get_filters(["IgnoreHostsFilter", "ComputeFilter"])] == [
        "IgnoreHostsFilter", "RequestedDestinationFilter", "ComputeFilter"]
    with pytest.raises(exception.ConfigError, match="NopeFilter"):
        filters.get_filters(["ComputeFilter", "NopeFilter"])


def test_listing_is_bounded():
    hosts = [hs(f"c{i}", service_up=False) for i in range(8)]
    text = filters.ComputeFilter().describe(hosts, spec())
    assert text.endswith("c4 is down, and 3 more")


# -- weighers --------------------------------------------------------------------------

def test_normalize():
    assert weights.normalize([]) == []
    assert weights.normalize([5.0]) == [0.0]
    assert weights.normalize([3.0, 3.0]) == [0.0, 0.0]
    assert weights.normalize([0.0, 5.0, 10.0]) == [0.0, 0.5, 1.0]


def _ram(host: str, free_mb: int, **kw) -> HostState:
    return hs(host, used={"vcpus": 0, "memory_mb": 8192 - free_mb, "disk_gb": 0}, **kw)


@pytest.fixture
def only(request):
    """Set every multiplier to 0 except the ones given."""
    overrides = {"ram_weight_multiplier": 0.0, "cpu_weight_multiplier": 0.0,
                 "disk_weight_multiplier": 0.0, "num_instances_weight_multiplier": 0.0}

    def apply(**kw):
        for key, value in {**overrides, **kw}.items():
            CONF.set_override(key, value, group="filter_scheduler")

    yield apply
    for key in overrides:
        CONF.clear_override(key, group="filter_scheduler")


def _order(hosts):
    return [h.host for h, _ in weights.weigh_hosts(hosts, spec())]


def test_ram_weigher_spreads_and_stacks(only):
    hosts = [_ram("a", 1000), _ram("b", 8000), _ram("c", 4000)]
    only(ram_weight_multiplier=1.0)
    ranked = weights.weigh_hosts(hosts, spec())
    assert [(h.host, w) for h, w in ranked] == [("b", 1.0), ("c", pytest.approx(3000 / 7000)),
                                                ("a", 0.0)]
    only(ram_weight_multiplier=-1.0)
    assert _order(hosts) == ["a", "c", "b"]


def test_cpu_and_disk_weighers(only):
    hosts = [hs("a", used={"vcpus": 6, "memory_mb": 0, "disk_gb": 0}),
             hs("b", used={"vcpus": 0, "memory_mb": 0, "disk_gb": 90})]
    only(cpu_weight_multiplier=1.0)
    assert _order(hosts) == ["b", "a"]
    only(disk_weight_multiplier=1.0)
    assert _order(hosts) == ["a", "b"]
    # Normalised, so 2.0 on cpu outweighs 1.0 on disk whatever the units.
    only(cpu_weight_multiplier=2.0, disk_weight_multiplier=1.0)
    assert [(h.host, w) for h, w in weights.weigh_hosts(hosts, spec())] == [("b", 2.0),
                                                                           ("a", 1.0)]


def test_num_instances_weigher(only):
    hosts = [hs("busy", num_instances=5), hs("idle", num_instances=0)]
    only(num_instances_weight_multiplier=1.0)
    assert _order(hosts) == ["idle", "busy"]
    only(num_instances_weight_multiplier=-1.0)
    assert _order(hosts) == ["busy", "idle"]


def test_equal_weights_are_ordered_by_name(only):
    only()
    assert _order([hs("c"), hs("a"), hs("b")]) == ["a", "b", "c"]


# -- the batch paths the engine takes ----------------------------------------------------

def _assorted() -> list[HostState]:
    return [hs("ok"), hs("down", service_up=False), hs("off", service_disabled=True),
            hs("full", used={"vcpus": 8, "memory_mb": 8192, "disk_gb": 100}),
            hs("zoned", availability_zone="az2"), hs("member", instance_uuids={"a"}),
            hs("node-off", node_disabled=True), hs("forced", forced_down=True),
            hs("orphan", has_service=False)]


@pytest.mark.parametrize("request_spec", [
    spec(), spec(availability_zone="az2"), spec(ignore_hosts=["ok", "full"]),
    spec(requested_destination="member"), spec(scheduler_hints={"same_host": ["a"]}),
    spec(scheduler_hints={"different_host": "a"}),
])
def test_filter_all_agrees_with_host_passes(request_spec):
    hosts = _assorted()
    for f in filters.get_filters(list(filters.FILTERS)):
        kept, removed = f.filter_all(hosts, request_spec)
        assert kept == [h for h in hosts if f.host_passes(h, request_spec)], f.name
        assert removed == [h for h in hosts if not f.host_passes(h, request_spec)], f.name


def test_a_filter_with_host_passes_only_still_works():
    class Odd(filters.BaseHostFilter):
        def host_passes(self, host_state, spec):
            return host_state.host.endswith("1")

    assert Odd().filter_all([hs("c1"), hs("c2")], spec()) == ([hs("c1")], [hs("c2")])

    class Broken(filters.BaseHostFilter):
        pass

    with pytest.raises(NotImplementedError, match="Broken"):
        Broken().host_passes(hs(), spec())


def test_weigh_hosts_limit_is_the_beginning_of_the_full_ranking(only):
    only(ram_weight_multiplier=1.0)
    # Ties (three hosts with the same free RAM) keep the name order with a limit too.
    hosts = [_ram(name, free) for name, free in (("d", 4000), ("b", 8000), ("e", 1000),
                                                 ("a", 4000), ("c", 4000), ("f", 8000))]
    full = weights.weigh_hosts(hosts, spec())
    assert [h.host for h, _ in full] == ["b", "f", "a", "c", "d", "e"]
    for limit in range(1, 8):
        assert weights.weigh_hosts(hosts, spec(), limit=limit) == full[:limit]
