"""Database access for the services that may open the database (API, conductor,
scheduler, novalite-manage). Compute agents never import this module.

CONTRACT: functions take a RequestContext first, return ORM objects detached from their
session (expire_on_commit=False), and raise novalite exceptions (NotFound subclasses,
Conflict subclasses, and the DBError family in novalite.exception), never SQLAlchemy ones.

Building blocks for other modules:

* :func:`transaction` yields a Session inside one transaction (commit on success,
  rollback on error). Nested calls in the same thread join the outer transaction, so
  a function of this module can be called inside another module's transaction.
* :func:`retry_on_deadlock` retries a whole transaction on deadlocks, serialization
  failures and SQLite's "database is locked".
* Guarded updates (:func:`instance_update`, :func:`migration_update`,
  :func:`instance_transition`) are single compare-and-swap UPDATEs: zero rows changed
  means someone else won, and the caller gets a Conflict, never a silent overwrite.

SQLite is used in WAL mode; writer transactions start with ``BEGIN IMMEDIATE`` so that
concurrent writers queue on the busy timeout instead of failing when a read lock
cannot be upgraded.
"""

from __future__ import annotations

import contextlib
import datetime
import functools
import json
import logging
import math
import os
import random
import threading
import time
import uuid as uuid_lib
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy import orm
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.pool import StaticPool

from novalite import exception, servicegroup, states
from novalite.conf import CONF
from novalite.context import RequestContext
from novalite.db import models

LOG = logging.getLogger(__name__)

COMPUTE_BINARY = "novalite-compute"
SQLITE_BUSY_TIMEOUT_MS = 30000
_WRITER_OPTION = "novalite_writer"

F = TypeVar("F", bound=Callable[..., Any])


class _NoCheck:
    def __repr__(self) -> str:
        return "NO_CHECK"


# Default of the guarded updates' expected_* arguments: no guard on that column.
# (None itself means "must be NULL", as in Nova's expected_task_state=None.)
NO_CHECK: Any = _NoCheck()


_MYSQL_DEADLOCK = {1205, 1213}
_MYSQL_CONNECTION = {1044, 1045, 1049, 2002, 2003, 2005, 2006, 2013}
_PG_DEADLOCK = {"40P01", "40001", "55P03"}


def _translate(err: sa_exc.SQLAlchemyError) -> exception.NovaliteException:
    """Map a SQLAlchemy/DBAPI error to a novalite exception (keeps the message)."""
    orig = getattr(err, "orig", None)
    text = str(orig if orig is not None else err).strip().splitlines()[0][:500]
    code = orig.args[0] if orig is not None and orig.args else None
    pgcode = getattr(orig, "pgcode", None)
    lowered = text.lower()
    if isinstance(err, sa_exc.IntegrityError):
        if (pgcode == "23505" or code == 1062 or "unique" in lowered
                or "duplicate" in lowered):
            return exception.DBDuplicateEntry(reason=text)
        return exception.DBError(reason=text)
    if (pgcode in _PG_DEADLOCK or code in _MYSQL_DEADLOCK or "database is locked" in lowered
            or "deadlock" in lowered):
        return exception.DBDeadlock(reason=text)
    if isinstance(err, sa_exc.DBAPIError) and (
            err.connection_invalidated or code in _MYSQL_CONNECTION
            or (isinstance(err, (sa_exc.OperationalError, sa_exc.InterfaceError))
                and pgcode is None and not isinstance(code, int)
                and "sqlite" not in type(orig).__module__)
            or "unable to open database file" in lowered):
        return exception.DBConnectionError(reason=f"{_safe_url()}: {text}")
    return exception.DBError(reason=text)


def _safe_url() -> str:
    try:
        return make_url(connection_url()).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - only decorates a message
        return "<invalid [database] connection>"


# -- engine and sessions -------------------------------------------------------------

class _EngineState:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.engine: Engine | None = None
        self.url: str | None = None
        self.pid: int | None = None
        self.makers: dict[bool, orm.sessionmaker] = {}


_STATE = _EngineState()
_LOCAL = threading.local()


def connection_url() -> str:
    """[database] connection, or the embedded SQLite file under [DEFAULT] state_path."""
    url = CONF.database.connection
    if url:
        return url
    path = Path(os.path.expanduser(CONF.state_path)) / "novalite.sqlite"
    return f"sqlite:///{path}"


def _is_memory_sqlite(url: sa.URL) -> bool:
    return url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")


def _setup_sqlite(engine: Engine, memory: bool) -> None:
    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Take BEGIN away from pysqlite so we can choose BEGIN IMMEDIATE for writers.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        try:
            if not memory:
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        finally:
            cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        writer = conn.get_execution_options().get(_WRITER_OPTION)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if writer else "BEGIN")


def _create_engine(url_string: str) -> Engine:
    url = make_url(url_string)
    backend = url.get_backend_name()
    kwargs: dict[str, Any] = {"echo": CONF.database.echo}
    if backend == "sqlite":
        memory = _is_memory_sqlite(url)
        kwargs["connect_args"] = {"check_same_thread": False,
                                  "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
        if memory:
            kwargs["poolclass"] = StaticPool
        else:
            Path(url.database).expanduser().resolve().parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, **kwargs)
        _setup_sqlite(engine, memory)
        return engine
    kwargs.update(pool_size=CONF.database.pool_size, max_overflow=CONF.database.max_overflow,
                  pool_pre_ping=True, pool_recycle=3600)
    if backend in ("mysql", "mariadb"):
        # Row-level locks only; no snapshot surprises when re-reading after a lost CAS.
        kwargs["isolation_level"] = "READ COMMITTED"
        kwargs.setdefault("connect_args", {}).setdefault("connect_timeout", 10)
    elif backend == "postgresql":
        kwargs.setdefault("connect_args", {}).setdefault("connect_timeout", 10)
    return sa.create_engine(url, **kwargs)


def get_engine() -> Engine:
    """The process-wide engine for connection_url() (SQLite in WAL mode).

    Rebuilt after a fork (a child must not share its parent's connections) and when
    [database] connection changed.
    """
    url = connection_url()
    with _STATE.lock:
        if _STATE.engine is not None and (_STATE.pid != os.getpid() or _STATE.url != url):
            # After a fork, drop the inherited pool without closing the parent's sockets.
            _STATE.engine.dispose(close=_STATE.pid == os.getpid())
            _STATE.engine = None
        if _STATE.engine is None:
            try:
                _STATE.engine = _create_engine(url)
            except sa_exc.ArgumentError as err:
                raise exception.ConfigError(reason=f"[database] connection: {err}") from err
            except ImportError as err:
                raise exception.ConfigError(
                    reason=f"[database] connection needs a driver that is not installed: "
                           f"{err}") from err
            _STATE.url, _STATE.pid = url, os.getpid()
            _STATE.makers = {
                writer: orm.sessionmaker(
                    bind=_STATE.engine.execution_options(**{_WRITER_OPTION: writer}),
                    expire_on_commit=False)
                for writer in (True, False)
            }
        return _STATE.engine


