"""novalite's tables as SQLAlchemy 2.x declarative models (DESIGN §2).

Portability rules (SQLite, PostgreSQL and MariaDB/MySQL are all supported):

* every VARCHAR has a length (MariaDB requires one);
* enums are stored as strings (their ``.value``), so adding a state never needs a
  database type change; novalite.states is the authority on legal values;
* JSON documents (flavor snapshots, metadata, cpu_info) are stored as TEXT through
  :class:`JSONText`, which round-trips identically on all three backends (MariaDB's
  JSON type is LONGTEXT underneath and reflects differently); assign a new dict to
  change one, in-place mutation is not tracked;
* datetimes are naive UTC (``servicegroup.utcnow()``); on MySQL/MariaDB they keep
  microseconds (DATETIME(6)) so a value reads back exactly as written;
* soft delete follows Nova: ``deleted`` is 0 for a live row and the row's id once
  deleted, so unique constraints that include ``deleted`` apply to live rows only.

Constraint and index names come from NAMING_CONVENTION, so migrations can name them.
"""

from __future__ import annotations

import datetime
import json
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from novalite import servicegroup

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# InnoDB and 4-byte UTF-8 on MySQL/MariaDB whatever the server's defaults are.
MYSQL_TABLE_ARGS = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4"}

UUID_LEN = 36
NAME_LEN = 255


def _now() -> datetime.datetime:
    # Looked up at call time so tests can patch servicegroup.utcnow.
    return servicegroup.utcnow()


# DATETIME(6) on MySQL/MariaDB (microseconds kept), plain DateTime elsewhere.
DateTime = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


class JSONText(sa.types.TypeDecorator):
    """A JSON document stored as TEXT: dict/list/scalars in, the same out; None is NULL."""

    impl = sa.Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: sa.Dialect) -> str | None:
        if value is None:
            return None
        return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)

    def process_result_value(self, value: str | None, dialect: sa.Dialect) -> Any:
        if value is None or value == "":
            return None
        return json.loads(value)


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)

    def to_dict(self) -> dict[str, Any]:
        """Column values by attribute name (handy for RPC payloads and logs)."""
        mapper = sa.inspect(type(self))
        return {attr.key: getattr(self, attr.key) for attr in mapper.column_attrs}

    def __repr__(self) -> str:
        ident = getattr(self, "uuid", None) or getattr(self, "id", None)
        return f"<{type(self).__name__} {ident}>"


class TimestampMixin:
    created_at: Mapped[datetime.datetime | None] = mapped_column(DateTime, default=_now)
    updated_at: Mapped[datetime.datetime | None] = mapped_column(DateTime, onupdate=_now)


class SoftDeleteMixin:
    """deleted = 0 for a live row, = id once deleted (see the module docstring)."""

    deleted_at: Mapped[datetime.datetime | None] = mapped_column(DateTime)
    deleted: Mapped[int] = mapped_column(sa.Integer, default=0, nullable=False)


class Instance(TimestampMixin, SoftDeleteMixin, Base):
    """A server. vm_state/task_state/power_state hold novalite.states values."""

    __tablename__ = "instances"
    __table_args__ = (
        sa.Index("ix_instances_project_id_deleted", "project_id", "deleted"),
        sa.Index("ix_instances_host_deleted", "host", "deleted"),
        MYSQL_TABLE_ARGS,
    )

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    uuid: Mapped[str] = mapped_column(sa.String(UUID_LEN), nullable=False, unique=True)
    name: Mapped[str | None] = mapped_column(sa.String(NAME_LEN))
    description: Mapped[str | None] = mapped_column(sa.Text)
    hostname: Mapped[str | None] = mapped_column(sa.String(NAME_LEN))
    project_id: Mapped[str | None] = mapped_column(sa.String(NAME_LEN))
    user_id: Mapped[str | None] = mapped_column(sa.String(NAME_LEN))
    # Flavor snapshots: the current one, and during a move the old and the new one.
    flavor: Mapped[dict | None] = mapped_column(JSONText)
    old_flavor: Mapped[dict | None] = mapped_column(JSONText)
    new_flavor: Mapped[dict | None] = mapped_column(JSONText)
    image_ref: Mapped[str | None] = mapped_column(sa.String(NAME_LEN))
    key_name: Mapped[str | None] = mapped_column(sa.String(NAME_LEN))
    user_data: Mapped[str | None] = mapped_column(sa.Text)
    reservation_id: Mapped[str | None] = mapped_column(sa.String(NAME_LEN))
    launch_index: Mapped[int | None] = mapped_column(sa.Integer)
    host: Mapped[str | None] = mapped_column(sa.String(NAME_LEN))
    node: Mapped[str | None] = mapped_column(sa.String(NAME_LEN))
    vm_state: Mapped[str] = mapped_column(sa.String(NAME_LEN), nullable=False,
                                          default="building")
    task_state: Mapped[str | None] = mapped_column(sa.String(NAME_LEN))
    power_state: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    progress: Mapped[int | None] = mapped_column(sa.Integer)
    launched_at: Mapped[datetime.datetime | None] = mapped_column(DateTime)
    terminated_at: Mapped[datetime.datetime | None] = mapped_column(DateTime)
    locked: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=False)
    locked_by: Mapped[str | None] = mapped_column(sa.String(NAME_LEN))
    locked_reason: Mapped[str | None] = mapped_column(sa.String(NAME_LEN))
    availability_zone: Mapped[str | None] = mapped_column(sa.String(NAME_LEN))
    # `metadata` is taken by SQLAlchemy's declarative base, hence the attribute name.
    metadata_: Mapped[dict | None] = mapped_column("metadata", JSONText)
    system_metadata: Mapped[dict | None] = mapped_column(JSONText)


