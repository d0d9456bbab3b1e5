"""Where a hop's time goes, in this process against a throwaway PostgreSQL database:
the conductor's persistence functions (statements per call, p50) with and without
the pool's pre-ping, a hand-written equivalent of action_event_start, and the
scheduler's select_destinations split into its parts at several host counts.

    python -m bench.micro [--runs 200] [--hosts 1000 10000]

Not part of the benchmark table: it backs the analysis in docs/performance.md.
"""

from __future__ import annotations

import argparse
import time
import uuid
from collections.abc import Callable

import sqlalchemy as sa

from bench import deploy
from bench.report import percentile
from novalite import context as nl_context
from novalite.conf import CONF
from novalite.db import api as db
from novalite.db import models
from novalite.objects.request_spec import RequestSpec
from novalite.scheduler import engine, filters, host_state, weights


class Counter:
    def __init__(self, engine_: sa.Engine) -> None:
        self.statements = 0
        sa.event.listen(engine_, "before_cursor_execute", self._count)

    def _count(self, *args) -> None:
        self.statements += 1


def timed(func: Callable[[int], object], runs: int, counter: Counter) -> tuple[float, float]:
    """(p50 ms, statements per call) of func(i) for i in 0..runs-1, after 5 warm-ups
    (runs..runs+4: every call gets an index of its own)."""
    for i in range(runs, runs + 5):
        func(i)
    before, samples = counter.statements, []
    for i in range(runs):
        start = time.perf_counter()
        func(i)
        samples.append(time.perf_counter() - start)
    return percentile(samples, 50) * 1000, (counter.statements - before) / runs


def persistence(runs: int) -> None:
    ctx = nl_context.RequestContext(user_id="bench", project_id="bench", is_admin=True)
    eng = db.get_engine()
    counter = Counter(eng)
    # One instance with one action per call (an action has a handful of events).
    many = []
    for _ in range(runs + 5):
        row = db.instance_create(ctx, {"uuid": str(uuid.uuid4()), "vm_state": "active",
                                       "task_state": None, "name": "micro"})
        db.action_start(ctx, row.uuid, "stop")
        many.append(row.uuid)
    inst = db.instance_get(ctx, many[0])
    mig = db.migration_create(ctx, {"instance_uuid": inst.uuid, "migration_type": "resize",
                                    "status": "pre-migrating", "source_compute": "a"})

    def event_start_core(i: int) -> None:
        act, ev = models.InstanceAction.__table__, models.InstanceActionEvent.__table__
        with eng.begin() as conn:
            found = conn.scalar(sa.select(act.c.id).where(
                act.c.instance_uuid == many[i], act.c.request_id == ctx.request_id)
                .order_by(act.c.id.desc()).limit(1))
            conn.execute(ev.insert().values(action_id=found, event="e",
                                            start_time=sa.func.now()))

    def update_core(i: int) -> None:
        table = models.Instance.__table__
        with eng.begin() as conn:
            conn.execute(table.update().where(table.c.uuid == inst.uuid,
                                              table.c.task_state.is_(None))
                         .values(progress=i))

    cases = {
        "instance_get": lambda i: db.instance_get(ctx, inst.uuid),
        "instance_update (guarded)": lambda i: db.instance_update(
            ctx, inst.uuid, {"progress": i}, expected_task_state=None),
        "action_event_start": lambda i: db.action_event_start(ctx, many[i], "e"),
        "action_event_finish": lambda i: db.action_event_finish(ctx, many[i], "e"),
        "migration_update": lambda i: db.migration_update(ctx, mig.id,
                                                          {"memory_processed": i}),
        "service_heartbeat": lambda i: db.service_heartbeat(ctx, "h", "novalite-compute",
                                                            "compute", 1),
        "core: guarded UPDATE": update_core,
        "core: action_event_start": event_start_core,
    }
    print(f"{'function':32} {'p50 ms':>8} {'no ping':>8} {'stmts':>6}")
    for name, func in cases.items():
        with_ping, statements = timed(func, runs, counter)
        eng.pool._pre_ping = False  # what the same call costs without pool_pre_ping
        without_ping, _ = timed(func, runs, counter)
        eng.pool._pre_ping = True
        print(f"{name:32} {with_ping:8.2f} {without_ping:8.2f} {statements:6.1f}")