def dispose_engine() -> None:
    """Drop the cached engine (tests, and after fork)."""
    with _STATE.lock:
        if _STATE.engine is not None:
            _STATE.engine.dispose(close=_STATE.pid == os.getpid())
        _STATE.engine, _STATE.url, _STATE.pid, _STATE.makers = None, None, None, {}


def _sessionmaker(writer: bool) -> orm.sessionmaker:
    get_engine()
    return _STATE.makers[writer]


@contextlib.contextmanager
def transaction(writer: bool = True) -> Iterator[orm.Session]:
    """A Session in one transaction: committed when the block ends, rolled back on error.

    Inside another transaction() of the same thread it yields that outer session (the
    work joins the outer transaction). writer=False is for read-only work (on SQLite it
    starts a deferred transaction, which does not block writers). Database errors come
    out as exception.DBError and its subclasses.
    """
    outer: orm.Session | None = getattr(_LOCAL, "session", None)
    if outer is not None:
        yield outer
        return
    session = _sessionmaker(writer)()
    _LOCAL.session = session
    try:
        with session.begin():
            yield session
    except sa_exc.SQLAlchemyError as err:
        raise _translate(err) from err
    finally:
        _LOCAL.session = None
        session.close()


def in_transaction() -> bool:
    """Whether this thread is inside transaction() (so a retry would be pointless)."""
    return getattr(_LOCAL, "session", None) is not None


def retry_on_deadlock(func: F) -> F:
    """Retry the whole decorated transaction a few times on a deadlock (with jitter)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        attempts = 5
        for attempt in range(attempts):
            try:
                return func(*args, **kwargs)
            except exception.DBDeadlock:
                if in_transaction() or attempt == attempts - 1:
                    raise
                time.sleep(0.02 * 2 ** attempt + random.random() * 0.02)
        raise AssertionError("unreachable")

    return wrapper  # type: ignore[return-value]


def _now() -> Any:
    return servicegroup.utcnow()


def _plain(value: Any) -> Any:
    """Enum members to their stored value; everything else unchanged."""
    if isinstance(value, states.PowerState):
        return int(value)
    if isinstance(value, states._StrEnum):  # noqa: SLF001 - our own enum base
        return value.value
    return value


def _column_values(model: type[models.Base], values: dict, aliases: dict | None = None,
                   ignore_unknown: bool = False) -> dict[str, Any]:
    """values with attribute names checked against the model's columns."""
    columns = {attr.key for attr in sa.inspect(model).column_attrs}
    out: dict[str, Any] = {}
    unknown = []
    for key, value in values.items():
        key = (aliases or {}).get(key, key)
        if key in columns:
            out[key] = _plain(value)
        else:
            unknown.append(key)
    if unknown and not ignore_unknown:
        raise exception.Invalid(reason=f"unknown {model.__tablename__} field(s): "
                                       f"{', '.join(sorted(unknown))}")
    if unknown:
        LOG.debug("Ignoring unknown %s field(s) %s", model.__tablename__, unknown)
    return out


def _id_or_uuid(column_id: Any, column_uuid: Any, value: int | str) -> Any:
    if isinstance(value, int) or (isinstance(value, str) and value.isdigit()):
        return column_id == int(value)
    return column_uuid == value


def _in_or_null(column: Any, expected: Any) -> Any:
    """column IN (expected) with None meaning IS NULL, OR'ed in."""
    if isinstance(expected, (str, bytes)) or not isinstance(expected, Iterable):
        expected = [expected]
    values = [_plain(v) for v in expected]
    non_null = [v for v in values if v is not None]
    clauses = []
    if non_null:
        clauses.append(column.in_(non_null))
    if len(non_null) != len(values):
        clauses.append(column.is_(None))
    if not clauses:
        return sa.false()
    return sa.or_(*clauses)


def _as_list(expected: Any) -> list:
    if isinstance(expected, (str, bytes)) or not isinstance(expected, Iterable):
        return [_plain(expected)]
    return [_plain(v) for v in expected]


# -- services ----------------------------------------------------------------

def _live_service(host: str, binary: str) -> Any:
    return (models.Service.host == host, models.Service.binary == binary,
            models.Service.deleted == 0)


@retry_on_deadlock
def service_heartbeat(ctx: RequestContext, host: str, binary: str, topic: str | None,
                      version: int) -> Any:
    """Create the (host, binary) service row if missing, else stamp last_seen_up=now and
    bump report_count. Returns the row."""
    for attempt in range(3):
        now = _now()
        try:
            with transaction() as session:
                values: dict[str, Any] = {
                    "report_count": models.Service.report_count + 1,
                    "last_seen_up": now, "updated_at": now, "version": version}
                if topic is not None:
                    values["topic"] = topic
                result = session.execute(
                    sa.update(models.Service).where(*_live_service(host, binary))
                    .values(**values).execution_options(synchronize_session=False))
                if result.rowcount == 0:
                    session.add(models.Service(
                        uuid=str(uuid_lib.uuid4()), host=host, binary=binary, topic=topic,
                        version=version, report_count=1, last_seen_up=now, created_at=now))
                    session.flush()
                    if binary == COMPUTE_BINARY:
                        _link_compute_nodes(session, host)
                return session.scalars(
                    sa.select(models.Service).where(*_live_service(host, binary))
                    .execution_options(populate_existing=True)).one()
        except exception.DBDuplicateEntry:
            # Another process registered the same service first: now it is an update.
            if attempt == 2 or in_transaction():
                raise
    raise AssertionError("unreachable")


def _link_compute_nodes(session: orm.Session, host: str) -> None:
    service_id = session.scalar(sa.select(models.Service.id).where(
        *_live_service(host, COMPUTE_BINARY)))
    if service_id is not None:
        session.execute(
            sa.update(models.ComputeNode)
            .where(models.ComputeNode.host == host, models.ComputeNode.deleted == 0,
                   models.ComputeNode.service_id.is_(None))
            .values(service_id=service_id).execution_options(synchronize_session=False))


def service_get_all(ctx: RequestContext, host: str | None = None,
                    binary: str | None = None, hosts: Iterable[str] | None = None) -> list:
    """Live (not deleted) services, optionally of one host (or of any of `hosts`) and/or
    binary, by id."""
    query = sa.select(models.Service).where(models.Service.deleted == 0)
    if host is not None:
        query = query.where(models.Service.host == host)
    if hosts is not None:
        query = query.where(models.Service.host.in_(list(hosts)))
    if binary is not None:
        query = query.where(models.Service.binary == binary)
    with transaction(writer=False) as session:
        return list(session.scalars(query.order_by(models.Service.id)))


def _service_query(service_id: int | str) -> Any:
    return sa.select(models.Service).where(
        _id_or_uuid(models.Service.id, models.Service.uuid, service_id),
        models.Service.deleted == 0)


def service_get(ctx: RequestContext, service_id: int | str) -> Any:
    """By integer id or by uuid; ServiceNotFound otherwise."""
    with transaction(writer=False) as session:
        service = session.scalars(_service_query(service_id)).first()
    if service is None:
        raise exception.ServiceNotFound(service_id=service_id)
    return service