class Flavor(TimestampMixin, Base):
    """A flavor; deleted outright (instances keep their own snapshot of it)."""

    __tablename__ = "flavors"
    __table_args__ = (MYSQL_TABLE_ARGS,)

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    flavorid: Mapped[str] = mapped_column(sa.String(NAME_LEN), nullable=False, unique=True)
    name: Mapped[str] = mapped_column(sa.String(NAME_LEN), nullable=False, unique=True)
    vcpus: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    memory_mb: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    root_gb: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    ephemeral_gb: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    swap: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    rxtx_factor: Mapped[float] = mapped_column(sa.Double, nullable=False, default=1.0)
    is_public: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=True)
    disabled: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=False)
    description: Mapped[str | None] = mapped_column(sa.Text)

    # selectin: loaded with the flavor, so they are readable after the session closes.
    extra_specs: Mapped[list[FlavorExtraSpec]] = relationship(
        back_populates="flavor", cascade="all, delete-orphan", lazy="selectin")
    projects: Mapped[list[FlavorProject]] = relationship(
        back_populates="flavor", cascade="all, delete-orphan", lazy="selectin")


class FlavorExtraSpec(TimestampMixin, Base):
    __tablename__ = "flavor_extra_specs"
    __table_args__ = (sa.UniqueConstraint("flavor_id", "key"), MYSQL_TABLE_ARGS)

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    flavor_id: Mapped[int] = mapped_column(
        sa.Integer, sa.ForeignKey("flavors.id", ondelete="CASCADE"), nullable=False)
    key: Mapped[str] = mapped_column(sa.String(NAME_LEN), nullable=False)
    value: Mapped[str | None] = mapped_column(sa.String(NAME_LEN))

    flavor: Mapped[Flavor] = relationship(back_populates="extra_specs")


class FlavorProject(TimestampMixin, Base):
    """Projects that may use a private (is_public=False) flavor."""

    __tablename__ = "flavor_projects"
    __table_args__ = (sa.UniqueConstraint("flavor_id", "project_id"), MYSQL_TABLE_ARGS)

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    flavor_id: Mapped[int] = mapped_column(
        sa.Integer, sa.ForeignKey("flavors.id", ondelete="CASCADE"), nullable=False)
    project_id: Mapped[str] = mapped_column(sa.String(NAME_LEN), nullable=False)

    flavor: Mapped[Flavor] = relationship(back_populates="projects")


class Service(TimestampMixin, SoftDeleteMixin, Base):
    """A running service (api, conductor, scheduler, compute) on a host."""

    __tablename__ = "services"
    __table_args__ = (sa.UniqueConstraint("host", "binary", "deleted"), MYSQL_TABLE_ARGS)

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    uuid: Mapped[str] = mapped_column(sa.String(UUID_LEN), nullable=False, unique=True)
    host: Mapped[str] = mapped_column(sa.String(NAME_LEN), nullable=False)
    binary: Mapped[str] = mapped_column(sa.String(NAME_LEN), nullable=False)
    topic: Mapped[str | None] = mapped_column(sa.String(NAME_LEN))
    disabled: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=False)
    disabled_reason: Mapped[str | None] = mapped_column(sa.String(NAME_LEN))
    forced_down: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=False)
    last_seen_up: Mapped[datetime.datetime | None] = mapped_column(DateTime)
    report_count: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    version: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)


