"""Allocations: the placement idea, in-process (DESIGN §3).

Each live compute node is a resource provider. Its capacity per resource class is
:func:`inventory`; what is used is the sum of the allocations on it; its ``generation``
moves whenever either changes. A consumer (an instance uuid, or a migration uuid during
a move) holds at most one allocation per node, and may hold allocations on several
nodes (the source and the destination of a move).

Why a claim cannot overbook a node, on every backend:

* :func:`claim` reads the node's generation and current usage, checks the request
  fits, then bumps the generation with a guarded
  ``UPDATE compute_nodes SET generation = generation + 1 WHERE id = ? AND generation = ?``
  *before* it writes the allocation, all in one transaction. Every write to a node's
  allocations bumps its generation that way, so if anything changed the node since
  the usage was read, the UPDATE matches zero rows and the claim re-reads and retries.
* On PostgreSQL and MariaDB (READ COMMITTED) a concurrent UPDATE of the same row waits
  for the winner's commit and then re-checks ``generation = ?`` against the committed
  row, so exactly one of two racing claims matches. Updating the node row first also
  means a claim holds the row lock before its allocation INSERT takes the foreign-key
  lock on the same row, which avoids the lock-upgrade deadlock InnoDB would otherwise
  hit. On SQLite, writer transactions are ``BEGIN IMMEDIATE`` and so fully serialised.

Nothing here commits half a change: each public function is one transaction (or joins
the caller's, see novalite.db.api.transaction). Usage per node for all nodes is
novalite.db.api.compute_node_usage; it is not duplicated here.
"""

from __future__ import annotations

import logging
import math
import random
import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy import orm

from novalite import exception, states
from novalite.context import RequestContext
from novalite.db import api as db_api
from novalite.db import models

LOG = logging.getLogger(__name__)

RESOURCES = ("vcpus", "memory_mb", "disk_gb")
# Lost generation races before claim() gives up on a node (the caller moves on).
CLAIM_ATTEMPTS = 10


def inventory(node: Any) -> dict[str, int]:
    """Capacity of a compute node per resource: total × allocation ratio − reserved.

    Works on a models.ComputeNode row or anything with the same attributes; never
    negative (a host whose reservation exceeds its total simply fits nothing).
    """
    vcpus = math.floor(node.vcpus * node.cpu_allocation_ratio) - node.reserved_host_cpus
    memory_mb = (math.floor(node.memory_mb * node.ram_allocation_ratio)
                 - node.reserved_host_memory_mb)
    disk_gb = math.floor(node.local_gb * node.disk_allocation_ratio
                         - node.reserved_host_disk_mb / 1024)
    return {"vcpus": max(vcpus, 0), "memory_mb": max(memory_mb, 0),
            "disk_gb": max(disk_gb, 0)}


def resources_from_flavor(flavor: dict) -> dict[str, int]:
    """What one instance of a flavor snapshot needs: vcpus, memory_mb, and disk_gb =
    root_gb + ephemeral_gb + swap (MiB) rounded up to whole GiB."""
    swap_gb = math.ceil(int(flavor.get("swap") or 0) / 1024)
    return {"vcpus": int(flavor.get("vcpus") or 0),
            "memory_mb": int(flavor.get("memory_mb") or 0),
            "disk_gb": int(flavor.get("root_gb") or 0) + int(flavor.get("ephemeral_gb") or 0)
            + swap_gb}


# -- helpers ----------------------------------------------------------------------------

def _node_by_uuid(session: orm.Session, compute_node_uuid: str) -> models.ComputeNode:
    node = session.scalars(
        sa.select(models.ComputeNode)
        .where(models.ComputeNode.uuid == compute_node_uuid, models.ComputeNode.deleted == 0)
        .execution_options(populate_existing=True)).first()
    if node is None:
        raise exception.ComputeNodeNotFound(node=compute_node_uuid)
    return node


def _node_usage(session: orm.Session, node_id: int,
                except_consumer: str | None = None) -> dict[str, int]:
    """Sum of the allocations on one node (optionally leaving one consumer out)."""
    alloc = models.Allocation
    query = (sa.select(sa.func.coalesce(sa.func.sum(alloc.vcpus), 0),
                       sa.func.coalesce(sa.func.sum(alloc.memory_mb), 0),
                       sa.func.coalesce(sa.func.sum(alloc.disk_gb), 0))
             .where(alloc.compute_node_id == node_id))
    if except_consumer is not None:
        query = query.where(alloc.consumer_uuid != except_consumer)
    vcpus, memory_mb, disk_gb = session.execute(query).one()
    return {"vcpus": int(vcpus), "memory_mb": int(memory_mb), "disk_gb": int(disk_gb)}


