"""The floor, measured in the same run: what one RPC call, one cast and one guarded
UPDATE + commit cost on this broker and this database, with nothing of novalite's
logic in the way. A flow can be no faster than its hops at these prices.

Also two "real hop" rows that show what novalite adds per hop: the conductor's
instance_update over RPC (what a compute agent pays for every state change) and
novalite.db.api.instance_update in this process (the ORM path of the same UPDATE).
"""

from __future__ import annotations

import dataclasses
import threading
import time
import uuid

import oslo_messaging as messaging
import sqlalchemy as sa

from bench.report import Report, Row, ms, percentile
from novalite import context as nl_context
from novalite import rpc
from novalite.conductor import rpcapi as conductor_rpcapi
from novalite.conf import CONF

TOPIC = "bench-floor"


@dataclasses.dataclass
class Floor:
    call: float  # p50 seconds of an RPC call round trip
    cast: float  # p50 seconds from cast() to the server's endpoint running
    commit: float  # p50 seconds of a guarded single-row UPDATE + commit

    def of(self, calls: int, casts: int, commits: int) -> float:
        return calls * self.call + casts * self.cast + commits * self.commit

    @classmethod
    def of_samples(cls, calls: list[float], casts: list[float],
                   commits: list[float]) -> Floor:
        return cls(percentile(calls, 50), percentile(casts, 50), percentile(commits, 50))


class _Endpoint:
    target = messaging.Target(version="1.0")

    def __init__(self) -> None:
        self.arrived = threading.Event()
        self.delay = 0.0

    @rpc.expose
    def echo(self, ctxt, value):
        return value

    @rpc.expose
    def sent_at(self, ctxt, t):
        self.delay = time.perf_counter() - t
        self.arrived.set()


def init_rpc(transport_url: str, db_url: str) -> None:
    """This process as an RPC peer of the deployment (and a database client)."""
    CONF([], project="novalite", prog="novalite-bench", default_config_files=[])
    rpc.register_opts(CONF)
    CONF.set_override("transport_url", transport_url)
    CONF.set_override("connection", db_url, group="database")
    rpc.init(CONF)


class Probe:
    """A tiny RPC server in this process and a one-row table on the deployment's
    database: floor samples whenever asked, so that a flow and its floor can be measured
    under the same load (bench.flows samples between its runs)."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self.endpoint = _Endpoint()
        self.server = rpc.get_server(TOPIC, "bench", "1.0", [self.endpoint])
        self.server.start()
        self.client = rpc.get_client(TOPIC, "1.0").prepare(server="bench", timeout=10)
        self.ctxt = nl_context.get_admin_context()
        with engine.begin() as conn:
            conn.execute(sa.text("CREATE TABLE IF NOT EXISTS bench_floor "
                                 "(id integer PRIMARY KEY, state varchar(32), n integer)"))
            conn.execute(sa.text("INSERT INTO bench_floor VALUES (1, 'a', 0) "
                                 "ON CONFLICT (id) DO NOTHING"))
        self._state = "a"
        self.sample(5)  # connections, queues, reply queue and pool set up

    def sample(self, runs: int) -> tuple[list[float], list[float], list[float]]:
        """(call round trips, cast deliveries, guarded UPDATE + COMMITs), `runs` each."""
        calls, casts, commits = [], [], []
        for _ in range(runs):
            start = time.perf_counter()
            self.client.call(self.ctxt, "echo", value="x" * 64)
            calls.append(time.perf_counter() - start)
        for _ in range(runs):
            self.endpoint.arrived.clear()
            self.client.cast(self.ctxt, "sent_at", t=time.perf_counter())
            if not self.endpoint.arrived.wait(10):
                raise TimeoutError("a cast did not arrive")
            casts.append(self.endpoint.delay)
        stmt = sa.text("UPDATE bench_floor SET state = :new, n = n + 1 "
                       "WHERE id = 1 AND state = :old")  # the guard: state = <expected>
        with self.engine.connect() as conn:
            for _ in range(runs):
                new = "b" if self._state == "a" else "a"
                start = time.perf_counter()
                result = conn.execute(stmt, {"new": new, "old": self._state})
                conn.commit()
                commits.append(time.perf_counter() - start)
                assert result.rowcount == 1
                self._state = new
        return calls, casts, commits

    def stop(self) -> None:
        self.server.stop()
        self.server.wait()


def _real_hops(runs: int) -> tuple[list[float], list[float]]:
    """conductor.instance_update over RPC, and db.instance_update here, each guarded
    on task_state, on an instance row of their own."""
    from novalite.db import api as db

    ctxt = nl_context.get_admin_context()
    row = db.instance_create(ctxt, {"uuid": str(uuid.uuid4()), "name": "floor",
                                    "project_id": "bench", "user_id": "bench",
                                    "vm_state": "active", "task_state": None})
    conductor = conductor_rpcapi.ConductorAPI()
    over_rpc, local = [], []
    for index in range(runs + 5):
        start = time.perf_counter()
        conductor.instance_update(ctxt, row.uuid, {"progress": index},
                                  {"task_state": [None]})
        if index >= 5:
            over_rpc.append(time.perf_counter() - start)
    for index in range(runs + 5):
        start = time.perf_counter()
        db.instance_update(ctxt, row.uuid, {"progress": index}, expected_task_state=None)
        if index >= 5:
            local.append(time.perf_counter() - start)
    db.instance_destroy(ctxt, row.uuid)
    return over_rpc, local


def http_hop(report: Report, api, runs: int) -> None:
    """The API's own transport: GET of the version document (no auth, no database),
    through waitress and a keep-alive HTTP client."""
    samples = []
    for index in range(runs + 5):
        start = time.perf_counter()
        api("GET", "/").raise_for_status()
        if index >= 5:
            samples.append(time.perf_counter() - start)
    report.add(Row("floor", "hop: HTTP GET /v2.1/ (version document)",
                   f"p50 {ms(percentile(samples, 50))} / p95 {ms(percentile(samples, 95))}",
                   data={"p50": percentile(samples, 50), "p95": percentile(samples, 95)}))


def run(report: Report, probe: Probe, runs: int) -> Floor:
    calls, casts, commits = probe.sample(runs)
    floor = Floor.of_samples(calls, casts, commits)
    for what, samples in (("floor: RPC call round trip", calls),
                          ("floor: RPC cast delivery", casts),
                          ("floor: guarded UPDATE + commit", commits)):
        report.add(Row("floor", what, f"p50 {ms(percentile(samples, 50))} / "
                       f"p95 {ms(percentile(samples, 95))}",
                       data={"p50": percentile(samples, 50), "p95": percentile(samples, 95),
                             "runs": len(samples)}))
    over_rpc, local = _real_hops(runs)
    report.add(Row("floor", "hop: conductor.instance_update call",
                   f"p50 {ms(percentile(over_rpc, 50))} / p95 {ms(percentile(over_rpc, 95))}",
                   ratio=percentile(over_rpc, 50) / floor.of(1, 0, 1),
                   data={"p50": percentile(over_rpc, 50), "p95": percentile(over_rpc, 95),
                         "floor": floor.of(1, 0, 1)}))
    report.add(Row("floor", "hop: db.instance_update in-process",
                   f"p50 {ms(percentile(local, 50))} / p95 {ms(percentile(local, 95))}",
                   ratio=percentile(local, 50) / floor.commit,
                   data={"p50": percentile(local, 50), "p95": percentile(local, 95),
                         "floor": floor.commit}))
    return floor