class ComputeNode(TimestampMixin, SoftDeleteMixin, Base):
    """A hypervisor: a resource provider with inventory and a generation (DESIGN §3)."""

    __tablename__ = "compute_nodes"
    __table_args__ = (
        sa.UniqueConstraint("host", "hypervisor_hostname", "deleted"),
        sa.Index("ix_compute_nodes_service_id", "service_id"),
        MYSQL_TABLE_ARGS,
    )

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    uuid: Mapped[str] = mapped_column(sa.String(UUID_LEN), nullable=False, unique=True)
    service_id: Mapped[int | None] = mapped_column(
        sa.Integer, sa.ForeignKey("services.id", ondelete="SET NULL"))
    host: Mapped[str] = mapped_column(sa.String(NAME_LEN), nullable=False)
    hypervisor_hostname: Mapped[str] = mapped_column(sa.String(NAME_LEN), nullable=False)
    hypervisor_type: Mapped[str | None] = mapped_column(sa.String(NAME_LEN))
    hypervisor_version: Mapped[int | None] = mapped_column(sa.Integer)
    vcpus: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    memory_mb: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    local_gb: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    disk_available_least: Mapped[int | None] = mapped_column(sa.Integer)
    cpu_allocation_ratio: Mapped[float] = mapped_column(sa.Double, nullable=False, default=4.0)
    ram_allocation_ratio: Mapped[float] = mapped_column(sa.Double, nullable=False, default=1.0)
    disk_allocation_ratio: Mapped[float] = mapped_column(sa.Double, nullable=False, default=1.0)
    reserved_host_memory_mb: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    reserved_host_disk_mb: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    reserved_host_cpus: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    cpu_info: Mapped[str | None] = mapped_column(sa.Text)
    host_ip: Mapped[str | None] = mapped_column(sa.String(NAME_LEN))
    migration_address: Mapped[str | None] = mapped_column(sa.String(NAME_LEN))
    generation: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    disabled: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=False)
    # The host's [compute] availability_zone; NULL means [DEFAULT] default_availability_zone.
    availability_zone: Mapped[str | None] = mapped_column(sa.String(NAME_LEN))


class Allocation(Base):
    """Resources a consumer (an instance or a migration, by uuid) holds on a node."""

    __tablename__ = "allocations"
    __table_args__ = (
        sa.Index("ix_allocations_consumer_uuid", "consumer_uuid"),
        sa.Index("ix_allocations_compute_node_id", "compute_node_id"),
        MYSQL_TABLE_ARGS,
    )

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    consumer_uuid: Mapped[str] = mapped_column(sa.String(UUID_LEN), nullable=False)
    compute_node_id: Mapped[int] = mapped_column(
        sa.Integer, sa.ForeignKey("compute_nodes.id"), nullable=False)
    vcpus: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    memory_mb: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    disk_gb: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    project_id: Mapped[str | None] = mapped_column(sa.String(NAME_LEN))
    user_id: Mapped[str | None] = mapped_column(sa.String(NAME_LEN))
    created_at: Mapped[datetime.datetime | None] = mapped_column(DateTime, default=_now)


class Migration(TimestampMixin, SoftDeleteMixin, Base):
    """A cold migration, resize or live migration; status holds MigrationStatus values."""

    __tablename__ = "migrations"
    __table_args__ = (
        sa.Index("ix_migrations_instance_uuid_status", "instance_uuid", "status"),
        sa.Index("ix_migrations_source_compute_status", "source_compute", "status"),
        sa.Index("ix_migrations_dest_compute_status", "dest_compute", "status"),
        MYSQL_TABLE_ARGS,
    )

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    uuid: Mapped[str] = mapped_column(sa.String(UUID_LEN), nullable=False, unique=True)
    instance_uuid: Mapped[str] = mapped_column(sa.String(UUID_LEN), nullable=False)
    migration_type: Mapped[str] = mapped_column(sa.String(NAME_LEN), nullable=False)
    status: Mapped[str] = mapped_column(sa.String(NAME_LEN), nullable=False)
    source_compute: Mapped[str | None] = mapped_column(sa.String(NAME_LEN))
    source_node: Mapped[str | None] = mapped_column(sa.String(NAME_LEN))
    dest_compute: Mapped[str | None] = mapped_column(sa.String(NAME_LEN))
    dest_node: Mapped[str | None] = mapped_column(sa.String(NAME_LEN))
    dest_host: Mapped[str | None] = mapped_column(sa.String(NAME_LEN))
    old_flavor: Mapped[dict | None] = mapped_column(JSONText)
    new_flavor: Mapped[dict | None] = mapped_column(JSONText)
    memory_total: Mapped[int | None] = mapped_column(sa.BigInteger)
    memory_processed: Mapped[int | None] = mapped_column(sa.BigInteger)
    memory_remaining: Mapped[int | None] = mapped_column(sa.BigInteger)
    disk_total: Mapped[int | None] = mapped_column(sa.BigInteger)
    disk_processed: Mapped[int | None] = mapped_column(sa.BigInteger)
    disk_remaining: Mapped[int | None] = mapped_column(sa.BigInteger)
    project_id: Mapped[str | None] = mapped_column(sa.String(NAME_LEN))
    user_id: Mapped[str | None] = mapped_column(sa.String(NAME_LEN))
    cross_cell: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=False)