def service_get_by_host_and_binary(ctx: RequestContext, host: str, binary: str) -> Any:
    """The live service (host, binary); ServiceNotFound otherwise."""
    with transaction(writer=False) as session:
        service = session.scalars(
            sa.select(models.Service).where(*_live_service(host, binary))).first()
    if service is None:
        raise exception.ServiceNotFound(service_id=f"{binary}@{host}")
    return service


@retry_on_deadlock
def service_update(ctx: RequestContext, service_id: int | str, values: dict) -> Any:
    """Set columns of a live service (disabled, disabled_reason, forced_down, ...)."""
    values = _column_values(models.Service, values)
    with transaction() as session:
        service = session.scalars(_service_query(service_id)).first()
        if service is None:
            raise exception.ServiceNotFound(service_id=service_id)
        for key, value in values.items():
            setattr(service, key, value)
        session.flush()
        return service


@retry_on_deadlock
def service_destroy(ctx: RequestContext, service_id: int | str) -> None:
    """Soft-delete a service and, for a compute service, its compute nodes."""
    with transaction() as session:
        service = session.scalars(_service_query(service_id)).first()
        if service is None:
            raise exception.ServiceNotFound(service_id=service_id)
        now = _now()
        service.deleted, service.deleted_at = service.id, now
        if service.binary == COMPUTE_BINARY:
            nodes = session.scalars(sa.select(models.ComputeNode).where(
                models.ComputeNode.host == service.host, models.ComputeNode.deleted == 0))
            for node in nodes:
                node.deleted, node.deleted_at = node.id, now


# -- compute nodes -----------------------------------------------------------

# A change to any of these changes the node's inventory, so its generation moves.
INVENTORY_FIELDS = ("vcpus", "memory_mb", "local_gb", "cpu_allocation_ratio",
                    "ram_allocation_ratio", "disk_allocation_ratio", "reserved_host_memory_mb",
                    "reserved_host_disk_mb", "reserved_host_cpus")


def _node_defaults() -> dict[str, Any]:
    """Inventory settings a report may leave out, from the [compute] options."""
    group = CONF.compute
    return {name: getattr(group, name) for name in (
        "cpu_allocation_ratio", "ram_allocation_ratio", "disk_allocation_ratio",
        "reserved_host_memory_mb", "reserved_host_disk_mb", "reserved_host_cpus")}


def _differs(old: Any, new: Any) -> bool:
    if isinstance(old, float) or isinstance(new, float):
        if old is None or new is None:
            return old is not new
        return not math.isclose(float(old), float(new), rel_tol=1e-9, abs_tol=1e-9)
    return old != new


@retry_on_deadlock
def compute_node_report(ctx: RequestContext, host: str, hypervisor_hostname: str,
                        values: dict) -> Any:
    """Create or update the compute node (host, hypervisor_hostname) with the driver's
    resource report; bumps generation when inventory changed. Returns the row.

    Unknown keys are ignored (a newer compute agent may report more); cpu_info may be
    a dict (stored as JSON). The node is linked to its compute service when that row
    exists.
    """
    values = dict(values)
    if isinstance(values.get("cpu_info"), (dict, list)):
        values["cpu_info"] = json.dumps(values["cpu_info"], sort_keys=True)
    node_uuid = values.pop("uuid", None)
    for key in ("id", "host", "hypervisor_hostname", "generation", "service_id", "deleted",
                "deleted_at", "created_at", "updated_at"):
        values.pop(key, None)
    values = _column_values(models.ComputeNode, values, ignore_unknown=True)
    where = (models.ComputeNode.host == host,
             models.ComputeNode.hypervisor_hostname == hypervisor_hostname,
             models.ComputeNode.deleted == 0)
    for attempt in range(3):
        try:
            with transaction() as session:
                service_id = session.scalar(sa.select(models.Service.id).where(
                    *_live_service(host, COMPUTE_BINARY)))
                node = session.scalars(sa.select(models.ComputeNode).where(*where)).first()
                if node is None:
                    node = models.ComputeNode(
                        uuid=node_uuid or str(uuid_lib.uuid4()), host=host,
                        hypervisor_hostname=hypervisor_hostname, service_id=service_id,
                        generation=0, **{**_node_defaults(), **values})
                    session.add(node)
                    session.flush()
                    return node
                update = {k: v for k, v in values.items() if _differs(getattr(node, k), v)}
                if service_id is not None and node.service_id != service_id:
                    update["service_id"] = service_id
                if any(k in INVENTORY_FIELDS for k in update):
                    # An SQL increment, so a concurrent claim's generation check fails.
                    update["generation"] = models.ComputeNode.generation + 1
                update["updated_at"] = _now()
                session.execute(sa.update(models.ComputeNode)
                                .where(models.ComputeNode.id == node.id).values(**update)
                                .execution_options(synchronize_session=False))
                return session.scalars(sa.select(models.ComputeNode)
                                       .where(models.ComputeNode.id == node.id)
                                       .execution_options(populate_existing=True)).one()
        except exception.DBDuplicateEntry:
            if attempt == 2 or in_transaction():
                raise
    raise AssertionError("unreachable")


def compute_node_get_all(ctx: RequestContext, hosts: Iterable[str] | None = None) -> list:
    """Live compute nodes (only those of `hosts` when given), by id."""
    query = sa.select(models.ComputeNode).where(models.ComputeNode.deleted == 0)
    if hosts is not None:
        query = query.where(models.ComputeNode.host.in_(list(hosts)))
    with transaction(writer=False) as session:
        return list(session.scalars(query.order_by(models.ComputeNode.id)))


def compute_node_zones(ctx: RequestContext) -> set[str | None]:
    """The availability zones of the live compute nodes (None or "" for a node that
    names none): one column, not every node as a row."""
    with transaction(writer=False) as session:
        return set(session.scalars(sa.select(models.ComputeNode.availability_zone)
                                   .where(models.ComputeNode.deleted == 0).distinct()))


def compute_node_get(ctx: RequestContext, node_id: int | str) -> Any:
    """By integer id or by uuid; ComputeNodeNotFound otherwise."""
    with transaction(writer=False) as session:
        node = session.scalars(sa.select(models.ComputeNode).where(
            _id_or_uuid(models.ComputeNode.id, models.ComputeNode.uuid, node_id),
            models.ComputeNode.deleted == 0)).first()
    if node is None:
        raise exception.ComputeNodeNotFound(node=node_id)
    return node


# Per compute node: (node id, vcpus, memory_mb, disk_gb, live instances) summed from its
# allocations. The one place this aggregation is written; the scheduler's host-state
# cache runs it too, for all nodes or (with a WHERE) for the nodes that changed.
COMPUTE_NODE_USAGE = (
    sa.select(models.Allocation.compute_node_id,
              sa.func.coalesce(sa.func.sum(models.Allocation.vcpus), 0),
              sa.func.coalesce(sa.func.sum(models.Allocation.memory_mb), 0),
              sa.func.coalesce(sa.func.sum(models.Allocation.disk_gb), 0),
              sa.func.count(sa.distinct(models.Instance.uuid)))
    .select_from(models.Allocation)
    .outerjoin(models.Instance, sa.and_(models.Instance.uuid == models.Allocation.consumer_uuid,
                                        models.Instance.deleted == 0))
    .group_by(models.Allocation.compute_node_id))


