"""python -m bench [--size tiny|small|full] [--json] [--only SECTION ...] [--keep]
                 [--set SECTION.OPTION=VALUE ...] [--profile]

Brings up a deployment (PostgreSQL, a RabbitMQ virtual host, api/conductor/scheduler
and fake compute agents as separate processes), measures, tears it all down, and
prints one table: what, figure, target, ratio to floor, target met.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time

from bench import deploy
from bench.report import Report, skipped

SECTIONS = ("floor", "flows", "throughput", "scale", "libvirt")


@dataclasses.dataclass(frozen=True)
class Size:
    runs: int  # runs of each flow
    rpc_runs: int  # samples of each floor figure
    flow_hosts: int
    boots: int  # concurrent boots ...
    boot_hosts: int  # ... over this many fake hosts
    live: int  # concurrent live migrations
    sched_hosts: tuple[int, int]  # compute nodes in the database for select_destinations
    sched_runs: int
    servers: int  # servers in GET /servers/detail
    list_runs: int
    agent_hosts: int  # fake hosts in one agent for the per-host AMQP and memory figures
    many_hosts: int  # fake hosts that must all come up ...
    many_agents: int  # ... spread over this many agent processes


SIZES = {
    "tiny": Size(runs=2, rpc_runs=30, flow_hosts=3, boots=12, boot_hosts=4, live=6,
                 sched_hosts=(50, 200), sched_runs=5, servers=50, list_runs=5,
                 agent_hosts=4, many_hosts=16, many_agents=2),
    "small": Size(runs=5, rpc_runs=100, flow_hosts=3, boots=60, boot_hosts=15, live=30,
                  sched_hosts=(200, 1000), sched_runs=10, servers=200, list_runs=10,
                  agent_hosts=10, many_hosts=100, many_agents=2),
    "full": Size(runs=20, rpc_runs=200, flow_hosts=3, boots=200, boot_hosts=50, live=100,
                 sched_hosts=(1000, 10000), sched_runs=20, servers=1000, list_runs=20,
                 agent_hosts=50, many_hosts=1000, many_agents=4),
}

# Every row the benchmark prints starts with one of these (the smoke test checks them).
ROW_PREFIXES = (
    "floor: RPC call round trip", "floor: RPC cast delivery",
    "floor: guarded UPDATE + commit", "floor: between flow runs",
    "hop: conductor.instance_update call",
    "hop: db.instance_update in-process", "hop: HTTP GET /v2.1/",
    *(f"flow: {name}" for name in ("boot", "stop", "start", "reboot", "resize", "confirm",
                                   "revert", "cold migrate", "live migrate", "delete")),
    "throughput: concurrent boots", "throughput: overbooking",
    "throughput: concurrent live migrations",
    "scale: select_destinations", "scale: GET /servers/detail",
    "scale: AMQP connections per compute host", "scale: queues per compute host",
    "scale: memory per compute agent", "scale: memory per fake host",
    "scale: clean stop of an agent",
    "scale: fake hosts up", "scale: conductor CPU for heartbeats",
    "libvirt: live migration",
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split(
        "\n\n")[1])
    parser.add_argument("--size", choices=sorted(SIZES), default="small")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON too")
    parser.add_argument("--only", nargs="+", choices=SECTIONS,
                        help="run only these sections (the floor always runs)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument("--profile", action="store_true",
                        help="run every service under yappi (pip install yappi); the "
                        "stats are left in the work directory as <service>.pstats")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.OPTION=VALUE",
                        help="an extra option in the controller's config (repeatable), "
                        "e.g. filter_scheduler.host_subset_size=10, to try a setting")
    args = parser.parse_args(argv)
    overrides: dict[str, dict[str, str]] = {}
    for item in args.set:
        key, _, value = item.partition("=")
        section, _, option = key.rpartition(".")
        overrides.setdefault(section or "DEFAULT", {})[option] = value
    why = deploy.unreachable()
    if why:
        print(f"cannot run: {why}", file=sys.stderr)
        return 2
    size = SIZES[args.size]
    wanted = set(args.only or SECTIONS) | {"floor"}
    if args.size != "full" and "libvirt" not in (args.only or ()):
        wanted.discard("libvirt")  # real guests take minutes: full size, or asked for
    report = Report()
    report.meta.update(size=args.size, sections=sorted(wanted), overrides=overrides,
                       **dataclasses.asdict(size))
    started = time.monotonic()
    run(report, size, wanted, args.keep, args.profile, overrides)
    report.meta["seconds"] = round(time.monotonic() - started, 1)
    print()
    print(report.table())
    print(f"\n{args.size} size: {report.meta['seconds']} s")
    if args.json:
        print(report.json())
    return 0


def _section(name: str, started: float) -> None:
    print(f"{name} (at {time.monotonic() - started:.1f} s)", flush=True)


def run(report: Report, size: Size, wanted: set[str], keep: bool, profile: bool,
        overrides: dict[str, dict[str, str]]) -> None:
    from bench import floor, flows, libvirt_row, scale, throughput, watch

    started = time.monotonic()
    with deploy.Environment(keep=keep, profile=profile, overrides=overrides) as dep:
        print(f"deployment up in {time.monotonic() - started:.1f} s: {dep.endpoint} "
              f"({dep.workdir})", flush=True)
        floor.init_rpc(dep.transport_url, dep.db_url)
        dep.wait_controller()
        watcher = watch.Watcher(dep.db_url.replace("+psycopg2", ""))
        probe = floor.Probe(dep.engine)
        try:
            _section("floor", started)
            floor.run(report, probe, size.rpc_runs)
            floor.http_hop(report, dep.api, size.rpc_runs)
            if "flows" in wanted:
                _section("flows", started)
                flows.run(report, dep, watcher, probe, size.runs, size.flow_hosts)
            if "throughput" in wanted:
                _section("throughput", started)
                throughput.run(report, dep, watcher, size)
            if "scale" in wanted:
                _section("scale", started)
                scale.run(report, dep, size)
            if "libvirt" in wanted:
                _section("libvirt", started)
                report.add(libvirt_row.run(dep, watcher, runs=6))
            else:
                report.add(skipped("libvirt", libvirt_row.WHAT,
                                   "runs at --size full, or with --only libvirt"))
        finally:
            probe.stop()
            watcher.close()
            from novalite import rpc

            rpc.cleanup()


if __name__ == "__main__":
    sys.exit(main())
