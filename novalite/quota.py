"""Per-project quotas on instances, cores and RAM, counted from the instances table.

Nova's model, without reservations: a limit is the project's row in the ``quotas``
table if there is one, else the ``[quota]`` default (-1 means unlimited); usage is
counted live from the project's non-deleted instances and their flavor snapshots,
so it can never drift from reality the way reservation counters did.

Enforcement is check-then-insert (see :func:`enforce`). The other resources Nova
reports in GET /limits (key pairs, metadata items, server groups, ...) have fixed
defaults here (per-project rows override them too) and no usage to count.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import sqlalchemy as sa
from sqlalchemy import orm

from novalite import exception
from novalite.conf import CONF
from novalite.context import RequestContext
from novalite.db import api as db
from novalite.db import models

UNLIMITED = -1

# Counted resources, in the order Nova names them in an over-quota message.
COUNTED = ("instances", "cores", "ram")

# Nova's defaults for the limits that novalite reports but does not enforce.
FIXED_DEFAULTS = {
    "metadata_items": 128,
    "injected_files": 5,
    "injected_file_content_bytes": 10240,
    "injected_file_path_bytes": 255,
    "key_pairs": 100,
    "server_groups": 10,
    "server_group_members": 10,
    # nova-network leftovers, still shown (as unlimited) before microversion 2.36.
    "floating_ips": UNLIMITED,
    "fixed_ips": UNLIMITED,
    "security_groups": UNLIMITED,
    "security_group_rules": UNLIMITED,
}


def default_limits() -> dict[str, int]:
    """The limits of a project without overrides: [quota] plus the fixed defaults."""
    limits = dict(FIXED_DEFAULTS)
    limits.update(instances=CONF.quota.instances, cores=CONF.quota.cores,
                  ram=CONF.quota.ram)
    return limits


def limits_for(ctx: RequestContext, project_id: str,
               session: orm.Session | None = None) -> dict[str, int]:
    """Every limit of a project: its quotas rows over the defaults (-1 = unlimited).

    A row with a NULL hard_limit means "use the default". Rows for resources novalite
    does not know are returned too, so an operator's override is never silently lost.
    """
    limits = default_limits()
    query = sa.select(models.Quota.resource, models.Quota.hard_limit).where(
        models.Quota.project_id == project_id)
    with _session(session) as sess:
        rows = sess.execute(query).all()
    for resource, hard_limit in rows:
        if hard_limit is not None:
            limits[resource] = int(hard_limit)
    return limits


def _flavor_amounts(flavor: dict | None) -> tuple[int, int]:
    flavor = flavor or {}
    return int(flavor.get("vcpus") or 0), int(flavor.get("memory_mb") or 0)


def usage_for(ctx: RequestContext, project_id: str,
              session: orm.Session | None = None) -> dict[str, int]:
    """What a project uses now: {"instances", "cores", "ram"} over its live instances.

    Cores and RAM come from each instance's current flavor snapshot (what Nova's
    instance-table counting does). Instances in any state count, building and error
    included, until they are deleted.
    """
    query = sa.select(models.Instance.flavor).where(
        models.Instance.project_id == project_id, models.Instance.deleted == 0)
    with _session(session) as sess:
        flavors = list(sess.scalars(query))
    cores = ram = 0
    for flavor in flavors:
        vcpus, memory_mb = _flavor_amounts(flavor)
        cores += vcpus
        ram += memory_mb
    return {"instances": len(flavors), "cores": cores, "ram": ram}


def enforce(ctx: RequestContext, project_id: str, instances: int = 0, cores: int = 0,
            ram: int = 0, session: orm.Session | None = None) -> None:
    """Raise exception.OverQuota (403) if adding these amounts would pass a limit.

    The arguments are deltas: a create of N instances passes (N, N*vcpus, N*ram); a
    resize passes (0, new-old vcpus, new-old ram), with zero or negative deltas never
    refused (a project already over a lowered limit can still shrink). The message is
    Nova's, e.g. "Quota exceeded for cores: Requested 4, but already used 18 of 20
    cores", naming every resource that is over.

    Check-then-insert: the usage read here and the caller's INSERT are two statements,
    so two concurrent requests can both pass the check and together exceed the limit
    (Nova accepts the same window, and re-checks after the insert when
    ``[quota] recheck_quota`` is on). Calling this with the ``session`` of the
    transaction that inserts the instance (or from inside ``db.transaction()``, which
    joins it) narrows the window to that transaction: on SQLite, whose writers are
    serialised by BEGIN IMMEDIATE, it closes it; on PostgreSQL and MariaDB (READ
    COMMITTED) a concurrent transaction can still commit in between.
    """
    deltas = {"instances": instances, "cores": cores, "ram": ram}
    wanted = {name: amount for name, amount in deltas.items() if amount > 0}
    if not wanted:
        return
    limits = limits_for(ctx, project_id, session=session)
    usage = usage_for(ctx, project_id, session=session)
    overs = [name for name in COUNTED if name in wanted
             and limits[name] != UNLIMITED and usage[name] + wanted[name] > limits[name]]
    if overs:
        raise exception.OverQuota(
            overs=", ".join(overs),
            req=", ".join(str(wanted[name]) for name in overs),
            used=", ".join(str(usage[name]) for name in overs),
            allowed=", ".join(str(limits[name]) for name in overs))


def allowed_instances(ctx: RequestContext, project_id: str, vcpus: int, memory_mb: int,
                      requested: int, session: orm.Session | None = None) -> int:
    """How many of `requested` instances of one size fit in the quota right now.

    For min_count/max_count creates: Nova builds as many as fit between the two, and
    refuses only when even min_count does not fit (then call enforce for the message).
    """
    limits = limits_for(ctx, project_id, session=session)
    usage = usage_for(ctx, project_id, session=session)
    fits = requested
    for name, per_instance in (("instances", 1), ("cores", vcpus), ("ram", memory_mb)):
        if limits[name] == UNLIMITED or per_instance <= 0:
            continue
        room = max(limits[name] - usage[name], 0)
        fits = min(fits, room // per_instance)
    return max(fits, 0)


def set_limit(ctx: RequestContext, project_id: str, resource: str,
              hard_limit: int | None) -> None:
    """Write (or with None, remove) a project's override of one limit.

    For tests, demos and operators' scripts; there is no os-quota-sets API yet.
    """
    with db.transaction() as session:
        row = session.scalars(sa.select(models.Quota).where(
            models.Quota.project_id == project_id,
            models.Quota.resource == resource)).first()
        if hard_limit is None:
            if row is not None:
                session.delete(row)
            return
        if row is None:
            session.add(models.Quota(project_id=project_id, resource=resource,
                                     hard_limit=int(hard_limit)))
        else:
            row.hard_limit = int(hard_limit)


@contextlib.contextmanager
def _session(session: orm.Session | None) -> Iterator[orm.Session]:
    """The caller's session as is, or a read transaction (which joins an outer one)."""
    if session is not None:
        yield session
        return
    with db.transaction(writer=False) as sess:
        yield sess
