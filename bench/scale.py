"""Scale: AMQP connections, queues and memory per compute host; many fake hosts up at
once and what their heartbeats cost the conductor; GET /servers/detail over many
servers; select_destinations over many compute nodes.

The servers and the compute nodes of the last two are rows inserted straight into
the bench database (SQLAlchemy Core); select_destinations is then called over RPC on
the scheduler process, which reads them as it reads real ones.
"""

from __future__ import annotations

import datetime
import subprocess
import time
import uuid

import sqlalchemy as sa

from bench.deploy import BenchDeployment, PrivateRabbit, cpu_seconds
from bench.report import Report, Row, ms, percentile
from novalite import context as nl_context
from novalite.db import flavors as flavor_db
from novalite.db import models
from novalite.objects.request_spec import RequestSpec
from novalite.scheduler import rpcapi as scheduler_rpcapi

ZONE = "bench-scale"
# Seconds of conductor CPU sampled while the hosts beat (after the start-up reports),
# for a fleet of 100 hosts or more; a few seconds otherwise (the tiny size).
HEARTBEAT_WINDOW = 20.0
# Sockets left free on the (shared) broker: others use it too.
BROKER_MARGIN = 200
# ... and on the fleet's own node (its conductor, rabbitmqctl).
PRIVATE_MARGIN = 50
FLEET_CONDUCTOR = "fleet-conductor"  # host and process name of the fleet's own conductor
STOP_GRACE = 30.0  # seconds an agent of many hosts gets to stop cleanly
FLEET_STOP_GRACE = 60.0  # ... and the fleet's agents, of hundreds of hosts each, at once


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC).replace(tzinfo=None)


def _settled_counts(dep: BenchDeployment) -> tuple[int, int]:
    """Connections and queues of the virtual host once the count holds still (agents
    killed just before may still be closing theirs)."""
    last = None
    for _ in range(10):
        now = dep.rabbit_count("connections"), dep.rabbit_count("queues")
        if now == last:
            break
        last = now
        time.sleep(1)
    return now


def per_host(report: Report, dep: BenchDeployment, hosts: int) -> None:
    """One agent with one fake host, then one with `hosts`: what each adds."""
    base = _settled_counts(dep)
    one = dep.start_compute("one", 1, ZONE)
    dep.wait_hosts(one, timeout=60)
    time.sleep(1)
    single = (dep.rabbit_count("connections") - base[0], dep.rabbit_count("queues") - base[1])
    rss_one, threads_one = dep.rss_kib("one"), dep.threads("one")
    many = dep.start_compute("many", hosts, ZONE)
    dep.wait_hosts(many, timeout=120)
    time.sleep(1)
    conns = dep.rabbit_count("connections") - base[0] - single[0]
    queues = dep.rabbit_count("queues") - base[1] - single[1]
    rss_many, threads_many = dep.rss_kib("many"), dep.threads("many")
    report.add(Row("scale", "scale: AMQP connections per compute host",
                   f"{conns / hosts:.2f} ({conns} for an agent of {hosts} fake hosts; "
                   f"{single[0]} for an agent of 1)", "≤ 2", ok=conns / hosts <= 2,
                   data={"agent_hosts": hosts, "connections": conns, "single": single[0]}))
    report.add(Row("scale", "scale: queues per compute host",
                   f"{queues / hosts:.2f} ({queues} for {hosts} fake hosts; "
                   f"{single[1]} for 1)", data={"queues": queues, "single": single[1]}))
    report.add(Row("scale", "scale: memory per compute agent",
                   f"{rss_one / 1024:.0f} MiB RSS, {threads_one} threads (agent of 1 host)",
                   data={"rss_kib": rss_one, "threads": threads_one}))
    per = (rss_many - rss_one) / max(1, hosts - 1)
    report.add(Row("scale", "scale: memory per fake host",
                   f"{per / 1024:.2f} MiB RSS, {(threads_many - threads_one) / (hosts - 1):.1f} "
                   f"threads per extra host ({rss_many / 1024:.0f} MiB, {threads_many} threads "
                   f"for {hosts})", data={"rss_kib_per_host": per, "rss_kib": rss_many,
                                         "threads": threads_many}))
    dep.retire("one", one)
    seconds, clean = dep.stop_agent("many", grace=STOP_GRACE if hosts >= 10 else 4.0)
    report.add(Row("scale", "scale: clean stop of an agent",
                   f"{seconds:.1f} s for {hosts} fake hosts" if clean else
                   f"not done after {seconds:.0f} s for {hosts} fake hosts (killed)",
                   data={"hosts": hosts, "seconds": seconds, "clean": clean}))
    dep.retire("many", many)