def _bump(session: orm.Session, node_id: int, expected: int | None = None) -> bool:
    """generation += 1 on a node; with `expected`, only if it still is that (the CAS)."""
    stmt = sa.update(models.ComputeNode).where(models.ComputeNode.id == node_id)
    if expected is not None:
        stmt = stmt.where(models.ComputeNode.generation == expected)
    result = session.execute(stmt.values(generation=models.ComputeNode.generation + 1)
                             .execution_options(synchronize_session=False))
    return result.rowcount == 1


def _bump_all(session: orm.Session, node_ids: set[int]) -> None:
    # Always in id order, so two multi-node transactions never lock in opposite orders.
    for node_id in sorted(node_ids):
        _bump(session, node_id)


def _as_dict(row: models.Allocation, node: models.ComputeNode | None) -> dict[str, Any]:
    out = row.to_dict()
    out["compute_node_uuid"] = node.uuid if node is not None else None
    out["host"] = node.host if node is not None else None
    out["hypervisor_hostname"] = node.hypervisor_hostname if node is not None else None
    return out


def _rows_with_nodes(session: orm.Session, *where: Any) -> list[dict[str, Any]]:
    alloc, node = models.Allocation, models.ComputeNode
    rows = session.execute(
        sa.select(alloc, node).outerjoin(node, node.id == alloc.compute_node_id)
        .where(*where).order_by(alloc.id))
    return [_as_dict(a, n) for a, n in rows]


# -- claims -----------------------------------------------------------------------------

class _LostRace(Exception):
    """The node's generation moved between reading its usage and the guarded UPDATE."""


def _try_claim(session: orm.Session, consumer_uuid: str, compute_node_uuid: str,
               wanted: dict[str, int], project_id: str | None, user_id: str | None,
               expected_generation: int | None) -> bool:
    node = _node_by_uuid(session, compute_node_uuid)
    generation = node.generation
    if expected_generation is not None and generation != expected_generation:
        LOG.debug("Claim for %s on %s refused: generation %s, caller expected %s",
                  consumer_uuid, compute_node_uuid, generation, expected_generation)
        return False
    capacity = inventory(node)
    # The consumer's own allocation on this node is replaced, so it does not count.
    used = _node_usage(session, node.id, except_consumer=consumer_uuid)
    short = [rc for rc in RESOURCES
             if wanted[rc] > 0 and used[rc] + wanted[rc] > capacity[rc]]
    if short:
        LOG.debug("Claim for %s on %s refused, not enough %s (capacity %s, used %s, "
                  "asked %s)", consumer_uuid, node.host, ", ".join(short), capacity, used,
                  wanted)
        return False
    if not _bump(session, node.id, expected=generation):
        raise _LostRace()
    # We hold the node's row lock now; nobody else can change its allocations.
    alloc = models.Allocation
    session.execute(sa.delete(alloc).where(alloc.consumer_uuid == consumer_uuid,
                                           alloc.compute_node_id == node.id)
                    .execution_options(synchronize_session=False))
    session.add(models.Allocation(consumer_uuid=consumer_uuid, compute_node_id=node.id,
                                  project_id=project_id, user_id=user_id, **wanted))
    session.flush()
    return True


@db_api.retry_on_deadlock
def claim(ctx: RequestContext, consumer_uuid: str, compute_node_uuid: str, vcpus: int,
          memory_mb: int, disk_gb: int, project_id: str | None, user_id: str | None,
          expected_generation: int | None = None) -> bool:
    """Atomically allocate resources on a node for a consumer, if they fit.

    One transaction: capacity minus current usage is checked, the node's generation is
    bumped with a compare-and-swap, and the allocation written. A lost race (another
    writer moved the generation) re-reads and retries up to CLAIM_ATTEMPTS times.
    Returns False when the node lacks capacity, when `expected_generation` is given
    and the node's generation is no longer that, or when the node stayed contended
    through every attempt: in all cases the caller should try another host.
    A consumer's existing allocation on the same node is replaced (a repeated claim is
    idempotent); its allocations on other nodes are kept (moves hold two).
    Raises ComputeNodeNotFound for an unknown or deleted node.
    """
    wanted = {"vcpus": int(vcpus), "memory_mb": int(memory_mb), "disk_gb": int(disk_gb)}
    if any(v < 0 for v in wanted.values()):
        raise exception.Invalid(reason=f"negative allocation requested: {wanted}")
    for attempt in range(CLAIM_ATTEMPTS):
        try:
            with db_api.transaction() as session:
                return _try_claim(session, consumer_uuid, compute_node_uuid, wanted,
                                  project_id, user_id, expected_generation)
        except _LostRace:
            # Nothing was written on this attempt: the generation UPDATE is the first
            # write, so a lost race leaves the (possibly outer) transaction clean.
            if expected_generation is not None:
                return False
            time.sleep(random.random() * 0.005 * (attempt + 1))
    LOG.warning("Claim for %s on compute node %s lost the race %d times; giving up",
                consumer_uuid, compute_node_uuid, CLAIM_ATTEMPTS)
    return False