def scheduler(host_counts: list[int], runs: int) -> None:
    ctx = nl_context.get_admin_context()
    dep = type("D", (), {"engine": db.get_engine()})()
    from bench.scale import ZONE, _insert_hosts

    flavor = {"vcpus": 1, "memory_mb": 1024, "root_gb": 1, "ephemeral_gb": 0, "swap": 0}
    inserted = 0
    # As the engine ranks: only the best few, not every host.
    limit = (CONF.filter_scheduler.host_subset_size + CONF.scheduler.max_attempts - 1
             + engine.RANK_MARGIN)
    print(f"\n{'hosts':>6} {'first read':>11} {'host states':>12} {'filters+weigh':>14} "
          f"{'claim':>8} {'total':>8}  (p50 ms, in-process; host states from the "
          f"scheduler's cache after a first full read)")
    for count in host_counts:
        _insert_hosts(dep, count - inserted, f"m{inserted}")
        inserted = count
        svc = models.Service.__table__
        with dep.engine.begin() as conn:
            conn.execute(svc.update().values(last_seen_up=sa.func.timezone("UTC",
                                                                           sa.func.now())))
        parts: dict[str, list[float]] = {"states": [], "filter": [], "claim": [],
                                         "total": []}
        host_state.clear_cache()
        t0 = time.perf_counter()
        host_state.get_host_states(ctx)
        first = (time.perf_counter() - t0) * 1000
        for _ in range(runs):
            consumer = str(uuid.uuid4())
            spec = RequestSpec(project_id="bench", user_id="bench", flavor=flavor,
                               availability_zone=ZONE, instance_uuid=consumer)
            t0 = time.perf_counter()
            hosts = host_state.get_host_states(ctx)
            t1 = time.perf_counter()
            run = engine.run_filters(hosts, spec, filters.get_filters())
            ranked = [h for h, _ in weights.weigh_hosts(run.passed, spec, limit=limit)]
            t2 = time.perf_counter()
            engine._try_claims(ctx, consumer, ranked,
                               {"vcpus": 1, "memory_mb": 1024, "disk_gb": 1}, spec)
            t3 = time.perf_counter()
            for name, value in (("states", t1 - t0), ("filter", t2 - t1),
                                ("claim", t3 - t2), ("total", t3 - t0)):
                parts[name].append(value)
        p = {name: percentile(v, 50) * 1000 for name, v in parts.items()}
        print(f"{count:6} {first:11.1f} {p['states']:12.1f} {p['filter']:14.1f} "
              f"{p['claim']:8.1f} {p['total']:8.1f}")


