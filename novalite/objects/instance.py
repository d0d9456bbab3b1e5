"""The instance as services pass it over RPC (compute agents have no database)."""

from __future__ import annotations

import dataclasses
import datetime
from typing import Any

from novalite.objects import base
from novalite.states import PowerState, TaskState, VmState


@dataclasses.dataclass
class Instance(base.NovaliteObject):
    """A snapshot of an instances row. `flavor` is the flavor snapshot dict stored on the
    instance (flavorid, name, vcpus, memory_mb, root_gb, ephemeral_gb, swap, extra_specs)."""

    OBJ_NAME = "Instance"
    VERSION = "1.0"

    uuid: str
    name: str | None = None
    project_id: str | None = None
    user_id: str | None = None
    host: str | None = None
    node: str | None = None
    vm_state: VmState = VmState.BUILDING
    task_state: TaskState | None = None
    power_state: PowerState = PowerState.NOSTATE
    flavor: dict = dataclasses.field(default_factory=dict)
    old_flavor: dict | None = None
    new_flavor: dict | None = None
    image_ref: str | None = None
    availability_zone: str | None = None
    launched_at: datetime.datetime | None = None
    locked: bool = False
    locked_by: str | None = None
    metadata: dict = dataclasses.field(default_factory=dict)
    system_metadata: dict = dataclasses.field(default_factory=dict)
    created_at: datetime.datetime | None = None
    updated_at: datetime.datetime | None = None

    @classmethod
    def from_db(cls, row: Any) -> Instance:
        """From a novalite.db.models.Instance row."""
        return cls(
            uuid=row.uuid, name=row.name, project_id=row.project_id, user_id=row.user_id,
            host=row.host, node=row.node, vm_state=VmState(row.vm_state),
            task_state=TaskState(row.task_state) if row.task_state else None,
            power_state=PowerState(row.power_state or 0), flavor=row.flavor or {},
            old_flavor=row.old_flavor, new_flavor=row.new_flavor, image_ref=row.image_ref,
            availability_zone=row.availability_zone, launched_at=row.launched_at,
            locked=bool(row.locked), locked_by=row.locked_by, metadata=row.metadata_ or {},
            system_metadata=row.system_metadata or {}, created_at=row.created_at,
            updated_at=row.updated_at)