@db_api.retry_on_deadlock
def release(ctx: RequestContext, consumer_uuid: str,
            compute_node_uuid: str | None = None) -> int:
    """Drop a consumer's allocations (only those on one node when given); returns the
    number of rows removed and bumps the generation of every node that changed."""
    alloc = models.Allocation
    with db_api.transaction() as session:
        where = [alloc.consumer_uuid == consumer_uuid]
        if compute_node_uuid is not None:
            node_id = session.scalar(sa.select(models.ComputeNode.id).where(
                models.ComputeNode.uuid == compute_node_uuid))
            if node_id is None:
                return 0
            where.append(alloc.compute_node_id == node_id)
        node_ids = set(session.scalars(sa.select(alloc.compute_node_id).where(*where)))
        if not node_ids:
            return 0
        # Lock (bump) the nodes first, then delete: the same order as claim().
        _bump_all(session, node_ids)
        result = session.execute(sa.delete(alloc).where(*where)
                                 .execution_options(synchronize_session=False))
        return int(result.rowcount)


def get_by_consumer(ctx: RequestContext, consumer_uuid: str) -> list[dict[str, Any]]:
    """A consumer's allocations as dicts: the allocations columns plus the node's
    compute_node_uuid, host and hypervisor_hostname (what a move flow needs)."""
    with db_api.transaction(writer=False) as session:
        return _rows_with_nodes(session, models.Allocation.consumer_uuid == consumer_uuid)


@db_api.retry_on_deadlock
def move(ctx: RequestContext, from_consumer: str, to_consumer: str) -> int:
    """Give all of from_consumer's allocations to to_consumer, in one transaction.

    Start of a move: move(instance, migration) parks the source allocation on the
    migration. Revert/rollback: move(migration, instance) puts it back, and the
    instance's own allocations (the destination claim) are dropped in the same
    transaction, so the instance never holds both. When from_consumer holds nothing,
    nothing changes (to_consumer keeps what it has). Returns the rows re-owned.
    """
    alloc = models.Allocation
    with db_api.transaction() as session:
        moving = list(session.execute(
            sa.select(alloc.id, alloc.compute_node_id)
            .where(alloc.consumer_uuid == from_consumer)))
        if not moving or from_consumer == to_consumer:
            return 0
        dropped = set(session.scalars(sa.select(alloc.compute_node_id).where(
            alloc.consumer_uuid == to_consumer)))
        _bump_all(session, dropped | {node_id for _, node_id in moving})
        session.execute(sa.delete(alloc).where(alloc.consumer_uuid == to_consumer)
                        .execution_options(synchronize_session=False))
        result = session.execute(
            sa.update(alloc).where(alloc.consumer_uuid == from_consumer)
            .values(consumer_uuid=to_consumer)
            .execution_options(synchronize_session=False))
        return int(result.rowcount)


def audit(ctx: RequestContext) -> list[dict[str, Any]]:
    """Allocations whose consumer is neither a live instance nor a migration still in
    progress (leaks after failed moves or lost deletes), oldest first, as dicts like
    get_by_consumer's. Healing is release(ctx, row["consumer_uuid"],
    row["compute_node_uuid"]) for each; this function only reads.
    """
    alloc, inst, mig = models.Allocation, models.Instance, models.Migration
    live_instance = sa.exists().where(inst.uuid == alloc.consumer_uuid, inst.deleted == 0)
    active_migration = sa.exists().where(
        mig.uuid == alloc.consumer_uuid, mig.deleted == 0,
        mig.status.in_(sorted(s.value for s in states.MIGRATION_IN_PROGRESS)))
    with db_api.transaction(writer=False) as session:
        return _rows_with_nodes(session, ~live_instance, ~active_migration)