def api_requests(runs: int) -> None:
    """GET /servers/{id} and POST os-stop through the WSGI app in this process (the
    cast goes to a compute queue nobody reads): p50, SQL statements and connection
    checkouts per request."""
    import webob

    from novalite.api import deploy as api_deploy

    CONF.set_override("auth_strategy", "noauth", group="api")
    app = api_deploy.build_app(CONF)
    ctx = nl_context.get_admin_context()
    counter = Counter(db.get_engine())
    db.service_heartbeat(ctx, "micro-host", "novalite-compute", "compute", 1)
    uuids = [db.instance_create(ctx, {"uuid": str(uuid.uuid4()), "name": "api",
                                      "project_id": "admin", "user_id": "admin",
                                      "vm_state": "active", "task_state": None,
                                      "host": "micro-host", "node": "micro-host",
                                      "flavor": {"vcpus": 1, "memory_mb": 512}}).uuid
             for _ in range(runs + 5)]

    def request(method: str, path: str, body: bytes | None = None) -> None:
        req = webob.Request.blank(f"/v2.1{path}", method=method, headers={
            "X-Auth-Token": "admin:admin", "OpenStack-API-Version": "compute 2.90",
            "Content-Type": "application/json"})
        if body is not None:
            req.body = body
        resp = req.get_response(app)
        assert resp.status_int < 300, resp.body[:300]

    cases = {"GET /servers/{id}": lambda i: request("GET", f"/servers/{uuids[i]}"),
             "POST os-stop": lambda i: request("POST", f"/servers/{uuids[i]}/action",
                                               b'{"os-stop": null}')}
    checkouts = [0]  # connections taken from the pool: one per transaction

    def checked_out(*_args: object) -> None:
        checkouts[0] += 1

    sa.event.listen(db.get_engine().pool, "checkout", checked_out)
    print()
    for name, func in cases.items():
        before = checkouts[0]
        p50, statements = timed(func, runs, counter)
        per_request = (checkouts[0] - before) / (runs + 5)  # timed() warms up 5 times
        print(f"API in-process {name:18} p50 {p50:5.2f} ms, {statements:.1f} SQL statements, "
              f"{per_request:.1f} connection checkouts")
    sa.event.remove(db.get_engine().pool, "checkout", checked_out)


def servers_detail(count: int, runs: int) -> None:
    """GET /servers/detail over `count` servers through the WSGI app in this process:
    p50, and where the time goes (cProfile, cumulative, novalite's functions)."""
    import cProfile
    import io
    import pstats

    import webob

    from novalite.api import deploy as api_deploy
    from novalite.db import flavors as flavor_db

    CONF.set_override("auth_strategy", "noauth", group="api")
    app = api_deploy.build_app(CONF)
    ctx = nl_context.get_admin_context()
    flavor = flavor_db.flavor_create(ctx, {"name": "micro", "memory_mb": 1024, "vcpus": 1,
                                            "root_gb": 1})
    snapshot = flavor_db.flavor_snapshot(flavor)
    rows = [{"uuid": str(uuid.uuid4()), "name": f"s{i}", "project_id": "bench-scale",
             "user_id": "bench", "flavor": snapshot, "vm_state": "active",
             "power_state": 1, "host": "h", "node": "h", "metadata_": {"k": "v"},
             "system_metadata": {}, "locked": False, "deleted": 0} for i in range(count)]
    with db.get_engine().begin() as conn:
        conn.execute(sa.insert(models.Instance), rows)

    def get() -> None:
        req = webob.Request.blank(f"/v2.1/servers/detail?all_tenants=1&limit={count}",
                                  headers={"X-Auth-Token": "admin:admin",
                                           "OpenStack-API-Version": "compute 2.90"})
        resp = req.get_response(app)
        assert resp.status_int == 200, resp.body[:300]

    samples = []
    for index in range(runs + 2):
        start = time.perf_counter()
        get()
        if index >= 2:
            samples.append(time.perf_counter() - start)
    print(f"\nGET /servers/detail, {count} servers, in-process: "
          f"p50 {percentile(samples, 50) * 1000:.1f} ms")
    profile = cProfile.Profile()
    profile.enable()
    for _ in range(5):
        get()
    profile.disable()
    out = io.StringIO()
    pstats.Stats(profile, stream=out).sort_stats("cumulative").print_stats(
        "novalite|sqlalchemy/orm/loading|json", 25)
    print(out.getvalue())