def _private_broker(dep: BenchDeployment) -> tuple[PrivateRabbit | None, str]:
    """A RabbitMQ node of the benchmark's own for the fleet, or (None, why not)."""
    broker = PrivateRabbit(dep.workdir / "fleet-rabbit")
    started = time.monotonic()
    try:
        broker.start()
        broker.sockets()  # and rabbitmqctl reaches it
    except (RuntimeError, OSError, ValueError, KeyError, subprocess.SubprocessError) as exc:
        broker.stop()
        return None, str(exc).strip()[:300]
    except BaseException:  # interrupted: leave no node running
        broker.stop()
        raise
    print(f"  (the fleet's own RabbitMQ node {broker.node} on 127.0.0.1:{broker.port}, "
          f"up in {time.monotonic() - started:.1f} s)", flush=True)
    return broker, ""


def many_hosts(report: Report, dep: BenchDeployment, hosts: int, agents: int) -> None:
    """`hosts` fake hosts over `agents` processes: time until every one is up, and the
    conductor's CPU while they all heartbeat (every report_interval = 10 s).

    Each fake host holds one AMQP connection, more than the machine's shared broker
    allows: the fleet and a conductor of its own run on a private RabbitMQ node
    (bench.deploy.PrivateRabbit), stopped and removed afterwards. Without one
    (rabbitmq-server missing or failing), the fleet is capped to what the shared
    broker can take, and the row says so."""
    broker, why = _private_broker(dep)
    try:
        _fleet(report, dep, hosts, agents, broker, why)
    finally:
        if broker is not None:
            broker.stop()