def compute_node_usage(ctx: RequestContext) -> dict:
    """{compute_node_id: {"vcpus": n, "memory_mb": n, "disk_gb": n, "instances": n}} summed
    from allocations (instance consumers counted in "instances").

    Every live compute node is present, with zeros when nothing is allocated on it.
    """
    with transaction(writer=False) as session:
        usage = {node_id: {"vcpus": 0, "memory_mb": 0, "disk_gb": 0, "instances": 0}
                 for node_id in session.scalars(sa.select(models.ComputeNode.id).where(
                     models.ComputeNode.deleted == 0))}
        for node_id, vcpus, memory_mb, disk_gb, instances in session.execute(
                COMPUTE_NODE_USAGE):
            usage[node_id] = {"vcpus": int(vcpus), "memory_mb": int(memory_mb),
                              "disk_gb": int(disk_gb), "instances": int(instances)}
    return usage


# -- instances ---------------------------------------------------------------

_INSTANCE_ALIASES = {"metadata": "metadata_"}


def _live_instance(instance_uuid: str) -> Any:
    return (models.Instance.uuid == instance_uuid, models.Instance.deleted == 0)


@retry_on_deadlock
def instance_create(ctx: RequestContext, values: dict) -> Any:
    """Insert an instance. Defaults: a new uuid, the context's project and user, and
    the (vm_state, task_state) the "create" transition leads to."""
    values = _column_values(models.Instance, values, _INSTANCE_ALIASES)
    values.setdefault("uuid", str(uuid_lib.uuid4()))
    values.setdefault("project_id", ctx.project_id)
    values.setdefault("user_id", ctx.user_id)
    if "vm_state" not in values:
        vm_state, task_state = states.transition("create").target
        values["vm_state"] = _plain(vm_state)
        values.setdefault("task_state", _plain(task_state))
    with transaction() as session:
        instance = models.Instance(**values)
        session.add(instance)
        session.flush()
        return instance


def instance_get(ctx: RequestContext, instance_uuid: str, read_deleted: bool = False) -> Any:
    """The instance by uuid; InstanceNotFound if missing (or deleted, unless asked)."""
    query = sa.select(models.Instance).where(models.Instance.uuid == instance_uuid)
    if not read_deleted:
        query = query.where(models.Instance.deleted == 0)
    with transaction(writer=False) as session:
        instance = session.scalars(query).first()
    if instance is None:
        raise exception.InstanceNotFound(instance_id=instance_uuid)
    return instance


def instance_get_all(ctx: RequestContext, host: str | None = None,
                     project_id: str | None = None) -> list:
    """Live instances, optionally of one host and/or project, by id."""
    query = sa.select(models.Instance).where(models.Instance.deleted == 0)
    if host is not None:
        query = query.where(models.Instance.host == host)
    if project_id is not None:
        query = query.where(models.Instance.project_id == project_id)
    with transaction(writer=False) as session:
        return list(session.scalars(query.order_by(models.Instance.id)))


def _raise_instance_conflict(session: orm.Session, instance_uuid: str,
                             expected_task_state: Any, expected_vm_state: Any) -> None:
    actual = session.execute(
        sa.select(models.Instance.vm_state, models.Instance.task_state)
        .where(*_live_instance(instance_uuid))).first()
    if actual is None:
        raise exception.InstanceNotFound(instance_id=instance_uuid)
    vm_state, task_state = actual
    if expected_vm_state is not NO_CHECK and vm_state not in _as_list(expected_vm_state):
        raise exception.UnexpectedTaskStateError(
            instance_uuid=instance_uuid,
            expected=f"vm_state in {_as_list(expected_vm_state)}"
                     + (f" and task_state in {_as_list(expected_task_state)}"
                        if expected_task_state is not NO_CHECK else ""),
            actual=f"vm_state={vm_state}, task_state={task_state}")
    raise exception.UnexpectedTaskStateError(
        instance_uuid=instance_uuid, expected=_as_list(expected_task_state), actual=task_state)


@retry_on_deadlock
def instance_update(ctx: RequestContext, instance_uuid: str, values: dict,
                    expected_task_state: Any = NO_CHECK,
                    expected_vm_state: Any = NO_CHECK) -> Any:
    """UPDATE ... WHERE uuid=? [AND task_state IN expected] [AND vm_state IN expected].
    Zero rows → UnexpectedTaskStateError (or InstanceNotFound when no such row).

    expected_task_state=None (or [None]) requires that no task is running; a single
    value is a one-element list; NO_CHECK (the default) puts no guard on the column.
    Returns the updated row.
    """
    values = _column_values(models.Instance, values, _INSTANCE_ALIASES)
    values.setdefault("updated_at", _now())
    stmt = sa.update(models.Instance).where(*_live_instance(instance_uuid))
    if expected_task_state is not NO_CHECK:
        stmt = stmt.where(_in_or_null(models.Instance.task_state, expected_task_state))
    if expected_vm_state is not NO_CHECK:
        stmt = stmt.where(_in_or_null(models.Instance.vm_state, expected_vm_state))
    with transaction() as session:
        row = _update_returning(session, stmt.values(**values), models.Instance,
                                sa.select(models.Instance).where(*_live_instance(instance_uuid)))
        if row is None:
            _raise_instance_conflict(session, instance_uuid, expected_task_state,
                                     expected_vm_state)
        return row


def _update_returning(session: orm.Session, stmt: Any, model: type, reread: Any) -> Any:
    """Run a guarded single-row UPDATE and return the updated ORM row, or None when the
    guard matched nothing.

    One statement (UPDATE ... RETURNING) where the database has it (PostgreSQL, SQLite);
    MariaDB has no UPDATE ... RETURNING, so there the row is read back (`reread`).
    """
    options = {"synchronize_session": False, "populate_existing": True}
    if session.get_bind().dialect.update_returning:
        return session.scalars(stmt.returning(model), execution_options=options).first()
    if session.execute(stmt, execution_options={"synchronize_session": False}).rowcount == 0:
        return None
    return session.scalars(reread.execution_options(populate_existing=True)).one()


def instance_transition(ctx: RequestContext, instance_uuid: str, name: str,
                        values: dict | None = None, vm_state: str | None = None,
                        previous_vm_state: str | None = None) -> Any:
    """Apply the states table's transition `name` as one guarded UPDATE.

    The guard is the transition's declared sources; vm_state/task_state come from its
    target. vm_state is the instance's current vm_state, needed only when the target
    keeps it (UNCHANGED) and the sources allow several; previous_vm_state resolves
    PREVIOUS (confirm/revert). Extra column values are written in the same UPDATE.
    """
    tr = states.transition(name)
    target_vm, target_task = tr.target
    update = dict(values or {})
    update["task_state"] = _plain(target_task)
    if target_vm is states.PREVIOUS:
        update["vm_state"] = tr.resolve(None, previous_vm_state)[0].value
    elif target_vm is not states.UNCHANGED:
        update["vm_state"] = _plain(target_vm)
    elif vm_state is not None:
        update["vm_state"] = tr.resolve(vm_state)[0].value
    # vm_state is guarded too, so UNCHANGED without vm_state simply keeps the row's own.
    return instance_update(ctx, instance_uuid, update,
                           expected_task_state=tr.expected_task_states(),
                           expected_vm_state=tr.expected_vm_states())