def conductor_hop(runs: int) -> None:
    """A compute agent's hop: conductor.instance_update over RPC to a ConductorManager
    served in this process (own topic, throwaway virtual host), split by timestamps
    taken in the handler: request transit, handler, reply transit (with the client's
    deserialisation). Also what deserialising an Instance costs."""
    from novalite import rpc
    from novalite.conductor import manager as conductor_manager
    from novalite.conductor import rpcapi as conductor_rpcapi
    from novalite.objects import base as obj_base
    from novalite.objects.instance import Instance

    marks: dict[str, float] = {}

    class Timed(conductor_manager.ConductorManager):
        @rpc.expose
        def instance_update(self, ctxt, instance_uuid, values, guard):
            marks["in"] = time.perf_counter()
            try:
                return super().instance_update(ctxt, instance_uuid, values, guard)
            finally:
                marks["out"] = time.perf_counter()

        @rpc.expose
        def ping(self, ctxt):
            marks["in"] = marks["out"] = time.perf_counter()
            return "pong"

    conductor_rpcapi.TOPIC = "micro-conductor"
    server = rpc.get_server("micro-conductor", "micro", "1.3", [Timed("micro")])
    server.start()
    try:
        ctx = nl_context.get_admin_context()
        row = db.instance_create(ctx, {"uuid": str(uuid.uuid4()), "vm_state": "active",
                                       "task_state": None, "name": "hop",
                                       "flavor": {"vcpus": 1, "memory_mb": 512},
                                       "system_metadata": {"a": "b"}})
        client = conductor_rpcapi.ConductorAPI()
        calls = {"ping": lambda i: client.ping(ctx),
                 "instance_update": lambda i: client.instance_update(
                     ctx, row.uuid, {"progress": i}, {"task_state": [None]})}
        print()
        for name, call in calls.items():
            parts: dict[str, list[float]] = {"total": [], "go": [], "handler": [],
                                             "back": []}
            for index in range(runs + 10):
                start = time.perf_counter()
                call(index)
                end = time.perf_counter()
                if index >= 10:
                    for part, value in (("total", end - start), ("go", marks["in"] - start),
                                        ("handler", marks["out"] - marks["in"]),
                                        ("back", end - marks["out"])):
                        parts[part].append(value)
            p = {k: percentile(v, 50) * 1000 for k, v in parts.items()}
            print(f"conductor hop {name:16} p50 {p['total']:5.2f} ms = request "
                  f"{p['go']:.2f} + handler {p['handler']:.2f} + reply {p['back']:.2f}")
    finally:
        server.stop()
        server.wait()
        conductor_rpcapi.TOPIC = "conductor"
    primitive = obj_base.to_primitive(Instance.from_db(db.instance_get(ctx, row.uuid)))
    reads, writes = [], []
    for _ in range(runs):
        start = time.perf_counter()
        obj_base.from_primitive(primitive)
        reads.append(time.perf_counter() - start)
        start = time.perf_counter()
        obj_base.to_primitive(Instance.from_db(row))
        writes.append(time.perf_counter() - start)
    print(f"Instance from_primitive p50 {percentile(reads, 50) * 1e6:.0f} µs, "
          f"from_db + to_primitive p50 {percentile(writes, 50) * 1e6:.0f} µs")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.micro")
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--hosts", type=int, nargs="+", default=[100, 1000, 10000])
    parser.add_argument("--servers", type=int, default=1000)
    args = parser.parse_args()
    why = deploy.unreachable()
    if why:
        raise SystemExit(why)
    from novalite import rpc
    from tests.functional.fixtures import RabbitVhost

    database, vhost = deploy.Database(), RabbitVhost()
    url = database.create()
    try:
        CONF([], project="novalite", prog="novalite-bench", default_config_files=[])
        CONF.set_override("connection", url, group="database")
        rpc.register_opts(CONF)
        CONF.set_override("transport_url", vhost.create())
        rpc.init(CONF)
        models.metadata.create_all(db.get_engine())
        persistence(args.runs)
        conductor_hop(args.runs)
        api_requests(args.runs // 2)
        servers_detail(args.servers, max(5, args.runs // 20))
        scheduler(args.hosts, max(5, args.runs // 20))
    finally:
        rpc.cleanup()
        vhost.delete()
        db.dispose_engine()
        database.drop()


if __name__ == "__main__":
    main()