def _fleet(report: Report, dep: BenchDeployment, hosts: int, agents: int,
           broker: PrivateRabbit | None, why: str) -> None:
    if broker is not None:
        used, limit = broker.sockets()
        room = limit - used - PRIVATE_MARGIN
        transport_url, conductor = broker.url, FLEET_CONDUCTOR
        # Small pool: the controller's three processes share PostgreSQL's 100 connections.
        config = dep.controller_config(
            config_name=conductor, database={"pool_size": 5, "max_overflow": 10},
            transport_url=transport_url, host=conductor, state_path=dep.workdir / conductor)
        dep.start(conductor, "conductor", config)
        where = "own RabbitMQ node"
    else:
        print(f"  (no private RabbitMQ node for the fleet: {why}; using the shared broker)",
              flush=True)
        used, limit = dep.broker_sockets()
        room = limit - used - BROKER_MARGIN  # others use it too
        transport_url, conductor = None, "conductor"
        where = f"shared broker, limit {limit} sockets"
    wanted = hosts
    if hosts > room:
        hosts = max(agents, room // agents * agents)
        print(f"  (the broker has {limit - used} free sockets of {limit}: "
              f"{hosts} fake hosts instead of {wanted})", flush=True)
    each = hosts // agents
    names = [(f"fleet{i}", dep.start_compute(f"fleet{i}", each, ZONE,
                                             transport_url=transport_url))
             for i in range(agents)]
    all_hosts = [h for _, group in names for h in group]
    start = time.monotonic()
    try:
        seconds = dep.wait_hosts(all_hosts, timeout=900)
    except RuntimeError as exc:
        report.add(Row("scale", f"scale: fake hosts up ({len(all_hosts)} in {agents} "
                       f"agents)", f"FAILED: {exc}"[:200], "all up", ok=False,
                       data={"hosts": len(all_hosts), "wanted": wanted,
                             "broker": "private" if broker else "shared"}))
        _retire_fleet(dep, names, broker)
        return
    # Up as the API reports them: every fake host and the conductor they report through.
    services = dep.api("GET", "/os-services").json()["services"]
    mine = set(all_hosts)
    up = sum(1 for s in services if s["binary"] == "novalite-compute"
             and s["host"] in mine and s["state"] == "up")
    conductor_host = FLEET_CONDUCTOR if broker is not None else "controller"
    conductor_up = any(s["binary"] == "novalite-conductor" and s["host"] == conductor_host
                       and s["state"] == "up" for s in services)
    if broker is not None:
        used, limit = broker.sockets()
        where = f"own RabbitMQ node, {used} sockets used"
    rss = sum(dep.rss_kib(name) for name, _ in names)
    threads = sum(dep.threads(name) for name, _ in names)
    row = report.add(Row(
        "scale", f"scale: fake hosts up ({len(all_hosts)} in {agents} agents)",
        f"{up} of {len(all_hosts)} up" + (f", {wanted} asked" if wanted > hosts else "")
        + ("" if conductor_up else ", their conductor NOT up")
        + f" (os-services) {seconds:.1f} s after start; {where}; "
        f"agents {rss / 1024:.0f} MiB, {threads} threads",
        f"{wanted} hosts, every service up",
        ok=up == len(all_hosts) and wanted == hosts and conductor_up,
        data={"hosts": len(all_hosts), "wanted": wanted, "up": up,
              "conductor_up": conductor_up,
              "broker": "private" if broker is not None else "shared",
              "broker_node": broker.node if broker is not None else None,
              "no_private_broker": why or None, "broker_sockets": [used, limit],
              "seconds": seconds, "rss_kib": rss, "threads": threads}))
    pid = dep.processes[conductor].pid
    big = len(all_hosts) >= 100
    if big:
        time.sleep(max(0.0, 12 - (time.monotonic() - start)))  # past the start-up reports
    before, t0 = cpu_seconds(pid), time.monotonic()
    time.sleep(HEARTBEAT_WINDOW if big else 2.0)
    share = (cpu_seconds(pid) - before) / (time.monotonic() - t0)
    report.add(Row("scale", "scale: conductor CPU for heartbeats",
                   f"{share * 100:.0f}% of a core for {len(all_hosts)} hosts "
                   f"({len(all_hosts) / 10:.0f} heartbeats/s)",
                   data={"cpu_share": share, "hosts": len(all_hosts), "conductor": conductor}))
    stop_seconds, clean = _retire_fleet(dep, names, broker)
    row.data.update(stop_seconds=stop_seconds, stop_clean=clean)
    print(f"  (the {agents} agents of {each} fake hosts "
          + (f"stopped cleanly in {stop_seconds:.1f} s)" if clean else
             f"did not all stop cleanly: {stop_seconds:.1f} s)"), flush=True)


def _retire_fleet(dep: BenchDeployment, names: list[tuple[str, list[str]]],
                  broker: PrivateRabbit | None) -> tuple[float, bool]:
    """Stop the fleet's agents together (and its own conductor); (seconds, clean)."""
    seconds, clean = dep.stop_agents([name for name, _ in names], grace=FLEET_STOP_GRACE)
    for name, group in names:
        dep.retire(name, group)
    if broker is not None and FLEET_CONDUCTOR in dep.processes:
        dep.stop_agent(FLEET_CONDUCTOR, grace=10.0)
    return seconds, clean


def _flavor_snapshot(dep: BenchDeployment) -> dict:
    flavorid = dep.add_flavor(f"bench-scale-{uuid.uuid4().hex[:6]}", ram=1024)
    ctx = nl_context.get_admin_context()
    return flavor_db.flavor_snapshot(flavor_db.flavor_get_by_flavorid(ctx, flavorid))


def servers_detail(report: Report, dep: BenchDeployment, count: int, runs: int) -> None:
    snapshot = _flavor_snapshot(dep)
    now = _now()
    rows = [{"uuid": str(uuid.uuid4()), "name": f"scale-{i}", "hostname": f"scale-{i}",
             "project_id": "bench-scale", "user_id": "bench", "flavor": snapshot,
             "image_ref": str(uuid.uuid4()), "reservation_id": f"r-scale{i}",
             "launch_index": 0, "host": f"scale-host-{i % 50}",
             "node": f"scale-host-{i % 50}", "vm_state": "active", "task_state": None,
             "power_state": 1, "progress": 0, "launched_at": now, "locked": False,
             "metadata_": {"k": "v"}, "system_metadata": {}, "created_at": now,
             "deleted": 0} for i in range(count)]
    with dep.engine.begin() as conn:
        conn.execute(sa.insert(models.Instance), rows)
    path = f"/servers/detail?all_tenants=1&project_id=bench-scale&limit={count}"
    seen, samples = 0, []
    for index in range(runs + 2):
        start = time.perf_counter()
        resp = dep.api("GET", path, version="2.90")
        elapsed = time.perf_counter() - start
        resp.raise_for_status()
        seen = len(resp.json()["servers"])
        if index >= 2:
            samples.append(elapsed)
    p50 = percentile(samples, 50)
    report.add(Row("scale", f"scale: GET /servers/detail ({count} servers)",
                   f"p50 {ms(p50)} / p95 {ms(percentile(samples, 95))} ({seen} returned)",
                   "≤ 100 ms p50" if count >= 1000 else "", ok=p50 <= 0.1 and seen == count,
                   data={"servers": count, "returned": seen, "p50": p50,
                         "p95": percentile(samples, 95)}))
    inst = models.Instance.__table__
    with dep.engine.begin() as conn:
        conn.execute(inst.update().where(inst.c.project_id == "bench-scale")
                     .values(deleted=inst.c.id, vm_state="deleted"))


def _insert_hosts(dep: BenchDeployment, count: int, prefix: str) -> list[str]:
    now = _now()
    hosts = [f"{prefix}-{i}" for i in range(count)]
    services = [{"uuid": str(uuid.uuid4()), "host": h, "binary": "novalite-compute",
                 "topic": "compute", "disabled": False, "forced_down": False,
                 "last_seen_up": now, "report_count": 1, "version": 1, "created_at": now,
                 "deleted": 0} for h in hosts]
    with dep.engine.begin() as conn:
        ids = conn.execute(sa.insert(models.Service).returning(
            models.Service.id, sort_by_parameter_order=True), services).scalars().all()
        conn.execute(sa.insert(models.ComputeNode), [
            {"uuid": str(uuid.uuid4()), "service_id": sid, "host": h,
             "hypervisor_hostname": h, "hypervisor_type": "fake", "hypervisor_version": 1000,
             "vcpus": 64, "memory_mb": 262144, "local_gb": 4000, "disk_available_least": 4000,
             "cpu_allocation_ratio": 4.0, "ram_allocation_ratio": 1.0,
             "disk_allocation_ratio": 1.0, "reserved_host_memory_mb": 0,
             "reserved_host_disk_mb": 0, "reserved_host_cpus": 0, "generation": 0,
             "disabled": False, "availability_zone": ZONE, "created_at": now, "deleted": 0}
            for sid, h in zip(ids, hosts, strict=True)])
    return hosts


def select_destinations(report: Report, dep: BenchDeployment, counts: tuple[int, ...],
                        runs: int) -> None:
    scheduler = scheduler_rpcapi.SchedulerAPI()
    ctx = nl_context.get_admin_context()
    snapshot = _flavor_snapshot(dep)
    svc = models.Service.__table__
    inserted: list[str] = []
    targets = {1000: 0.020, 10000: 0.100}
    for count in counts:
        inserted += _insert_hosts(dep, count - len(inserted), f"sched{len(inserted)}")
        with dep.engine.begin() as conn:  # every inserted host freshly "up"
            conn.execute(svc.update().where(svc.c.host.in_(inserted))
                         .values(last_seen_up=_now()))
        samples = []
        for index in range(runs + 2):
            consumer = str(uuid.uuid4())
            spec = RequestSpec(project_id="bench", user_id="bench", flavor=snapshot,
                               availability_zone=ZONE, instance_uuid=consumer)
            start = time.perf_counter()
            scheduler.select_destinations(ctx, spec, [consumer])
            if index >= 2:
                samples.append(time.perf_counter() - start)
        p50 = percentile(samples, 50)
        target = targets.get(count)
        report.add(Row("scale", f"scale: select_destinations ({count} hosts, over RPC)",
                       f"p50 {ms(p50)} / p95 {ms(percentile(samples, 95))}",
                       f"≤ {target * 1000:.0f} ms p50" if target else "",
                       ok=None if target is None else p50 <= target,
                       data={"hosts": count, "p50": p50, "p95": percentile(samples, 95),
                             "runs": len(samples)}))
    dep.retire("none", inserted)


def run(report: Report, dep: BenchDeployment, size) -> None:
    per_host(report, dep, size.agent_hosts)
    many_hosts(report, dep, size.many_hosts, size.many_agents)
    servers_detail(report, dep, size.servers, size.list_runs)
    select_destinations(report, dep, size.sched_hosts, size.sched_runs)
