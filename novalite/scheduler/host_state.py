"""What the scheduler knows about each compute node when it picks hosts.

One HostState per live compute node: the node's inventory and zone, its compute service
(enabled, up, forced down) and the allocations on it (used resources, instances).
Filters and weighers only read these; the engine updates one with
:meth:`HostState.consume` while it claims, so later instances of the same request (and
concurrent requests of this process) see what was taken.

The scheduler keeps the HostStates in memory between requests (:class:`HostStateCache`,
used through :func:`get_host_states`) and each request reads only what changed, with
narrow Core selects:

* compute nodes and compute services stamped (``updated_at``, else ``created_at``)
  since the previous read started, less CHANGE_SLACK; once every SWEEP_INTERVAL, since
  the previous such sweep less SWEEP_SLACK (commits that land late, clocks that differ).
  Every write stamps updated_at (the models' onupdate, the generation bump of every
  claim, release and move included). Rows read before cost only their id and stamps;
* the allocations of the nodes whose generation moved (every change of a node's
  allocations or inventory moves it), read after the node rows, so the usage kept is
  never older than the generation kept with it;
* count and sum of ids of the live nodes and services, which catch a row added or
  removed out of sight (a late commit, a hard delete): then everything is read again,
  as it is every [scheduler] host_state_resync_interval seconds.

Whether a service is up depends on the clock too: it is recomputed for every host when
the earliest heartbeat deadline passes. Nothing here is needed for correctness under
concurrency (claims are atomic in the database, a lost claim falls to the next host);
it keeps the filters' view, and so NoValidHost's explanation, current.

Instance membership (HostState.instance_uuids, for the same_host / different_host
hints) is not kept: :func:`with_instances` reads it per request, for the hinted
instances only.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime
import enum
import logging
import threading
import time
from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy import orm

from novalite import servicegroup
from novalite.conf import CONF
from novalite.context import RequestContext
from novalite.db import allocations, models
from novalite.db import api as db_api

LOG = logging.getLogger(__name__)

# A writer stamps updated_at before it commits, and controller clocks differ a little:
# each read also looks at rows stamped up to CHANGE_SLACK before the previous read
# started, and at least every SWEEP_INTERVAL seconds up to SWEEP_SLACK before the
# previous such sweep (a commit that late is seen within a second instead of at once).
CHANGE_SLACK = datetime.timedelta(seconds=0.2)
SWEEP_SLACK = datetime.timedelta(seconds=2)
SWEEP_INTERVAL = 1.0
# With more changed nodes than this, usage is summed for all nodes (no long IN list).
USAGE_IN_LIMIT = 500

# One lock for consume()/unconsume(): concurrent requests of this process share the
# cached HostStates, and `used[rc] += n` is not atomic across threads.
_CONSUME_LOCK = threading.Lock()


@dataclasses.dataclass
class HostState:
    """One compute node as the filters and weighers see it."""

    node_id: int
    node_uuid: str
    host: str
    nodename: str
    availability_zone: str
    generation: int = 0
    hypervisor_type: str | None = None
    # The compute service of the host; has_service False when it never registered.
    has_service: bool = True
    service_disabled: bool = False
    service_disabled_reason: str | None = None
    service_up: bool = True
    forced_down: bool = False
    node_disabled: bool = False
    total: dict[str, int] = dataclasses.field(default_factory=dict)
    used: dict[str, int] = dataclasses.field(default_factory=dict)
    # Live instances holding an allocation on the node (what placement would count).
    num_instances: int = 0
    # Filled per request for the instances a hint names (with_instances), plus those
    # this process placed on the host since its state was last read.
    instance_uuids: set[str] = dataclasses.field(default_factory=set)

    @property
    def free(self) -> dict[str, int]:
        """Capacity left per resource (negative when a ratio was lowered under usage)."""
        return {rc: self.total.get(rc, 0) - self.used.get(rc, 0)
                for rc in allocations.RESOURCES}

    @property
    def name(self) -> str:
        """How the host is named in explanations: host, or host/node when they differ."""
        return self.host if self.nodename == self.host else f"{self.host}/{self.nodename}"

    def consume(self, resources: dict[str, int], instance_uuid: str | None = None) -> None:
        """Account a claim on this host (made, or being made) by this process."""
        with _CONSUME_LOCK:
            for rc in allocations.RESOURCES:
                self.used[rc] = self.used.get(rc, 0) + int(resources.get(rc, 0))
            if instance_uuid is not None and instance_uuid not in self.instance_uuids:
                # A new set: copies made by with_instances() may share the old one.
                self.instance_uuids = self.instance_uuids | {instance_uuid}
                self.num_instances += 1

    def unconsume(self, resources: dict[str, int], instance_uuid: str | None = None) -> None:
        """Undo consume() after the claim it announced failed."""
        with _CONSUME_LOCK:
            for rc in allocations.RESOURCES:
                self.used[rc] = self.used.get(rc, 0) - int(resources.get(rc, 0))
            if instance_uuid is not None and instance_uuid in self.instance_uuids:
                self.instance_uuids = self.instance_uuids - {instance_uuid}
                self.num_instances -= 1


# -- narrow reads -----------------------------------------------------------------------

_NODE = models.ComputeNode.__table__
_SERVICE = models.Service.__table__
_ALLOC = models.Allocation.__table__
_INSTANCE = models.Instance.__table__

_NODE_COLUMNS = (
    _NODE.c.id, _NODE.c.updated_at, _NODE.c.created_at, _NODE.c.uuid, _NODE.c.service_id,
    _NODE.c.host, _NODE.c.hypervisor_hostname, _NODE.c.hypervisor_type,
    _NODE.c.availability_zone, _NODE.c.disabled, _NODE.c.generation, _NODE.c.deleted,
    # What allocations.inventory() reads.
    _NODE.c.vcpus, _NODE.c.memory_mb, _NODE.c.local_gb, _NODE.c.cpu_allocation_ratio,
    _NODE.c.ram_allocation_ratio, _NODE.c.disk_allocation_ratio,
    _NODE.c.reserved_host_cpus, _NODE.c.reserved_host_memory_mb,
    _NODE.c.reserved_host_disk_mb)
# What servicegroup.is_up() reads, and what ComputeFilter reports.
_SERVICE_COLUMNS = (
    _SERVICE.c.id, _SERVICE.c.updated_at, _SERVICE.c.created_at, _SERVICE.c.host,
    _SERVICE.c.disabled, _SERVICE.c.disabled_reason, _SERVICE.c.forced_down,
    _SERVICE.c.last_seen_up, _SERVICE.c.deleted)
_COMPUTE_SERVICE = _SERVICE.c.binary == db_api.COMPUTE_BINARY

# The cached rows: plain named tuples (cheap to compare, and what inventory() and
# servicegroup.is_up() read by attribute).
_NodeRow = collections.namedtuple("_NodeRow", [c.name for c in _NODE_COLUMNS])
_ServiceRow = collections.namedtuple("_ServiceRow", [c.name for c in _SERVICE_COLUMNS])
# Columns a window row always carries, first and in this order (the others only when
# the row is fresh).
_ALWAYS = ("id", "updated_at", "created_at")


def _window(columns: tuple[Any, ...], *where: Any) -> sa.Select:
    """Rows (deleted ones too: a soft delete stamps updated_at) stamped at or after
    :since, first column "fresh": stamped at or after :prev, the start of the previous
    read. Only fresh rows carry every column: the others were almost all read last time,
    so they cost their id and stamps, and the few the cache has not seen with that
    stamp (a commit that landed after the previous read) are read again by id."""
    if tuple(col.name for col in columns[:len(_ALWAYS)]) != _ALWAYS:
        raise ValueError(f"the columns must start with {_ALWAYS}")
    table = columns[0].table
    stamp = sa.func.coalesce(table.c.updated_at, table.c.created_at)
    fresh = stamp >= sa.bindparam("prev")
    return sa.select(fresh.label("fresh"), *(
        col if col.name in _ALWAYS else sa.case((fresh, col)).label(col.name)
        for col in columns)).where(stamp >= sa.bindparam("since"), *where)


# Built once: thousands of requests run the same few statements.
_ALL_NODES = sa.select(*_NODE_COLUMNS).where(_NODE.c.deleted == 0)
_ALL_SERVICES = sa.select(*_SERVICE_COLUMNS).where(
    _COMPUTE_SERVICE, _SERVICE.c.deleted == 0).order_by(_SERVICE.c.id)
_NODE_WINDOW = _window(_NODE_COLUMNS)
_SERVICE_WINDOW = _window(_SERVICE_COLUMNS, _COMPUTE_SERVICE)
_IDS = sa.bindparam("ids", expanding=True)
_NODES_BY_ID = sa.select(*_NODE_COLUMNS).where(_NODE.c.id.in_(_IDS))
_SERVICES_BY_ID = sa.select(*_SERVICE_COLUMNS).where(_SERVICE.c.id.in_(_IDS))
_USAGE = db_api.COMPUTE_NODE_USAGE
_USAGE_OF = _USAGE.where(models.Allocation.compute_node_id.in_(_IDS))


def _changed_rows(session: orm.Session, window: sa.Select, by_id: sa.Select,
                  make: Any, cached: dict[int, Any], since: datetime.datetime,
                  prev: datetime.datetime) -> list[Any]:
    """The rows of `window` that are new or differ from `cached`, as `make` tuples."""
    out, late = [], []
    # fetchall: iterating the result would fetch row by row; thousands of rows may sit
    # in the window after a burst of writes.
    for fresh, *values in session.execute(window, {"since": since, "prev": prev}).all():
        if fresh:
            record = make._make(values)
            if cached.get(record.id) != record:
                out.append(record)
        else:
            row_id, updated_at, created_at = values[:3]  # _ALWAYS, in that order
            old = cached.get(row_id)
            if old is None or old.updated_at != updated_at or old.created_at != created_at:
                late.append(row_id)
    if late:
        out += [make._make(row) for row in session.execute(by_id, {"ids": late})]
    return out


def _counts() -> sa.Select:
    """Count and sum of ids of the live nodes and of the live compute services."""
    nodes = (sa.select(sa.func.count().label("n"),
                       sa.func.coalesce(sa.func.sum(_NODE.c.id), 0).label("s"))
             .where(_NODE.c.deleted == 0).subquery())
    services = (sa.select(sa.func.count().label("n"),
                          sa.func.coalesce(sa.func.sum(_SERVICE.c.id), 0).label("s"))
                .where(_COMPUTE_SERVICE, _SERVICE.c.deleted == 0).subquery())
    return (sa.select(nodes.c.n, nodes.c.s, services.c.n, services.c.s)
            .select_from(nodes.join(services, sa.true())))


_COUNTS = _counts()


def _read_usage(session: orm.Session, node_ids: Iterable[int] | None
                ) -> dict[int, tuple[dict[str, int], int]]:
    """{node id: (used per resource, live instances allocated)}; nodes without
    allocations are left out. node_ids None: every node."""
    if node_ids is None:
        rows = session.execute(_USAGE).all()
    else:
        rows = session.execute(_USAGE_OF, {"ids": sorted(node_ids)}).all()
    return {node_id: ({"vcpus": int(vcpus), "memory_mb": int(memory_mb),
                       "disk_gb": int(disk_gb)}, int(instances))
            for node_id, vcpus, memory_mb, disk_gb, instances in rows}


def _up_deadline(service: Any, now: datetime.datetime,
                 down: datetime.timedelta) -> datetime.datetime | None:
    """When servicegroup.is_up(service) may next change by the clock alone (None: not
    before the row changes): the heartbeat's expiry, or a future heartbeat's start."""
    if service is None or service.forced_down:
        return None
    last = service.last_seen_up or service.updated_at or service.created_at
    if last is None:
        return None
    if now < last - down:
        return last - down
    if now <= last + down:
        return last + down + datetime.timedelta(microseconds=1)
    return None


class Refresh(enum.Enum):
    """How the last HostStateCache.get() read the database."""

    FULL = "full"    # every node, service and allocation sum
    DELTA = "delta"  # the rows changed since the previous read


class HostStateCache:
    """Every live compute node's HostState, kept between requests; see the module
    docstring for what each get() reads. Thread-safe; one per scheduler process
    (:func:`get_host_states`), or one per test."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.last_refresh: Refresh | None = None
        self._reset()

    def _reset(self) -> None:
        # What the cache was built against: another engine or zone default means another
        # world (tests switch databases; dispose_engine after a fork).
        self._engine: Any = None
        self._default_zone: str | None = None
        self._nodes: dict[int, Any] = {}
        self._services: dict[int, Any] = {}
        self._service_by_host: dict[str, int] = {}
        self._nodes_by_host: dict[str, set[int]] = {}
        self._usage: dict[int, tuple[dict[str, int], int]] = {}
        self._states: dict[int, HostState] = {}
        # The states by node id, and each one's index there (None: to be rebuilt).
        self._ordered: list[HostState] | None = None
        self._index: dict[int, int] = {}
        # The scheduler's clock when the previous read started; monotonic clock of its
        # start and of the last FULL read.
        self._read_at: datetime.datetime | None = None
        self._read_mono = 0.0
        self._full_at = 0.0
        # The same for the last read that swept SWEEP_SLACK (a FULL one counts).
        self._swept_at: datetime.datetime | None = None
        self._swept_mono = 0.0
        # service_up of every state was computed at _up_now with this down time; the
        # earliest moment one may flip by the clock alone is _up_deadline.
        self._up_now: datetime.datetime | None = None
        self._up_down: datetime.timedelta | None = None
        self._up_deadline: datetime.datetime | None = None

    def clear(self) -> None:
        """Forget everything: the next get() reads the whole world again."""
        with self._lock:
            self._reset()

    def get(self, ctx: RequestContext,
            now: datetime.datetime | None = None) -> list[HostState]:
        """A HostState for every live compute node, ordered by node id, current as of
        this call. The states are shared with concurrent callers: read them, or change
        them only through consume()/unconsume()."""
        arrived = time.monotonic()
        with self._lock:
            # Taken under the lock, so that concurrent callers see the clock move forward.
            now = now or servicegroup.utcnow()
            # A read that started after this call arrived has seen everything committed
            # before it: concurrent requests share it instead of reading again.
            if self._engine is None or self._read_mono <= arrived:
                try:
                    self._refresh(now)
                except BaseException:
                    self._reset()  # half-applied changes: start over next time
                    raise
            self._check_up(now)
            if self._ordered is None:
                self._ordered = [self._states[i] for i in sorted(self._states)]
                self._index = {state.node_id: i for i, state in enumerate(self._ordered)}
            return list(self._ordered)

    # -- reading ---------------------------------------------------------------------

    def _refresh(self, now: datetime.datetime) -> None:
        engine = db_api.get_engine()
        started, mono = servicegroup.utcnow(), time.monotonic()
        self._read_mono = mono
        interval = CONF.scheduler.host_state_resync_interval
        full = (engine is not self._engine or self._read_at is None
                or self._swept_at is None
                or CONF.default_availability_zone != self._default_zone
                or started < self._read_at  # the clock went back: the window means nothing
                or interval == 0 or mono - self._full_at >= interval)
        sweep = full or mono - self._swept_mono >= SWEEP_INTERVAL
        with db_api.transaction(writer=False) as session:
            if not full:
                since = self._read_at - CHANGE_SLACK
                if sweep:
                    since = min(since, self._swept_at - SWEEP_SLACK)
                if not self._read_changes(session, self._read_at, since, now):
                    LOG.debug("Host states: rows appeared or vanished out of sight; "
                              "reading everything again")
                    full = True
            if full:
                self._read_all(session, now)
        self._engine, self._default_zone = engine, CONF.default_availability_zone
        self._read_at = started
        if sweep:
            self._swept_at, self._swept_mono = started, mono
        if full:
            self._full_at = mono
        self.last_refresh = Refresh.FULL if full else Refresh.DELTA

    def _read_all(self, session: orm.Session, now: datetime.datetime) -> None:
        node_rows = {row.id: _NodeRow._make(row)
                     for row in session.execute(_ALL_NODES).all()}
        service_rows = {row.id: _ServiceRow._make(row)
                        for row in session.execute(_ALL_SERVICES).all()}
        usage = _read_usage(session, None)  # after the nodes: never older than them
        self._nodes, self._services, self._usage = node_rows, service_rows, usage
        self._service_by_host = {row.host: sid for sid, row in service_rows.items()}
        self._nodes_by_host = {}
        for node_id, row in node_rows.items():
            self._nodes_by_host.setdefault(row.host, set()).add(node_id)
        self._states, self._ordered = {}, None
        self._up_deadline = None
        self._build(node_rows, now)
        self._up_now = now
        self._up_down = datetime.timedelta(seconds=CONF.service_down_time)

    def _read_changes(self, session: orm.Session, prev: datetime.datetime,
                      since: datetime.datetime, now: datetime.datetime) -> bool:
        """Apply the rows stamped at or after `since` that are new or changed since the
        previous read (which started at `prev`); False when the counts show a change the
        window missed (the caller then reads everything)."""
        # Nodes first, then their usage: the usage kept is never older than the
        # generation kept with it, so a later claim always shows as a new generation.
        changed_nodes = _changed_rows(session, _NODE_WINDOW, _NODES_BY_ID, _NodeRow,
                                      self._nodes, since, prev)
        changed_services = _changed_rows(session, _SERVICE_WINDOW, _SERVICES_BY_ID,
                                         _ServiceRow, self._services, since, prev)
        dirty: set[int] = set()
        for row in changed_services:
            old = self._services.pop(row.id, None)
            for service in (old, row):
                if service is not None:
                    dirty |= self._nodes_by_host.get(service.host, set())
                    if self._service_by_host.get(service.host) == row.id:
                        del self._service_by_host[service.host]
            if not row.deleted:
                self._services[row.id] = row
                self._service_by_host[row.host] = row.id
        needs_usage: set[int] = set()
        for row in changed_nodes:
            old = self._nodes.pop(row.id, None)
            if old is not None:
                self._nodes_by_host.get(old.host, set()).discard(row.id)
            if row.deleted:
                self._usage.pop(row.id, None)
                if self._states.pop(row.id, None) is not None:
                    self._ordered = None
                continue
            self._nodes[row.id] = row
            self._nodes_by_host.setdefault(row.host, set()).add(row.id)
            if old is None or old.generation != row.generation:
                needs_usage.add(row.id)
            dirty.add(row.id)
        if needs_usage:
            wide = len(needs_usage) > USAGE_IN_LIMIT
            usage = _read_usage(session, None if wide else needs_usage)
            for node_id in needs_usage:
                self._usage[node_id] = usage.get(node_id, ({}, 0))
        if not self._counts_match(session):
            return False
        self._build({i: self._nodes[i] for i in dirty if i in self._nodes}, now)
        return True

    def _counts_match(self, session: orm.Session) -> bool:
        row = session.execute(_COUNTS).one()
        return (tuple(int(v) for v in row)
                == (len(self._nodes), sum(self._nodes), len(self._services),
                    sum(self._services)))

    # -- building ----------------------------------------------------------------------

    def _build(self, rows: dict[int, Any], now: datetime.datetime) -> None:
        """New HostStates for these node rows (never changed in place: a concurrent
        request may be filtering the old ones)."""
        if not rows:
            return
        down = datetime.timedelta(seconds=CONF.service_down_time)
        zone = CONF.default_availability_zone
        deadline = self._up_deadline
        for node_id, node in rows.items():
            service = self._service_of(node)
            used, instances = self._usage.get(node_id, ({}, 0))
            state = HostState(
                node_id=node_id, node_uuid=node.uuid, host=node.host,
                nodename=node.hypervisor_hostname,
                availability_zone=node.availability_zone or zone,
                generation=node.generation, hypervisor_type=node.hypervisor_type,
                has_service=service is not None,
                service_disabled=bool(service.disabled) if service is not None else False,
                service_disabled_reason=(service.disabled_reason if service is not None
                                         else None),
                service_up=servicegroup.is_up(service, now) if service is not None else False,
                forced_down=bool(service.forced_down) if service is not None else False,
                node_disabled=bool(node.disabled), total=allocations.inventory(node),
                used={rc: int(used.get(rc, 0)) for rc in allocations.RESOURCES},
                num_instances=instances)
            if node_id not in self._states:
                self._ordered = None  # a new node: rebuild the ordered list
            elif self._ordered is not None:
                self._ordered[self._index[node_id]] = state
            self._states[node_id] = state
            flip = _up_deadline(service, now, down)
            if flip is not None and (deadline is None or flip < deadline):
                deadline = flip
        self._up_deadline = deadline

    def _service_of(self, node: Any) -> Any:
        """The node's compute service: by service_id, else the live one of its host."""
        service = self._services.get(node.service_id) if node.service_id else None
        if service is None:
            service_id = self._service_by_host.get(node.host)
            service = self._services.get(service_id) if service_id else None
        return service

    def _check_up(self, now: datetime.datetime) -> None:
        """Recompute service_up for every host when a heartbeat deadline has passed (or
        `now` went back, or service_down_time changed); otherwise it still holds."""
        down = datetime.timedelta(seconds=CONF.service_down_time)
        if (self._up_now is not None and self._up_down == down and now >= self._up_now
                and (self._up_deadline is None or now < self._up_deadline)):
            self._up_now = now
            return
        deadline = None
        for state in self._states.values():
            service = self._service_of(self._nodes[state.node_id])
            # In place, a bool: a concurrent request sees either value, both true once.
            state.service_up = servicegroup.is_up(service, now) if service else False
            flip = _up_deadline(service, now, down)
            if flip is not None and (deadline is None or flip < deadline):
                deadline = flip
        self._up_now, self._up_down, self._up_deadline = now, down, deadline