@retry_on_deadlock
def instance_destroy(ctx: RequestContext, instance_uuid: str,
                     expected_task_state: Any = NO_CHECK) -> Any:
    """Soft-delete: vm_state deleted, task None, deleted=id (guarded like instance_update)."""
    now = _now()
    stmt = sa.update(models.Instance).where(*_live_instance(instance_uuid))
    if expected_task_state is not NO_CHECK:
        stmt = stmt.where(_in_or_null(models.Instance.task_state, expected_task_state))
    with transaction() as session:
        result = session.execute(
            stmt.values(deleted=models.Instance.id, deleted_at=now, terminated_at=now,
                        updated_at=now, vm_state=states.VmState.DELETED.value,
                        task_state=None, power_state=int(states.PowerState.NOSTATE))
            .execution_options(synchronize_session=False))
        if result.rowcount == 0:
            _raise_instance_conflict(session, instance_uuid, expected_task_state, NO_CHECK)
        return session.scalars(sa.select(models.Instance)
                               .where(models.Instance.uuid == instance_uuid)
                               .execution_options(populate_existing=True)).one()


@retry_on_deadlock
def instance_fault_create(ctx: RequestContext, values: dict) -> Any:
    """Record why an operation failed (message cut to 255 characters, details kept)."""
    values = _column_values(models.InstanceFault, values)
    message = values.get("message")
    if message is not None and len(str(message)) > models.NAME_LEN:
        values["message"] = str(message)[: models.NAME_LEN]
    values.setdefault("code", 500)
    with transaction() as session:
        fault = models.InstanceFault(**values)
        session.add(fault)
        session.flush()
        return fault


def instance_fault_get_latest(ctx: RequestContext, instance_uuid: str) -> Any | None:
    """The newest fault of an instance, or None."""
    with transaction(writer=False) as session:
        return session.scalars(
            sa.select(models.InstanceFault)
            .where(models.InstanceFault.instance_uuid == instance_uuid)
            .order_by(models.InstanceFault.id.desc()).limit(1)).first()


# -- instance actions ----------------------------------------------------------

@retry_on_deadlock
def action_start(ctx: RequestContext, instance_uuid: str, action: str,
                 request_id: str | None = None) -> Any:
    """Record that `action` (create, stop, resize, ...) started on an instance."""
    with transaction() as session:
        row = models.InstanceAction(
            instance_uuid=instance_uuid, action=action,
            request_id=request_id or ctx.request_id, project_id=ctx.project_id,
            user_id=ctx.user_id, start_time=_now())
        session.add(row)
        session.flush()
        return row


def _action_query(instance_uuid: str, request_id: str, *columns: Any) -> Any:
    """The newest action of request_id on the instance (the whole row, or `columns`)."""
    action = models.InstanceAction
    return (sa.select(*(columns or (action,)))
            .where(action.instance_uuid == instance_uuid, action.request_id == request_id)
            .order_by(action.id.desc()).limit(1))


def _action_id(session: orm.Session, instance_uuid: str, request_id: str) -> int:
    """The id of the request's action; the writers below need nothing else of it (a
    narrow Core read: these run on every step of every flow)."""
    action_id = session.scalar(_action_query(instance_uuid, request_id,
                                             models.InstanceAction.id))
    if action_id is None:
        raise exception.InstanceActionNotFound(request_id=request_id,
                                               instance_uuid=instance_uuid)
    return action_id


@retry_on_deadlock
def action_finish(ctx: RequestContext, instance_uuid: str, request_id: str | None = None,
                  message: str | None = None) -> None:
    """Stamp finish_time (and an optional message) on the action of request_id."""
    values: dict[str, Any] = {"finish_time": _now()}
    if message is not None:
        values["message"] = message[: models.NAME_LEN]
    with transaction() as session:
        action_id = _action_id(session, instance_uuid, request_id or ctx.request_id)
        session.execute(sa.update(models.InstanceAction)
                        .where(models.InstanceAction.id == action_id).values(**values)
                        .execution_options(synchronize_session=False))


@retry_on_deadlock
def action_event_start(ctx: RequestContext, instance_uuid: str, event: str,
                       request_id: str | None = None, host: str | None = None,
                       start_time: datetime.datetime | None = None) -> None:
    """Record that a step (compute_stop_instance, ...) of the request's action started
    (at start_time when the step reports it after the fact, else now)."""
    with transaction() as session:
        action_id = _action_id(session, instance_uuid, request_id or ctx.request_id)
        session.execute(sa.insert(models.InstanceActionEvent).values(
            action_id=action_id, event=event, start_time=start_time or _now(), host=host))


@retry_on_deadlock
def action_event_finish(ctx: RequestContext, instance_uuid: str, event: str,
                        result: str = "Success", request_id: str | None = None,
                        traceback: str | None = None, details: str | None = None,
                        host: str | None = None) -> Any:
    """Finish the newest unfinished `event` of the request's action with result
    (Success/Error); an Error also marks the action's message "Error", as Nova does.
    Returns the event row."""
    ev = models.InstanceActionEvent
    now = _now()
    values: dict[str, Any] = {"finish_time": now, "result": result, "traceback": traceback,
                              "details": details}
    if host is not None:
        values["host"] = host
    with transaction() as session:
        action_id = _action_id(session, instance_uuid, request_id or ctx.request_id)
        event_id = session.scalar(
            sa.select(ev.id).where(ev.action_id == action_id, ev.event == event,
                                   ev.finish_time.is_(None))
            .order_by(ev.id.desc()).limit(1))
        if event_id is None:  # finish without start: still record it
            event_id = session.execute(sa.insert(ev).values(
                action_id=action_id, event=event, start_time=now,
                **values)).inserted_primary_key[0]
        else:
            session.execute(sa.update(ev).where(ev.id == event_id)
                            .values(**values)
                            .execution_options(synchronize_session=False))
        if result.lower() == "error":
            session.execute(sa.update(models.InstanceAction)
                            .where(models.InstanceAction.id == action_id)
                            .values(message="Error")
                            .execution_options(synchronize_session=False))
        return session.execute(sa.select(ev.__table__).where(ev.id == event_id)).one()


def actions_get(ctx: RequestContext, instance_uuid: str) -> list:
    """An instance's actions, newest first, with their events loaded."""
    with transaction(writer=False) as session:
        return list(session.scalars(
            sa.select(models.InstanceAction)
            .where(models.InstanceAction.instance_uuid == instance_uuid)
            .order_by(models.InstanceAction.id.desc())))


# -- migrations --------------------------------------------------------------

def _migration_query(migration_id: int | str) -> Any:
    return sa.select(models.Migration).where(
        _id_or_uuid(models.Migration.id, models.Migration.uuid, migration_id),
        models.Migration.deleted == 0)


