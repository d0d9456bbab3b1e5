"""A migration record as services pass it over RPC."""

from __future__ import annotations

import dataclasses
from typing import Any

from novalite.objects import base
from novalite.states import MigrationStatus, MigrationType


@dataclasses.dataclass
class Migration(base.NovaliteObject):
    OBJ_NAME = "Migration"
    VERSION = "1.0"

    id: int
    uuid: str
    instance_uuid: str
    migration_type: MigrationType
    status: MigrationStatus
    source_compute: str | None = None
    source_node: str | None = None
    dest_compute: str | None = None
    dest_node: str | None = None
    old_flavor: dict | None = None
    new_flavor: dict | None = None

    @classmethod
    def from_db(cls, row: Any) -> Migration:
        return cls(id=row.id, uuid=row.uuid, instance_uuid=row.instance_uuid,
                   migration_type=MigrationType(row.migration_type),
                   status=MigrationStatus(row.status), source_compute=row.source_compute,
                   source_node=row.source_node, dest_compute=row.dest_compute,
                   dest_node=row.dest_node, old_flavor=row.old_flavor,
                   new_flavor=row.new_flavor)
