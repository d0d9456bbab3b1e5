"""Flow latency: request → final state, for every server flow, p50/p95 over N runs,
each against its floor (sampled between the runs).

One server per run goes through boot, stop, start, reboot, resize, confirm, resize
back, revert, cold migrate, confirm, live migrate (fake, live_migration_seconds = 0)
and delete. The clock starts before the HTTP request and stops when the final state's
commit reaches the database watcher (bench.watch): no API polling in the figure.

HOPS below are the RPC calls, casts and committed transactions on the critical path
from the request to the commit of the final state, counted from the code (reads,
HTTP and the driver's work are not counted; bookkeeping after the final state is not
on the path). The call whose handler commits the final state counts as a whole round
trip although its reply leg is off the path: the floors are a little generous.
"cond" is the conductor, "src"/"dst" the compute hosts of a move.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

from bench import watch
from bench.deploy import BenchDeployment
from bench.floor import Floor, Probe
from bench.report import Report, Row, ms, percentile


@dataclasses.dataclass(frozen=True)
class Hops:
    calls: int
    casts: int
    commits: int
    path: str


HOPS = {
    # api: create+action (1 commit), cast build_instances; cond: event start (commit),
    # call scheduler.select_destinations (claim: 1 commit), instance host/node + event
    # finish (1 commit), cast build_and_run_instance; compute: call batch [event start,
    # spawning], spawn, call batch [active, event finish] (each call 1 commit on the
    # conductor).
    "boot": Hops(3, 2, 6, "api→cond→sched→cond→compute(2 calls)"),
    # api: transition+action (1 commit), cast stop_instance; compute: power_off, call
    # batch [event start, stopped, event finish].
    "stop": Hops(1, 1, 2, "api→compute(1 call)"),
    "start": Hops(1, 1, 2, "api→compute(1 call)"),
    # ... plus the compute's own rebooting step before the reboot.
    "reboot": Hops(2, 1, 3, "api→compute(2 calls)"),
    # api: transition+quota+action (1 commit), cast migrate_server; cond: event start +
    # migration create + allocation move (1 commit), call select_destinations (claim),
    # migration dest + event finish (1 commit), cast prep_resize; dst: its event in a
    # cast (off the path), cast resize_instance; src: 2 calls (batch [event start,
    # resize_migrating, [migrating]], batch [resize_migrated, [post-migrating]]; its
    # event finish is a cast), cast finish_resize; dst: 2 calls (batch [event start,
    # resize_finish], batch [[finished], resized, event finish]).
    "resize": Hops(5, 4, 8, "api→cond→sched→dst→src(2)→dst(2)"),
    # api: transition + migration [confirming] + action (1 commit), cast
    # confirm_resize; src: call batch [event start, [confirmed], allocations, active,
    # event finish].
    "confirm": Hops(1, 1, 2, "api→src(1 call)"),
    # api: 1 commit, cast revert_resize; dst: its event in a cast, cast
    # finish_revert_resize; src: calls batch [event start, revert_allocations, instance
    # host back], batch [[reverted], active, event finish].
    "revert": Hops(2, 2, 3, "api→dst→src(2)"),
    # The same path as a resize, with the current flavor.
    "cold migrate": Hops(5, 4, 8, "api→cond→sched→dst→src(2)→dst(2)"),
    # api: transition + migration [accepted] + action (1 commit), cast
    # live_migrate_instance; cond: event start + allocation move (1 commit), call
    # select_destinations (claim), call dst check_can_live_migrate_destination which
    # calls src check_can_live_migrate_source, migration dest + event finish (1 commit),
    # cast live_migration; src: call [queued], then in its pool: calls batch [event
    # start, [preparing]], dst pre_live_migration, [running], dst
    # post_live_migration_at_destination (which calls instance_update on the
    # conductor), batch [confirm_allocations, [completed], event finish]. Progress
    # writes are casts, off the path.
    "live migrate": Hops(10, 2, 9, "api→cond→sched→dst→src→src pool(7 calls)"),
    # api: transition+action (1 commit), cast terminate_instance; compute: destroy,
    # call batch [event start, instance_destroyed (allocations released, row soft
    # deleted), event finish]: one commit.
    "delete": Hops(1, 1, 2, "api→compute(1 call)"),
}

TARGETS_MS = {"boot": 80, "resize": 100, "live migrate": 90}

ACTIVE = watch.instance_is("active")
RESIZED = watch.instance_is("resized")
SETTLE = 0.05  # seconds between two flows: the agent's bookkeeping after a final state
# Floor samples (of each kind) taken after each run: the flows' floor is measured under
# the load the flows ran under, not only once before them.
FLOOR_SAMPLES = 10


@dataclasses.dataclass
class Sample:
    total: float  # request → final state
    accepted: float  # request → 202
    # When each state change of the flow arrived, in seconds from the request:
    # ("i:vm_state/task_state" or "m:status", offset), first occurrence of each.
    timeline: list[tuple[str, float]] = dataclasses.field(default_factory=list)


def _label(event: tuple) -> str:
    if event[1] == "i":
        return f"i:{event[3]}/{event[4] or '-'}"
    return f"m:{event[3]}"


def timeline(samples: list[Sample]) -> list[tuple[str, float]]:
    """The median offset of each state change seen in every run, in order (ms)."""
    labels = [label for label, _ in samples[0].timeline]
    common = [lb for lb in labels if all(lb in dict(s.timeline) for s in samples)]
    return sorted(((lb, round(percentile([dict(s.timeline)[lb] for s in samples], 50)
                              * 1000, 1)) for lb in common), key=lambda item: item[1])


def _timed(dep: BenchDeployment, watcher: watch.Watcher, uuid_of: Callable[[], str],
           request: Callable[[], str | None], match: Callable[[tuple], bool]
           ) -> tuple[str, Sample]:
    start = time.perf_counter()
    created = request()
    accepted = time.perf_counter() - start
    uuid = created or uuid_of()
    end = watcher.wait(uuid, match, since=start, timeout=60)
    seen: dict[str, float] = {}
    for event in watcher.between(uuid, start, end):
        seen.setdefault(_label(event), event[0] - start)
    time.sleep(SETTLE)
    return uuid, Sample(end - start, accepted, list(seen.items()))


def one_run(dep: BenchDeployment, watcher: watch.Watcher, flavors: tuple[str, str],
            image: str, zone: str, samples: dict[str, list[Sample]]) -> None:
    small, large = flavors
    server: list[str] = []

    def step(name: str, request: Callable[[], str | None],
             match: Callable[[tuple], bool]) -> None:
        uuid, sample = _timed(dep, watcher, lambda: server[0], request, match)
        if not server:
            server.append(uuid)
        samples.setdefault(name, []).append(sample)

    def act(body: dict) -> Callable[[], None]:
        return lambda: dep.action(server[0], body)

    step("boot", lambda: dep.create_server(small, image, zone), ACTIVE)
    step("stop", act({"os-stop": None}), watch.instance_is("stopped"))
    step("start", act({"os-start": None}), ACTIVE)
    step("reboot", act({"reboot": {"type": "SOFT"}}), ACTIVE)
    step("resize", act({"resize": {"flavorRef": large}}), RESIZED)
    step("confirm", act({"confirmResize": None}), ACTIVE)
    step("resize", act({"resize": {"flavorRef": small}}), RESIZED)
    step("revert", act({"revertResize": None}), ACTIVE)
    step("cold migrate", act({"migrate": None}), RESIZED)
    step("confirm", act({"confirmResize": None}), ACTIVE)
    step("live migrate", act({"os-migrateLive": {"host": None, "block_migration": "auto"}}),
         watch.migration_is("completed"))
    step("delete", lambda: dep.delete_server(server[0]), watch.deleted)


def run(report: Report, dep: BenchDeployment, watcher: watch.Watcher, probe: Probe,
        runs: int, hosts: int) -> dict[str, list[Sample]]:
    zone = "bench-flows"
    names = dep.start_compute("flows", hosts, zone, vcpus=64, memory_mb=65536)
    dep.wait_hosts(names, timeout=60)
    flavors = (dep.add_flavor("bench-small", ram=512), dep.add_flavor("bench-large", ram=1024))
    image = dep.add_image()
    one_run(dep, watcher, flavors, image, zone, {})  # warm-up: imports, pools, queues
    samples: dict[str, list[Sample]] = {}
    pooled: tuple[list[float], ...] = ([], [], [])
    for _ in range(runs):
        one_run(dep, watcher, flavors, image, zone, samples)
        for pool, new in zip(pooled, probe.sample(FLOOR_SAMPLES), strict=True):
            pool.extend(new)
    floor = Floor.of_samples(*pooled)
    report.add(Row("flows", "floor: between flow runs (call / cast / commit)",
                   f"p50 {ms(floor.call)} / {ms(floor.cast)} / {ms(floor.commit)}",
                   data={"call": floor.call, "cast": floor.cast, "commit": floor.commit,
                         "runs": len(pooled[0])}))
    for name, hops in HOPS.items():
        totals = [s.total for s in samples[name]]
        p50, p95 = percentile(totals, 50), percentile(totals, 95)
        accepted = percentile([s.accepted for s in samples[name]], 50)
        flow_floor = floor.of(hops.calls, hops.casts, hops.commits)
        target_ms = TARGETS_MS.get(name)
        target = "≤ 3× floor" + (f", ≤ {target_ms} ms p50" if target_ms else "")
        ratio_ok = p50 <= 3 * flow_floor
        ms_ok = target_ms is None or p50 * 1000 <= target_ms
        met = None if target_ms is None else (f"{'yes' if ms_ok else 'NO'} ms, "
                                              f"{'yes' if ratio_ok else 'NO'} ×")
        report.add(Row("flows", f"flow: {name}",
                       f"p50 {ms(p50)} / p95 {ms(p95)} (202 in {ms(accepted)}; "
                       f"floor {ms(flow_floor)})", target, ratio=p50 / flow_floor,
                       ok=ratio_ok and ms_ok,
                       data={"met": met, "p50": p50, "p95": p95, "accepted_p50": accepted,
                             "floor": flow_floor, "runs": len(totals),
                             "hops": dataclasses.asdict(hops),
                             "timeline_ms": timeline(samples[name])}))
    dep.retire("flows", names)
    return samples