@retry_on_deadlock
def migration_create(ctx: RequestContext, values: dict) -> Any:
    """Insert a migration. Defaults: a new uuid, the context's project and user, and
    the first status of its migration_type (pre-migrating, or accepted for live)."""
    values = _column_values(models.Migration, values)
    if "migration_type" not in values:
        raise exception.Invalid(reason="a migration needs a migration_type")
    migration_type = states.MigrationType(values["migration_type"])
    values.setdefault("uuid", str(uuid_lib.uuid4()))
    values.setdefault("status", states.migration_initial_status(migration_type).value)
    states.MigrationStatus(values["status"])  # ValueError on a typo
    values.setdefault("project_id", ctx.project_id)
    values.setdefault("user_id", ctx.user_id)
    with transaction() as session:
        migration = models.Migration(**values)
        session.add(migration)
        session.flush()
        return migration


def migration_get(ctx: RequestContext, migration_id: int | str) -> Any:
    """By integer id or by uuid; MigrationNotFound otherwise."""
    with transaction(writer=False) as session:
        migration = session.scalars(_migration_query(migration_id)).first()
    if migration is None:
        raise exception.MigrationNotFound(migration_id=migration_id)
    return migration


def migration_get_all(ctx: RequestContext, instance_uuid: str | None = None,
                      host: str | None = None, statuses: Iterable[str] | None = None,
                      migration_type: str | None = None) -> list:
    """Live migrations filtered by instance, host (source or dest), statuses, type."""
    mig = models.Migration
    query = sa.select(mig).where(mig.deleted == 0)
    if instance_uuid is not None:
        query = query.where(mig.instance_uuid == instance_uuid)
    if host is not None:
        query = query.where(sa.or_(mig.source_compute == host, mig.dest_compute == host))
    if statuses is not None:
        query = query.where(mig.status.in_([_plain(s) for s in statuses]))
    if migration_type is not None:
        query = query.where(mig.migration_type == _plain(migration_type))
    with transaction(writer=False) as session:
        return list(session.scalars(query.order_by(mig.id)))


@retry_on_deadlock
def migration_update(ctx: RequestContext, migration_id: int | str, values: dict,
                     expected_status: Any = None) -> Any:
    """Guarded UPDATE of a migration: ... WHERE id|uuid=? AND status IN expected.

    When values set a status, the guard defaults to the statuses the migration table
    allows to move there (plus the status itself, so re-setting it is harmless), and
    an explicit expected_status that the table forbids is refused up front with
    InvalidStateTransition. Zero rows → UnexpectedMigrationStatusError, or
    MigrationNotFound when there is no such migration.
    """
    values = _column_values(models.Migration, values)
    values.setdefault("updated_at", _now())
    new_status = values.get("status")
    if new_status is not None:
        new_status = states.MigrationStatus(new_status)
        if expected_status is None:
            expected_status = [*states.migration_sources(new_status), new_status.value]
        else:
            for source in _as_list(expected_status):
                if source != new_status.value:
                    states.check_migration_transition(source, new_status)
    stmt = sa.update(models.Migration).where(
        _id_or_uuid(models.Migration.id, models.Migration.uuid, migration_id),
        models.Migration.deleted == 0)
    if expected_status is not None:
        stmt = stmt.where(_in_or_null(models.Migration.status, expected_status))
    with transaction() as session:
        row = _update_returning(session, stmt.values(**values), models.Migration,
                                _migration_query(migration_id))
        if row is None:
            actual = session.scalar(sa.select(models.Migration.status).where(
                _id_or_uuid(models.Migration.id, models.Migration.uuid, migration_id),
                models.Migration.deleted == 0))
            if actual is None:
                raise exception.MigrationNotFound(migration_id=migration_id)
            raise exception.UnexpectedMigrationStatusError(
                migration_id=migration_id, expected=_as_list(expected_status), actual=actual)
        return row


def migrations_finished_before(ctx: RequestContext, dest_compute: str,
                               older_than: int) -> list:
    """Resizes/cold migrations waiting in [finished] on dest_compute for longer than
    older_than seconds (auto-confirm)."""
    cutoff = _now() - datetime.timedelta(seconds=older_than)
    changed = sa.func.coalesce(models.Migration.updated_at, models.Migration.created_at)
    query = (sa.select(models.Migration)
             .where(models.Migration.deleted == 0,
                    models.Migration.dest_compute == dest_compute,
                    models.Migration.status == states.MigrationStatus.FINISHED.value,
                    changed < cutoff)
             .order_by(models.Migration.id))
    with transaction(writer=False) as session:
        return list(session.scalars(query))


# =====================================================================================
# -- servers API queries --------------------------------------------------------------
# Added for novalite.compute.api and the /servers and os-instance-actions handlers:
# the filtered, sorted and paged server list, the API's local delete, the newest fault
# of many servers at once, and instance action look-ups.

# Sort keys the servers list accepts (Nova's names) and the instances column of each.
INSTANCE_SORT_COLUMNS: dict[str, str] = {
    "availability_zone": "availability_zone", "created_at": "created_at",
    "display_description": "description", "display_name": "name", "host": "host",
    "hostname": "hostname", "image_ref": "image_ref", "key_name": "key_name",
    "launch_index": "launch_index", "launched_at": "launched_at", "locked": "locked",
    "locked_by": "locked_by", "node": "node", "power_state": "power_state",
    "progress": "progress", "project_id": "project_id", "task_state": "task_state",
    "terminated_at": "terminated_at", "updated_at": "updated_at", "user_id": "user_id",
    "uuid": "uuid", "vm_state": "vm_state", "id": "id",
}
# Filters compared for equality (a value, or a list of values where None means NULL).
INSTANCE_EXACT_FILTERS = ("project_id", "user_id", "host", "node", "availability_zone",
                          "reservation_id", "key_name", "hostname", "image_ref",
                          "launch_index", "power_state", "uuid", "vm_state", "task_state",
                          "locked", "progress")
_NOT_NULL_SORT_COLUMNS = {"id", "uuid", "vm_state", "power_state", "locked"}


def _instance_filter_clauses(filters: dict[str, Any]) -> list[Any]:
    """WHERE clauses for instance_get_all_by_filters (see its docstring)."""
    inst = models.Instance
    clauses: list[Any] = []
    deleted = filters.get("deleted", False)
    if deleted is True:
        clauses.append(inst.deleted != 0)
    elif deleted is False:
        clauses.append(inst.deleted == 0)
    for key in INSTANCE_EXACT_FILTERS:
        if key in filters:
            clauses.append(_in_or_null(getattr(inst, key), filters[key]))
    if filters.get("name") is not None:
        clauses.append(inst.name.regexp_match(filters["name"]))
    if filters.get("states") is not None:
        by_vm: dict[Any, list] = {}
        for vm_state, task_state in filters["states"]:
            by_vm.setdefault(_plain(vm_state), []).append(task_state)
        clauses.append(sa.or_(sa.false(), *(
            sa.and_(inst.vm_state == vm_state, _in_or_null(inst.task_state, tasks))
            for vm_state, tasks in by_vm.items())))
    if filters.get("flavorid") is not None:
        # The snapshot is canonical JSON (sorted keys, no spaces), so this is exact.
        needle = '"flavorid":' + json.dumps(str(filters["flavorid"]))
        clauses.append(sa.type_coerce(inst.flavor, sa.Text).contains(needle, autoescape=True))
    changed = sa.func.coalesce(inst.updated_at, inst.created_at)
    if filters.get("changes_since") is not None:
        clauses.append(changed >= filters["changes_since"])
    if filters.get("changes_before") is not None:
        clauses.append(changed <= filters["changes_before"])
    return clauses