class InstanceAction(TimestampMixin, Base):
    """A user-visible operation on an instance (os-instance-actions)."""

    __tablename__ = "instance_actions"
    __table_args__ = (
        sa.Index("ix_instance_actions_instance_uuid_request_id", "instance_uuid",
                 "request_id"),
        MYSQL_TABLE_ARGS,
    )

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    request_id: Mapped[str | None] = mapped_column(sa.String(NAME_LEN))
    instance_uuid: Mapped[str] = mapped_column(sa.String(UUID_LEN), nullable=False)
    action: Mapped[str] = mapped_column(sa.String(NAME_LEN), nullable=False)
    project_id: Mapped[str | None] = mapped_column(sa.String(NAME_LEN))
    user_id: Mapped[str | None] = mapped_column(sa.String(NAME_LEN))
    start_time: Mapped[datetime.datetime | None] = mapped_column(DateTime)
    finish_time: Mapped[datetime.datetime | None] = mapped_column(DateTime)
    message: Mapped[str | None] = mapped_column(sa.String(NAME_LEN))

    events: Mapped[list[InstanceActionEvent]] = relationship(
        back_populates="action", cascade="all, delete-orphan", lazy="selectin",
        order_by="InstanceActionEvent.id")


class InstanceActionEvent(TimestampMixin, Base):
    """One step of an action, as a service performed it (with the traceback on failure)."""

    __tablename__ = "instance_action_events"
    __table_args__ = (
        sa.Index("ix_instance_action_events_action_id", "action_id"),
        MYSQL_TABLE_ARGS,
    )

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    action_id: Mapped[int] = mapped_column(
        sa.Integer, sa.ForeignKey("instance_actions.id", ondelete="CASCADE"), nullable=False)
    event: Mapped[str] = mapped_column(sa.String(NAME_LEN), nullable=False)
    start_time: Mapped[datetime.datetime | None] = mapped_column(DateTime)
    finish_time: Mapped[datetime.datetime | None] = mapped_column(DateTime)
    result: Mapped[str | None] = mapped_column(sa.String(NAME_LEN))
    traceback: Mapped[str | None] = mapped_column(sa.Text)
    host: Mapped[str | None] = mapped_column(sa.String(NAME_LEN))
    details: Mapped[str | None] = mapped_column(sa.Text)

    action: Mapped[InstanceAction] = relationship(back_populates="events")


class InstanceFault(Base):
    """Why an operation on an instance failed (shown as the server's `fault`)."""

    __tablename__ = "instance_faults"
    __table_args__ = (
        sa.Index("ix_instance_faults_instance_uuid", "instance_uuid"),
        MYSQL_TABLE_ARGS,
    )

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    instance_uuid: Mapped[str] = mapped_column(sa.String(UUID_LEN), nullable=False)
    code: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=500)
    message: Mapped[str | None] = mapped_column(sa.String(NAME_LEN))
    details: Mapped[str | None] = mapped_column(sa.Text)
    host: Mapped[str | None] = mapped_column(sa.String(NAME_LEN))
    created_at: Mapped[datetime.datetime | None] = mapped_column(DateTime, default=_now)


class Quota(TimestampMixin, Base):
    """A per-project limit overriding the configured default for one resource."""

    __tablename__ = "quotas"
    __table_args__ = (sa.UniqueConstraint("project_id", "resource"), MYSQL_TABLE_ARGS)

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    project_id: Mapped[str] = mapped_column(sa.String(NAME_LEN), nullable=False)
    resource: Mapped[str] = mapped_column(sa.String(NAME_LEN), nullable=False)
    hard_limit: Mapped[int | None] = mapped_column(sa.Integer)


metadata = Base.metadata
