"""An in-process control plane for unit tests: conductor, scheduler and two compute
hosts (c1, c2) over fake://, on SQLite, with helpers to drive and inspect it."""

from __future__ import annotations

import time

from novalite import context as nl_context
from novalite import exception
from novalite.compute import rpcapi as compute_rpcapi
from novalite.conductor import rpcapi as conductor_rpcapi
from novalite.db import allocations
from novalite.db import api as db
from novalite.objects.instance import Instance
from novalite.objects.request_spec import RequestSpec
from novalite.states import VmState

FLAVOR = {"flavorid": "1", "name": "m1.small", "vcpus": 1, "memory_mb": 512, "root_gb": 1,
          "ephemeral_gb": 0, "swap": 0, "extra_specs": {}}


class Plane:
    def __init__(self) -> None:
        self.services = {}
        self.ctx = nl_context.RequestContext(user_id="u", project_id="p", roles=["member"])

    def compute(self, host: str):
        return self.services[host].manager

    def fail(self, host: str, operation: str) -> None:
        driver = self.compute(host).driver

        def broken(*args, **kwargs):
            raise exception.VirtDriverError(reason=f"{operation} broke on {host}")

        setattr(driver, operation, broken)

    def boot(self, flavor: dict = FLAVOR) -> str:
        ctx = nl_context.RequestContext(user_id="u", project_id="p", roles=["member"])
        row = db.instance_create(ctx, {"name": "vm", "flavor": flavor, "image_ref": "img"})
        db.action_start(ctx, row.uuid, "create")
        spec = RequestSpec(project_id="p", user_id="u", flavor=flavor, instance_uuid=row.uuid)
        conductor_rpcapi.ConductorAPI().build_instances(ctx, [Instance.from_db(row)], spec, {})
        return row.uuid

    def act(self, uuid: str, transition: str, cast: str, **kwargs) -> None:
        """What the API does: the guarded state change, the action, then the cast."""
        ctx = nl_context.RequestContext(user_id="u", project_id="p", roles=["member"])
        row = db.instance_transition(ctx, uuid, transition)
        db.action_start(ctx, uuid, transition)
        getattr(compute_rpcapi.ComputeAPI(), cast)(ctx, Instance.from_db(row), **kwargs)

    def settle(self, uuid: str, timeout: float = 10):
        """Wait until the instance has no task (or is gone); return the row or None."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                row = db.instance_get(self.ctx.elevated(), uuid)
            except exception.InstanceNotFound:
                return None
            if row.task_state is None and row.vm_state != VmState.BUILDING:
                return row
            time.sleep(0.02)
        raise AssertionError(f"instance {uuid} did not settle: {row.vm_state}/{row.task_state}")

    def held(self, uuid: str) -> dict[str, int]:
        return {a["host"]: a["memory_mb"]
                for a in allocations.get_by_consumer(self.ctx.elevated(), uuid)}

    def fault(self, uuid: str) -> str:
        return db.instance_fault_get_latest(self.ctx.elevated(), uuid).message