def _sort_pairs(sort_keys: list[str], sort_dirs: list[str]) -> list[tuple[str, str]]:
    pairs = []
    for key, direction in zip(sort_keys, sort_dirs, strict=True):
        column = INSTANCE_SORT_COLUMNS.get(key)
        if column is None:
            raise exception.Invalid(reason=f"unknown sort key {key}")
        if direction not in ("asc", "desc"):
            raise exception.Invalid(reason=f"unknown sort direction {direction}")
        if column not in [c for c, _ in pairs]:
            pairs.append((column, direction))
    if "id" not in [c for c, _ in pairs]:
        # A unique last key makes the order total, so markers page exactly.
        pairs.append(("id", pairs[0][1] if pairs else "desc"))
    return pairs


def _order_by(pairs: list[tuple[str, str]]) -> list[Any]:
    """ORDER BY with NULLs first ascending (last descending) on every backend."""
    order: list[Any] = []
    for column_name, direction in pairs:
        column = getattr(models.Instance, column_name)
        if column_name not in _NOT_NULL_SORT_COLUMNS:
            present = column.isnot(None)
            order.append(present.asc() if direction == "asc" else present.desc())
        order.append(column.asc() if direction == "asc" else column.desc())
    return order


def _beyond(column: Any, direction: str, value: Any) -> Any:
    """Rows strictly after `value` in the _order_by order of one column."""
    if direction == "asc":
        return column.isnot(None) if value is None else column > value
    return sa.false() if value is None else sa.or_(column < value, column.is_(None))


def _after_marker(pairs: list[tuple[str, str]], marker: Any) -> Any:
    """Keyset pagination: rows after the marker row in the (total) sort order."""
    clauses = []
    for index, (column_name, direction) in enumerate(pairs):
        same_prefix = []
        for previous, _ in pairs[:index]:
            column, value = getattr(models.Instance, previous), getattr(marker, previous)
            same_prefix.append(column.is_(None) if value is None else column == value)
        column = getattr(models.Instance, column_name)
        clauses.append(sa.and_(*same_prefix,
                               _beyond(column, direction, getattr(marker, column_name))))
    return sa.or_(*clauses)


def instance_get_all_by_filters(ctx: RequestContext, filters: dict[str, Any] | None = None,
                                sort_keys: list[str] | None = None,
                                sort_dirs: list[str] | None = None,
                                limit: int | None = None,
                                marker: str | None = None) -> list:
    """One page of instances.

    filters (all optional): any of INSTANCE_EXACT_FILTERS (a value or a list); "name"
    (a regular expression searched in the name); "states" (a list of (vm_state,
    task_state) pairs, any of which matches); "flavorid" (of the flavor snapshot);
    "changes_since"/"changes_before" (naive UTC datetimes compared with the last
    change); "deleted" (False, the default: live rows only; True: deleted only; None:
    both). sort_keys are Nova's names (INSTANCE_SORT_COLUMNS), default created_at then
    id, both descending; sort_dirs pair with them. marker is the uuid of the last
    instance of the previous page (it must match the project_id filter, if any);
    InstanceMarkerNotFound otherwise.
    """
    filters = dict(filters or {})
    keys = list(sort_keys or ["created_at", "id"])
    dirs = list(sort_dirs or [])
    dirs += [dirs[0] if dirs else "desc"] * (len(keys) - len(dirs))
    pairs = _sort_pairs(keys, dirs)
    query = sa.select(models.Instance).where(*_instance_filter_clauses(filters))
    with transaction(writer=False) as session:
        if marker is not None:
            marker_query = sa.select(models.Instance).where(models.Instance.uuid == marker)
            if "project_id" in filters:
                marker_query = marker_query.where(
                    _in_or_null(models.Instance.project_id, filters["project_id"]))
            marker_row = session.scalars(marker_query).first()
            if marker_row is None:
                raise exception.InstanceMarkerNotFound(marker=marker)
            query = query.where(_after_marker(pairs, marker_row))
        query = query.order_by(*_order_by(pairs))
        if limit is not None:
            query = query.limit(limit)
        return list(session.scalars(query))


@retry_on_deadlock
def instance_destroy_if_host(ctx: RequestContext, instance_uuid: str,
                             host: str | None) -> Any:
    """The API's local delete: soft-delete like instance_destroy, but only while the
    instance's host is still `host` (None: it has none). Zero rows → InstanceNotFound
    when it is gone, else UnexpectedTaskStateError (a host took it meanwhile)."""
    now = _now()
    inst = models.Instance
    host_clause = inst.host.is_(None) if host is None else inst.host == host
    target_vm, target_task = states.transition("local_delete").target
    with transaction() as session:
        result = session.execute(
            sa.update(inst).where(*_live_instance(instance_uuid), host_clause)
            .values(deleted=inst.id, deleted_at=now, terminated_at=now, updated_at=now,
                    vm_state=_plain(target_vm), task_state=_plain(target_task),
                    power_state=int(states.PowerState.NOSTATE))
            .execution_options(synchronize_session=False))
        if result.rowcount == 0:
            actual = session.execute(sa.select(inst.host).where(
                *_live_instance(instance_uuid))).first()
            if actual is None:
                raise exception.InstanceNotFound(instance_id=instance_uuid)
            raise exception.UnexpectedTaskStateError(
                instance_uuid=instance_uuid, expected=f"host={host}", actual=f"host={actual[0]}")
        return session.scalars(sa.select(inst).where(inst.uuid == instance_uuid)
                               .execution_options(populate_existing=True)).one()


def instance_faults_get_latest(ctx: RequestContext, instance_uuids: Iterable[str]) -> dict:
    """{instance_uuid: its newest fault} for the instances that have one."""
    uuids = list(dict.fromkeys(instance_uuids))
    if not uuids:
        return {}
    fault = models.InstanceFault
    found: dict[str, Any] = {}
    with transaction(writer=False) as session:
        for start in range(0, len(uuids), 500):
            chunk = uuids[start:start + 500]
            newest = (sa.select(sa.func.max(fault.id)).where(fault.instance_uuid.in_(chunk))
                      .group_by(fault.instance_uuid))
            for row in session.scalars(sa.select(fault).where(fault.id.in_(newest))):
                found[row.instance_uuid] = row
    return found


def action_get_by_request_id(ctx: RequestContext, instance_uuid: str, request_id: str) -> Any:
    """The action of one request on an instance, events loaded; InstanceActionNotFound."""
    with transaction(writer=False) as session:
        action = session.scalars(_action_query(instance_uuid, request_id)).first()
    if action is None:
        raise exception.InstanceActionNotFound(request_id=request_id,
                                               instance_uuid=instance_uuid)
    return action


