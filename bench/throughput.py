"""Throughput: many boots at once over many fake hosts (filled exactly to capacity
when the sizes say so, so an overbooking race would show), then many live migrations
at once.

Every fake host has 4 GiB and each server takes 1 GiB, so H hosts hold 4·H servers;
the full size boots 200 on 50 hosts: every slot. Before the live migrations enough
servers are deleted that each remaining one has a free slot somewhere.
"""

from __future__ import annotations

import time
from concurrent import futures

from bench import watch
from bench.deploy import BenchDeployment, cpu_snapshot, cpu_used
from bench.report import Report, Row, percentile

ZONE = "bench-throughput"
HOST_MB, SERVER_MB = 4096, 1024
CLIENTS = 32  # concurrent HTTP clients


def _concurrently(func, items: list) -> list:
    with futures.ThreadPoolExecutor(min(CLIENTS, max(1, len(items)))) as pool:
        return list(pool.map(func, items))


def _outcome(events: dict[str, tuple], match, start: float) -> tuple[int, int, float]:
    """(matched, failed, seconds from start to the last matched event)."""
    good = [e for e in events.values() if match(e)]
    last = max((e[0] for e in good), default=start)
    return len(good), len(events) - len(good), last - start


def _why(dep: BenchDeployment, events: dict[str, tuple], match) -> list[str]:
    """The faults of the servers whose event is a failure (the first few)."""
    reasons = []
    for uuid, event in events.items():
        if not match(event) and len(reasons) < 5:
            fault = dep.api("GET", f"/servers/{uuid}", version="2.90").json()[
                "server"].get("fault") or {}
            reasons.append(f"{uuid[:8]}: {fault.get('message', event[1:])}")
    return reasons


def _phases(watcher: watch.Watcher, uuids: list[str], start: float) -> dict[str, list]:
    """p50/p95 seconds of each phase of the boots: request → row committed (api),
    → spawning (conductor, scheduler, cast, first compute calls), → active."""
    marks = {"api": watch.instance_is("building", "scheduling"),
             "scheduled": watch.instance_is("building", "spawning"),
             "active": watch.instance_is("active")}
    spans: dict[str, list[float]] = {name: [] for name in marks}
    for uuid in uuids:
        times = [watcher.first(uuid, match, start) for match in marks.values()]
        if all(times):
            previous = start
            for name, event in zip(marks, times, strict=True):
                spans[name].append(event[0] - previous)
                previous = event[0]
    return {name: [round(percentile(v, 50), 4), round(percentile(v, 95), 4)]
            for name, v in spans.items() if v}


def _failures(failed: int, stuck: int, why: list[str]) -> str:
    if not failed and not stuck:
        return ""
    return f"; {failed} failed, {stuck} stuck" + (f" (e.g. {why[0]})" if why else "")


def _overbooked(dep: BenchDeployment, hosts: list[str]) -> list[str]:
    resp = dep.api("GET", "/os-hypervisors/detail", version="2.87")
    resp.raise_for_status()
    wanted = set(hosts)
    return [f"{h['hypervisor_hostname']}: {h['memory_mb_used']}/{h['memory_mb']} MB"
            for h in resp.json()["hypervisors"]
            if h["hypervisor_hostname"] in wanted and h["memory_mb_used"] > h["memory_mb"]]


def run(report: Report, dep: BenchDeployment, watcher: watch.Watcher, size) -> None:
    hosts = dep.start_compute("tp", size.boot_hosts, ZONE, memory_mb=HOST_MB, vcpus=16)
    dep.wait_hosts(hosts, timeout=120)
    flavor = dep.add_flavor("bench-tp", ram=SERVER_MB)
    image = dep.add_image("tp")

    cpu = cpu_snapshot(dep)
    start = time.perf_counter()
    uuids = _concurrently(lambda i: dep.create_server(flavor, image, ZONE, f"tp-{i}"),
                          list(range(size.boots)))
    posted = time.perf_counter() - start
    events = watcher.wait_all(uuids, watch.instance_is("active"), start, timeout=300)
    boot_cpu = cpu_used(cpu, cpu_snapshot(dep))
    active, failed, seconds = _outcome(events, watch.instance_is("active"), start)
    rate = active / seconds if seconds else 0.0
    why = _why(dep, events, watch.instance_is("active"))
    report.add(Row("throughput", f"throughput: concurrent boots ({size.boots} on "
                   f"{size.boot_hosts} hosts)",
                   f"{rate:.1f} boots/s; {active} ACTIVE in {seconds:.2f} s"
                   + _failures(failed, len(uuids) - len(events), why),
                   "≥ 50 boots/s, all ACTIVE", ok=rate >= 50 and active == len(uuids),
                   data={"boots": len(uuids), "active": active, "failed": failed,
                         "why": why,
                         "seconds": seconds, "rate": rate, "posted_seconds": posted,
                         "cpu_seconds": boot_cpu,
                         "phases": _phases(watcher, uuids, start)}))
    over = _overbooked(dep, hosts)
    report.add(Row("throughput", "throughput: overbooking (memory_mb_used ≤ memory_mb)",
                   "none" if not over else f"{len(over)} hosts overbooked: {over[:3]}",
                   "none", ok=not over, data={"overbooked": over}))

    keep = [u for u in uuids if events.get(u) and watch.instance_is("active")(events[u])]
    doomed, keep = keep[:max(0, len(keep) - size.live)], keep[-size.live:]
    start = time.perf_counter()
    _concurrently(dep.delete_server, doomed)
    gone = watcher.wait_all(doomed, watch.deleted, start, timeout=300)
    delete_seconds = _outcome(gone, watch.deleted, start)[2]

    body = {"os-migrateLive": {"host": None, "block_migration": "auto"}}
    cpu = cpu_snapshot(dep)
    start = time.perf_counter()
    _concurrently(lambda u: dep.action(u, body), keep)
    done = watcher.wait_all(keep, watch.migration_is("completed"), start, timeout=600)
    completed, failed, seconds = _outcome(done, watch.migration_is("completed"), start)
    live_cpu = cpu_used(cpu, cpu_snapshot(dep))
    why = _why(dep, done, watch.migration_is("completed"))
    report.add(Row("throughput", f"throughput: concurrent live migrations ({len(keep)})",
                   f"{completed} completed in {seconds:.2f} s "
                   f"({completed / seconds if seconds else 0:.1f}/s)"
                   + _failures(failed, len(keep) - len(done), why),
                   "all completed", ok=completed == len(keep),
                   data={"migrations": len(keep), "completed": completed, "failed": failed,
                         "why": why,
                         "seconds": seconds, "deleted": len(doomed),
                         "delete_seconds": delete_seconds, "cpu_seconds": live_cpu}))

    start = time.perf_counter()
    _concurrently(dep.delete_server, keep)
    watcher.wait_all(keep, watch.deleted, start, timeout=300)
    dep.retire("tp", hosts)