_CACHE = HostStateCache()


def get_host_states(ctx: RequestContext,
                    now: datetime.datetime | None = None) -> list[HostState]:
    """A HostState for every live compute node, ordered by node id, from this process's
    cache (refreshed with what changed since the previous call)."""
    return _CACHE.get(ctx, now)


def clear_cache() -> None:
    """Drop this process's cached host states (the next request reads everything)."""
    _CACHE.clear()


# -- instance membership ------------------------------------------------------------------

def instances_by_node(ctx: RequestContext, hosts: Sequence[HostState],
                      instance_uuids: Iterable[str] | None = None) -> dict[int, set[str]]:
    """Live instance uuids per node id of `hosts`: by instances.host/node, plus every live
    instance holding an allocation on the node (one being built may not have its host
    set yet). With instance_uuids, only those instances are looked for."""
    by_host_node: dict[tuple[str, str | None], int] = {}
    by_host: dict[str, list[int]] = {}
    for state in hosts:
        by_host_node[(state.host, state.nodename)] = state.node_id
        by_host.setdefault(state.host, []).append(state.node_id)
    out: dict[int, set[str]] = {state.node_id: set() for state in hosts}
    wanted = None if instance_uuids is None else sorted(set(instance_uuids))
    if wanted == []:
        return out
    placed = sa.select(_INSTANCE.c.uuid, _INSTANCE.c.host, _INSTANCE.c.node).where(
        _INSTANCE.c.deleted == 0, _INSTANCE.c.host.is_not(None))
    allocated = sa.select(_ALLOC.c.consumer_uuid, _ALLOC.c.compute_node_id).join(
        _INSTANCE, sa.and_(_INSTANCE.c.uuid == _ALLOC.c.consumer_uuid,
                           _INSTANCE.c.deleted == 0))
    if wanted is not None:
        placed = placed.where(_INSTANCE.c.uuid.in_(wanted))
        allocated = allocated.where(_ALLOC.c.consumer_uuid.in_(wanted))
    with db_api.transaction(writer=False) as session:
        for uuid, host, node in session.execute(placed):
            node_id = by_host_node.get((host, node))
            if node_id is not None:
                out[node_id].add(uuid)
            else:  # node unknown or not recorded: count it on every node of the host
                for node_id in by_host.get(host, []):
                    out[node_id].add(uuid)
        for uuid, node_id in session.execute(allocated):
            if node_id in out:
                out[node_id].add(uuid)
    return out


def with_instances(ctx: RequestContext, hosts: Sequence[HostState],
                   instance_uuids: Iterable[str]) -> list[HostState]:
    """`hosts` where the hosts running any of `instance_uuids` are copies that list them
    in instance_uuids (the cached states are never given per-request members). The
    copies share `used` with the originals, so a claim still shows in the cache."""
    members = instances_by_node(ctx, hosts, instance_uuids)
    return [dataclasses.replace(state, instance_uuids=state.instance_uuids | members[
        state.node_id]) if members.get(state.node_id) else state for state in hosts]
