"""compute_nodes.availability_zone: the zone a compute host reports (DESIGN §7).

NULL means the host is in [DEFAULT] default_availability_zone, so existing rows need no
backfill.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("compute_nodes",
                  sa.Column("availability_zone", sa.String(255), nullable=True))


def downgrade() -> None:
    # batch mode: SQLite cannot drop a column in place on older versions.
    with op.batch_alter_table("compute_nodes") as batch:
        batch.drop_column("availability_zone")
