"""novalite.db.allocations on SQLite: inventory, claim, release, move, audit, and that
concurrent claims never overbook a node."""

from __future__ import annotations

import threading
import types
import uuid

import pytest

from novalite import exception
from novalite.db import allocations
from novalite.db import api as db
from tests.unit.scheduler.helpers import make_host


def _node(**kw):
    values = dict(vcpus=8, memory_mb=16384, local_gb=100, cpu_allocation_ratio=1.0,
                  ram_allocation_ratio=1.0, disk_allocation_ratio=1.0, reserved_host_cpus=0,
                  reserved_host_memory_mb=0, reserved_host_disk_mb=0)
    values.update(kw)
    return types.SimpleNamespace(**values)


def test_inventory_applies_ratios_and_reserved():
    node = _node(vcpus=8, cpu_allocation_ratio=4.0, reserved_host_cpus=2,
                 memory_mb=16384, ram_allocation_ratio=1.5, reserved_host_memory_mb=512,
                 local_gb=100, disk_allocation_ratio=1.0, reserved_host_disk_mb=1536)
    assert allocations.inventory(node) == {"vcpus": 30, "memory_mb": 24064, "disk_gb": 98}
    # Fractions are floored; a reservation larger than the host leaves nothing (not < 0).
    assert allocations.inventory(_node(vcpus=3, cpu_allocation_ratio=1.5))["vcpus"] == 4
    assert allocations.inventory(_node(memory_mb=256, reserved_host_memory_mb=512)
                                 )["memory_mb"] == 0


def test_resources_from_flavor_rounds_swap_up():
    flavor = {"vcpus": 2, "memory_mb": 2048, "root_gb": 20, "ephemeral_gb": 5, "swap": 1025}
    assert allocations.resources_from_flavor(flavor) == {"vcpus": 2, "memory_mb": 2048,
                                                         "disk_gb": 27}
    assert allocations.resources_from_flavor({}) == {"vcpus": 0, "memory_mb": 0,
                                                     "disk_gb": 0}


def test_claim_checks_capacity_and_bumps_generation(host_factory, ctx):
    node = host_factory("c1", vcpus=4, memory_mb=4096, local_gb=40)
    assert allocations.claim(ctx, "i1", node.uuid, 2, 3000, 10, "p1", "u1")
    after = db.compute_node_get(ctx, node.uuid)
    assert after.generation == node.generation + 1
    # 1096 MiB left: a 2048 MiB claim does not fit and changes nothing.
    assert not allocations.claim(ctx, "i2", node.uuid, 1, 2048, 1, "p1", "u1")
    assert db.compute_node_get(ctx, node.uuid).generation == after.generation
    assert allocations.claim(ctx, "i2", node.uuid, 2, 1096, 30, "p1", "u1")
    assert db.compute_node_usage(ctx)[node.id] == {"vcpus": 4, "memory_mb": 4096,
                                                   "disk_gb": 40, "instances": 0}
    [row] = allocations.get_by_consumer(ctx, "i1")
    assert (row["compute_node_uuid"], row["host"], row["vcpus"], row["memory_mb"],
            row["disk_gb"], row["project_id"]) == (node.uuid, "c1", 2, 3000, 10, "p1")


def test_claim_again_replaces_the_consumers_allocation(host_factory, ctx):
    node = host_factory("c1", vcpus=4)
    assert allocations.claim(ctx, "i1", node.uuid, 3, 1024, 1, "p1", "u1")
    # The consumer's own 3 vCPUs do not count against its new claim of 4.
    assert allocations.claim(ctx, "i1", node.uuid, 4, 1024, 1, "p1", "u1")
    assert [a["vcpus"] for a in allocations.get_by_consumer(ctx, "i1")] == [4]


def test_claim_expected_generation_and_unknown_node(host_factory, ctx):
    node = host_factory("c1")
    assert not allocations.claim(ctx, "i1", node.uuid, 1, 1, 1, "p1", "u1",
                                 expected_generation=node.generation + 5)
    assert allocations.claim(ctx, "i1", node.uuid, 1, 1, 1, "p1", "u1",
                             expected_generation=node.generation)
    with pytest.raises(exception.ComputeNodeNotFound):
        allocations.claim(ctx, "i1", str(uuid.uuid4()), 1, 1, 1, "p1", "u1")
    with pytest.raises(exception.Invalid):
        allocations.claim(ctx, "i1", node.uuid, -1, 1, 1, "p1", "u1")