def actions_get_page(ctx: RequestContext, instance_uuid: str, limit: int | None = None,
                     marker: str | None = None, changes_since: Any = None,
                     changes_before: Any = None) -> list:
    """An instance's actions newest first, after the action of request id `marker`
    (InstanceMarkerNotFound if it has none), changed within the given bounds."""
    action = models.InstanceAction
    changed = sa.func.coalesce(action.updated_at, action.created_at)
    query = sa.select(action).where(action.instance_uuid == instance_uuid)
    if changes_since is not None:
        query = query.where(changed >= changes_since)
    if changes_before is not None:
        query = query.where(changed <= changes_before)
    with transaction(writer=False) as session:
        if marker is not None:
            marker_id = session.scalar(
                sa.select(sa.func.max(action.id))
                .where(action.instance_uuid == instance_uuid, action.request_id == marker))
            if marker_id is None:
                raise exception.InstanceMarkerNotFound(marker=marker)
            query = query.where(action.id < marker_id)
        query = query.order_by(action.id.desc())
        if limit is not None:
            query = query.limit(limit)
        return list(session.scalars(query))


# Migrations for the servers API: resize/confirm/revert steps, os-migrations and
# GET /servers/{id}/migrations.

# Filters compared with IN (a value or a list of values), by migrations column.
MIGRATION_EXACT_FILTERS = ("instance_uuid", "status", "source_compute", "migration_type",
                           "user_id", "project_id")


def _migration_filter_clauses(filters: dict[str, Any]) -> list[Any]:
    """WHERE clauses for migration_get_page (see its docstring)."""
    mig = models.Migration
    clauses: list[Any] = [mig.deleted == 0]
    for key in MIGRATION_EXACT_FILTERS:
        if key == "source_compute" and filters.get("host") is not None:
            continue  # host wins over source_compute, as in Nova
        if filters.get(key) is not None:
            clauses.append(_in_or_null(getattr(mig, key), filters[key]))
    if filters.get("host") is not None:
        hosts = _as_list(filters["host"])
        clauses.append(sa.or_(mig.source_compute.in_(hosts), mig.dest_compute.in_(hosts)))
    if filters.get("node") is not None:
        nodes = _as_list(filters["node"])
        clauses.append(sa.or_(mig.source_node.in_(nodes), mig.dest_node.in_(nodes)))
    changed = sa.func.coalesce(mig.updated_at, mig.created_at)
    if filters.get("changes_since") is not None:
        clauses.append(changed >= filters["changes_since"])
    if filters.get("changes_before") is not None:
        clauses.append(changed <= filters["changes_before"])
    return clauses


def migration_get_page(ctx: RequestContext, filters: dict[str, Any] | None = None,
                       limit: int | None = None, marker: str | None = None,
                       newest_first: bool = False) -> list:
    """One page of live (not soft-deleted) migrations.

    filters (all optional): any of MIGRATION_EXACT_FILTERS (a value or a list);
    "host" (source or destination compute; when given, source_compute is ignored, as
    Nova does); "node" (source or destination node); "changes_since"/"changes_before"
    (naive UTC datetimes compared with the last change). Order: by id, or with
    newest_first by created_at then id, both descending (Nova's order from 2.59).
    marker is the uuid of the last migration of the previous page (it must match the
    project_id filter, if any); MarkerNotFound otherwise.
    """
    mig = models.Migration
    filters = dict(filters or {})
    query = sa.select(mig).where(*_migration_filter_clauses(filters))
    with transaction(writer=False) as session:
        if marker is not None:
            marker_query = sa.select(mig).where(mig.uuid == marker, mig.deleted == 0)
            if filters.get("project_id") is not None:
                marker_query = marker_query.where(
                    _in_or_null(mig.project_id, filters["project_id"]))
            marker_row = session.scalars(marker_query).first()
            if marker_row is None:
                raise exception.MarkerNotFound(marker=marker)
            if newest_first:
                query = query.where(sa.or_(
                    mig.created_at < marker_row.created_at,
                    sa.and_(mig.created_at == marker_row.created_at,
                            mig.id < marker_row.id)))
            else:
                query = query.where(mig.id > marker_row.id)
        if newest_first:
            query = query.order_by(mig.created_at.desc(), mig.id.desc())
        else:
            query = query.order_by(mig.id.asc())
        if limit is not None:
            query = query.limit(limit)
        return list(session.scalars(query))


def migration_get_by_id_and_instance(ctx: RequestContext, migration_id: int | str,
                                     instance_uuid: str) -> Any:
    """A migration of one instance by id (or uuid); MigrationNotFoundForInstance when
    there is none, or it belongs to another instance."""
    with transaction(writer=False) as session:
        migration = session.scalars(_migration_query(migration_id).where(
            models.Migration.instance_uuid == instance_uuid)).first()
    if migration is None:
        raise exception.MigrationNotFoundForInstance(migration_id=migration_id,
                                                     instance_id=instance_uuid)
    return migration


@retry_on_deadlock
def migration_undo_status(ctx: RequestContext, migration_id: int | str,
                          current: str, previous: str) -> Any:
    """Put a migration back from `current` to `previous`, guarded on `current`.

    Only for the API undoing its own step when the cast that carries the step on could
    not be sent (confirming or reverting back to finished): the migration table lists
    forward moves only, so migration_update refuses these. Zero rows →
    UnexpectedMigrationStatusError (someone moved it on meanwhile), or
    MigrationNotFound.
    """
    current_status = states.MigrationStatus(current)
    previous_status = states.MigrationStatus(previous)
    if not states.migration_can_move(previous_status, current_status):
        raise exception.InvalidStateTransition(kind="Migration", source=str(current),
                                               target=str(previous))
    mig = models.Migration
    where = (_id_or_uuid(mig.id, mig.uuid, migration_id), mig.deleted == 0)
    with transaction() as session:
        result = session.execute(
            sa.update(mig).where(*where, mig.status == current_status.value)
            .values(status=previous_status.value, updated_at=_now())
            .execution_options(synchronize_session=False))
        if result.rowcount == 0:
            actual = session.scalar(sa.select(mig.status).where(*where))
            if actual is None:
                raise exception.MigrationNotFound(migration_id=migration_id)
            raise exception.UnexpectedMigrationStatusError(
                migration_id=migration_id, expected=[current_status.value], actual=actual)
        return session.scalars(_migration_query(migration_id)
                               .execution_options(populate_existing=True)).one()


def flavor_ids_by_flavorid(ctx: RequestContext, flavorids: Iterable[str]) -> dict[str, int]:
    """{flavorid: internal id} of the flavors that still exist (os-migrations shows
    Nova's old/new_instance_type_id, the internal ids, from flavor snapshots)."""
    wanted = sorted({str(f) for f in flavorids if f is not None})
    if not wanted:
        return {}
    with transaction(writer=False) as session:
        rows = session.execute(sa.select(models.Flavor.flavorid, models.Flavor.id)
                               .where(models.Flavor.flavorid.in_(wanted)))
        return {flavorid: flavor_id for flavorid, flavor_id in rows}
