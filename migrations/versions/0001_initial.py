"""The initial schema (DESIGN §2).

Hand-written and frozen: it does not import novalite.db.models, so later model changes
need a new revision (see migrations/README). Constraint and index names follow
models.NAMING_CONVENTION.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MYSQL = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4"}


def _dt() -> sa.types.TypeEngine:
    # Microseconds on MySQL/MariaDB too.
    return sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


def _s(length: int = 255) -> sa.String:
    return sa.String(length)


def _id() -> sa.Column:
    return sa.Column("id", sa.Integer(), autoincrement=True, nullable=False)


def _timestamps() -> list[sa.Column]:
    return [sa.Column("created_at", _dt(), nullable=True),
            sa.Column("updated_at", _dt(), nullable=True)]


def _soft_delete() -> list[sa.Column]:
    return [sa.Column("deleted_at", _dt(), nullable=True),
            sa.Column("deleted", sa.Integer(), nullable=False)]


def upgrade() -> None:
    op.create_table(
        "instances",
        _id(),
        sa.Column("uuid", _s(36), nullable=False),
        sa.Column("name", _s(), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("hostname", _s(), nullable=True),
        sa.Column("project_id", _s(), nullable=True),
        sa.Column("user_id", _s(), nullable=True),
        sa.Column("flavor", sa.Text(), nullable=True),
        sa.Column("old_flavor", sa.Text(), nullable=True),
        sa.Column("new_flavor", sa.Text(), nullable=True),
        sa.Column("image_ref", _s(), nullable=True),
        sa.Column("key_name", _s(), nullable=True),
        sa.Column("user_data", sa.Text(), nullable=True),
        sa.Column("reservation_id", _s(), nullable=True),
        sa.Column("launch_index", sa.Integer(), nullable=True),
        sa.Column("host", _s(), nullable=True),
        sa.Column("node", _s(), nullable=True),
        sa.Column("vm_state", _s(), nullable=False),
        sa.Column("task_state", _s(), nullable=True),
        sa.Column("power_state", sa.Integer(), nullable=False),
        sa.Column("progress", sa.Integer(), nullable=True),
        sa.Column("launched_at", _dt(), nullable=True),
        sa.Column("terminated_at", _dt(), nullable=True),
        sa.Column("locked", sa.Boolean(), nullable=False),
        sa.Column("locked_by", _s(), nullable=True),
        sa.Column("locked_reason", _s(), nullable=True),
        sa.Column("availability_zone", _s(), nullable=True),
        sa.Column("metadata", sa.Text(), nullable=True),
        sa.Column("system_metadata", sa.Text(), nullable=True),
        *_timestamps(),
        *_soft_delete(),
        sa.PrimaryKeyConstraint("id", name="pk_instances"),
        sa.UniqueConstraint("uuid", name="uq_instances_uuid"),
        **MYSQL,
    )
    op.create_index("ix_instances_project_id_deleted", "instances", ["project_id", "deleted"])
    op.create_index("ix_instances_host_deleted", "instances", ["host", "deleted"])

    op.create_table(
        "flavors",
        _id(),
        sa.Column("flavorid", _s(), nullable=False),
        sa.Column("name", _s(), nullable=False),
        sa.Column("vcpus", sa.Integer(), nullable=False),
        sa.Column("memory_mb", sa.Integer(), nullable=False),
        sa.Column("root_gb", sa.Integer(), nullable=False),
        sa.Column("ephemeral_gb", sa.Integer(), nullable=False),
        sa.Column("swap", sa.Integer(), nullable=False),
        sa.Column("rxtx_factor", sa.Double(), nullable=False),
        sa.Column("is_public", sa.Boolean(), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        *_timestamps(),
        sa.PrimaryKeyConstraint("id", name="pk_flavors"),
        sa.UniqueConstraint("flavorid", name="uq_flavors_flavorid"),
        sa.UniqueConstraint("name", name="uq_flavors_name"),
        **MYSQL,
    )
    op.create_table(
        "flavor_extra_specs",
        _id(),
        sa.Column("flavor_id", sa.Integer(), nullable=False),
        sa.Column("key", _s(), nullable=False),
        sa.Column("value", _s(), nullable=True),
        *_timestamps(),
        sa.PrimaryKeyConstraint("id", name="pk_flavor_extra_specs"),
        sa.ForeignKeyConstraint(["flavor_id"], ["flavors.id"], ondelete="CASCADE",
                                name="fk_flavor_extra_specs_flavor_id_flavors"),
        sa.UniqueConstraint("flavor_id", "key", name="uq_flavor_extra_specs_flavor_id_key"),
        **MYSQL,
    )
    op.create_table(
        "flavor_projects",
        _id(),
        sa.Column("flavor_id", sa.Integer(), nullable=False),
        sa.Column("project_id", _s(), nullable=False),
        *_timestamps(),
        sa.PrimaryKeyConstraint("id", name="pk_flavor_projects"),
        sa.ForeignKeyConstraint(["flavor_id"], ["flavors.id"], ondelete="CASCADE",
                                name="fk_flavor_projects_flavor_id_flavors"),
        sa.UniqueConstraint("flavor_id", "project_id",
                            name="uq_flavor_projects_flavor_id_project_id"),
        **MYSQL,
    )

    op.create_table(
        "services",
        _id(),
        sa.Column("uuid", _s(36), nullable=False),
        sa.Column("host", _s(), nullable=False),
        sa.Column("binary", _s(), nullable=False),
        sa.Column("topic", _s(), nullable=True),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("disabled_reason", _s(), nullable=True),
        sa.Column("forced_down", sa.Boolean(), nullable=False),
        sa.Column("last_seen_up", _dt(), nullable=True),
        sa.Column("report_count", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        *_timestamps(),
        *_soft_delete(),
        sa.PrimaryKeyConstraint("id", name="pk_services"),
        sa.UniqueConstraint("uuid", name="uq_services_uuid"),
        sa.UniqueConstraint("host", "binary", "deleted", name="uq_services_host_binary_deleted"),
        **MYSQL,
    )
    op.create_table(
        "compute_nodes",
        _id(),
        sa.Column("uuid", _s(36), nullable=False),
        sa.Column("service_id", sa.Integer(), nullable=True),
        sa.Column("host", _s(), nullable=False),
        sa.Column("hypervisor_hostname", _s(), nullable=False),
        sa.Column("hypervisor_type", _s(), nullable=True),
        sa.Column("hypervisor_version", sa.Integer(), nullable=True),
        sa.Column("vcpus", sa.Integer(), nullable=False),
        sa.Column("memory_mb", sa.Integer(), nullable=False),
        sa.Column("local_gb", sa.Integer(), nullable=False),
        sa.Column("disk_available_least", sa.Integer(), nullable=True),
        sa.Column("cpu_allocation_ratio", sa.Double(), nullable=False),
        sa.Column("ram_allocation_ratio", sa.Double(), nullable=False),
        sa.Column("disk_allocation_ratio", sa.Double(), nullable=False),
        sa.Column("reserved_host_memory_mb", sa.Integer(), nullable=False),
        sa.Column("reserved_host_disk_mb", sa.Integer(), nullable=False),
        sa.Column("reserved_host_cpus", sa.Integer(), nullable=False),
        sa.Column("cpu_info", sa.Text(), nullable=True),
        sa.Column("host_ip", _s(), nullable=True),
        sa.Column("migration_address", _s(), nullable=True),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        *_timestamps(),
        *_soft_delete(),
        sa.PrimaryKeyConstraint("id", name="pk_compute_nodes"),
        sa.ForeignKeyConstraint(["service_id"], ["services.id"], ondelete="SET NULL",
                                name="fk_compute_nodes_service_id_services"),
        sa.UniqueConstraint("uuid", name="uq_compute_nodes_uuid"),
        sa.UniqueConstraint("host", "hypervisor_hostname", "deleted",
                            name="uq_compute_nodes_host_hypervisor_hostname_deleted"),
        **MYSQL,
    )
    op.create_index("ix_compute_nodes_service_id", "compute_nodes", ["service_id"])

    op.create_table(
        "allocations",
        _id(),
        sa.Column("consumer_uuid", _s(36), nullable=False),
        sa.Column("compute_node_id", sa.Integer(), nullable=False),
        sa.Column("vcpus", sa.Integer(), nullable=False),
        sa.Column("memory_mb", sa.Integer(), nullable=False),
        sa.Column("disk_gb", sa.Integer(), nullable=False),
        sa.Column("project_id", _s(), nullable=True),
        sa.Column("user_id", _s(), nullable=True),
        sa.Column("created_at", _dt(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_allocations"),
        sa.ForeignKeyConstraint(["compute_node_id"], ["compute_nodes.id"],
                                name="fk_allocations_compute_node_id_compute_nodes"),
        **MYSQL,
    )
    op.create_index("ix_allocations_consumer_uuid", "allocations", ["consumer_uuid"])
    op.create_index("ix_allocations_compute_node_id", "allocations", ["compute_node_id"])

    op.create_table(
        "migrations",
        _id(),
        sa.Column("uuid", _s(36), nullable=False),
        sa.Column("instance_uuid", _s(36), nullable=False),
        sa.Column("migration_type", _s(), nullable=False),
        sa.Column("status", _s(), nullable=False),
        sa.Column("source_compute", _s(), nullable=True),
        sa.Column("source_node", _s(), nullable=True),
        sa.Column("dest_compute", _s(), nullable=True),
        sa.Column("dest_node", _s(), nullable=True),
        sa.Column("dest_host", _s(), nullable=True),
        sa.Column("old_flavor", sa.Text(), nullable=True),
        sa.Column("new_flavor", sa.Text(), nullable=True),
        sa.Column("memory_total", sa.BigInteger(), nullable=True),
        sa.Column("memory_processed", sa.BigInteger(), nullable=True),
        sa.Column("memory_remaining", sa.BigInteger(), nullable=True),
        sa.Column("disk_total", sa.BigInteger(), nullable=True),
        sa.Column("disk_processed", sa.BigInteger(), nullable=True),
        sa.Column("disk_remaining", sa.BigInteger(), nullable=True),
        sa.Column("project_id", _s(), nullable=True),
        sa.Column("user_id", _s(), nullable=True),
        sa.Column("cross_cell", sa.Boolean(), nullable=False),
        *_timestamps(),
        *_soft_delete(),
        sa.PrimaryKeyConstraint("id", name="pk_migrations"),
        sa.UniqueConstraint("uuid", name="uq_migrations_uuid"),
        **MYSQL,
    )
    op.create_index("ix_migrations_instance_uuid_status", "migrations",
                    ["instance_uuid", "status"])
    op.create_index("ix_migrations_source_compute_status", "migrations",
                    ["source_compute", "status"])
    op.create_index("ix_migrations_dest_compute_status", "migrations",
                    ["dest_compute", "status"])

    op.create_table(
        "instance_actions",
        _id(),
        sa.Column("request_id", _s(), nullable=True),
        sa.Column("instance_uuid", _s(36), nullable=False),
        sa.Column("action", _s(), nullable=False),
        sa.Column("project_id", _s(), nullable=True),
        sa.Column("user_id", _s(), nullable=True),
        sa.Column("start_time", _dt(), nullable=True),
        sa.Column("finish_time", _dt(), nullable=True),
        sa.Column("message", _s(), nullable=True),
        *_timestamps(),
        sa.PrimaryKeyConstraint("id", name="pk_instance_actions"),
        **MYSQL,
    )
    op.create_index("ix_instance_actions_instance_uuid_request_id", "instance_actions",
                    ["instance_uuid", "request_id"])
    op.create_table(
        "instance_action_events",
        _id(),
        sa.Column("action_id", sa.Integer(), nullable=False),
        sa.Column("event", _s(), nullable=False),
        sa.Column("start_time", _dt(), nullable=True),
        sa.Column("finish_time", _dt(), nullable=True),
        sa.Column("result", _s(), nullable=True),
        sa.Column("traceback", sa.Text(), nullable=True),
        sa.Column("host", _s(), nullable=True),
        sa.Column("details", sa.Text(), nullable=True),
        *_timestamps(),
        sa.PrimaryKeyConstraint("id", name="pk_instance_action_events"),
        sa.ForeignKeyConstraint(["action_id"], ["instance_actions.id"], ondelete="CASCADE",
                                name="fk_instance_action_events_action_id_instance_actions"),
        **MYSQL,
    )
    op.create_index("ix_instance_action_events_action_id", "instance_action_events",
                    ["action_id"])

    op.create_table(
        "instance_faults",
        _id(),
        sa.Column("instance_uuid", _s(36), nullable=False),
        sa.Column("code", sa.Integer(), nullable=False),
        sa.Column("message", _s(), nullable=True),
        sa.Column("details", sa.Text(), nullable=True),
        sa.Column("host", _s(), nullable=True),
        sa.Column("created_at", _dt(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_instance_faults"),
        **MYSQL,
    )
    op.create_index("ix_instance_faults_instance_uuid", "instance_faults", ["instance_uuid"])

    op.create_table(
        "quotas",
        _id(),
        sa.Column("project_id", _s(), nullable=False),
        sa.Column("resource", _s(), nullable=False),
        sa.Column("hard_limit", sa.Integer(), nullable=True),
        *_timestamps(),
        sa.PrimaryKeyConstraint("id", name="pk_quotas"),
        sa.UniqueConstraint("project_id", "resource", name="uq_quotas_project_id_resource"),
        **MYSQL,
    )


def downgrade() -> None:
    for table in ("quotas", "instance_faults", "instance_action_events", "instance_actions",
                  "migrations", "allocations", "compute_nodes", "services", "flavor_projects",
                  "flavor_extra_specs", "flavors", "instances"):
        op.drop_table(table)