def test_inventory_change_between_read_and_claim_is_seen(host_factory, ctx):
    node = host_factory("c1", memory_mb=4096)
    # The compute host reports less memory (generation moves); the claim re-reads.
    make_host(ctx, "c1", memory_mb=1024)
    assert not allocations.claim(ctx, "i1", node.uuid, 1, 2048, 1, "p1", "u1")
    assert allocations.claim(ctx, "i1", node.uuid, 1, 1024, 1, "p1", "u1")


def test_release_all_or_one_node(host_factory, ctx):
    n1, n2 = host_factory("c1"), host_factory("c2")
    assert allocations.claim(ctx, "i1", n1.uuid, 1, 512, 1, "p1", "u1")
    assert allocations.claim(ctx, "i1", n2.uuid, 1, 512, 1, "p1", "u1")
    gen2 = db.compute_node_get(ctx, n2.uuid).generation
    assert allocations.release(ctx, "i1", n2.uuid) == 1
    assert db.compute_node_get(ctx, n2.uuid).generation == gen2 + 1
    assert [a["host"] for a in allocations.get_by_consumer(ctx, "i1")] == ["c1"]
    assert allocations.release(ctx, "i1") == 1
    assert allocations.release(ctx, "i1") == 0
    assert allocations.release(ctx, "i1", str(uuid.uuid4())) == 0
    assert allocations.get_by_consumer(ctx, "i1") == []


def test_move_parks_and_reverts_in_one_call(host_factory, ctx):
    src, dst = host_factory("src"), host_factory("dst")
    assert allocations.claim(ctx, "inst", src.uuid, 2, 1024, 10, "p1", "u1")
    # Start of a move: the source allocation goes to the migration.
    assert allocations.move(ctx, "inst", "mig") == 1
    assert allocations.get_by_consumer(ctx, "inst") == []
    # The scheduler claims the destination for the instance.
    assert allocations.claim(ctx, "inst", dst.uuid, 4, 2048, 20, "p1", "u1")
    # Revert: the instance gets its source allocation back, the destination one goes.
    assert allocations.move(ctx, "mig", "inst") == 1
    [back] = allocations.get_by_consumer(ctx, "inst")
    assert (back["host"], back["vcpus"]) == ("src", 2)
    assert allocations.get_by_consumer(ctx, "mig") == []
    usage = db.compute_node_usage(ctx)
    assert usage[dst.id]["vcpus"] == 0 and usage[src.id]["vcpus"] == 2
    # Nothing to move: the target keeps what it has.
    assert allocations.move(ctx, "mig", "inst") == 0
    assert len(allocations.get_by_consumer(ctx, "inst")) == 1


def test_audit_finds_allocations_without_a_consumer(host_factory, ctx):
    node = host_factory("c1", vcpus=16)
    live = db.instance_create(ctx, {"name": "live"})
    gone = db.instance_create(ctx, {"name": "gone"})
    db.instance_destroy(ctx, gone.uuid)
    running = db.migration_create(ctx, {"instance_uuid": live.uuid,
                                        "migration_type": "migration"})
    done = db.migration_create(ctx, {"instance_uuid": live.uuid,
                                     "migration_type": "migration", "status": "confirmed"})
    for consumer in (live.uuid, gone.uuid, running.uuid, done.uuid, "never-existed"):
        assert allocations.claim(ctx, consumer, node.uuid, 1, 1, 1, "p1", "u1")
    leaked = allocations.audit(ctx)
    assert sorted(a["consumer_uuid"] for a in leaked) == sorted(
        [gone.uuid, done.uuid, "never-existed"])
    assert {a["compute_node_uuid"] for a in leaked} == {node.uuid}
    for row in leaked:  # healing
        allocations.release(ctx, row["consumer_uuid"], row["compute_node_uuid"])
    assert allocations.audit(ctx) == []


def test_concurrent_claims_never_overbook(host_factory, ctx):
    node = host_factory("c1", vcpus=5, memory_mb=100000, local_gb=1000)
    start = threading.Barrier(12)
    results: list[bool] = []
    errors: list[Exception] = []

    def worker(i: int) -> None:
        start.wait()
        try:
            results.append(allocations.claim(ctx, f"i{i}", node.uuid, 1, 1, 1, "p1", "u1"))
        except Exception as err:  # noqa: BLE001
            errors.append(err)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert results.count(True) == 5
    assert db.compute_node_usage(ctx)[node.id]["vcpus"] == 5
