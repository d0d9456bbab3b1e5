"""Flavors, their extra specs and their project access, in the database.

Same contract as novalite.db.api: functions take a RequestContext first, run in
``db.transaction()`` (so they join a caller's transaction), and return ORM rows
*detached* from their session — ``models.Flavor`` with ``extra_specs`` and ``projects``
already loaded, safe to read after the session closed — or plain dicts/lists where
noted. Errors are novalite exceptions, never SQLAlchemy ones.

Visibility follows Nova: an administrator (``ctx.is_admin``) sees every flavor; anyone
else sees public flavors and the private ones their project was given access to. A
flavor that is not visible is "not found" (404), never "forbidden".

Flavors are deleted outright: instances keep their own copy (``flavor_snapshot``).
"""

from __future__ import annotations

import uuid as uuid_lib
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy import orm

from novalite import exception
from novalite.context import RequestContext
from novalite.db import api as db
from novalite.db import models

# Columns GET /flavors may sort by (Nova's list; vcpu_weight has no column here and
# falls back to the id order).
SORT_KEYS = ("created_at", "description", "disabled", "ephemeral_gb", "flavorid", "id",
             "is_public", "memory_mb", "name", "root_gb", "rxtx_factor", "swap",
             "updated_at", "vcpu_weight", "vcpus")

_CREATE_FIELDS = ("flavorid", "name", "vcpus", "memory_mb", "root_gb", "ephemeral_gb",
                  "swap", "rxtx_factor", "is_public", "disabled", "description")


# -- helpers -------------------------------------------------------------------------------

def _visible_to(ctx: RequestContext) -> Any:
    """The WHERE clause of what a caller may see (true for administrators)."""
    if ctx.is_admin:
        return sa.true()
    clauses = [models.Flavor.is_public.is_(True)]
    if ctx.project_id:
        clauses.append(models.Flavor.projects.any(
            models.FlavorProject.project_id == ctx.project_id))
    return sa.or_(*clauses)


def _find(session: orm.Session, flavorid: str, ctx: RequestContext | None = None) -> Any:
    """The flavor by its API id; visible to `ctx` unless ctx is None (internal use)."""
    query = sa.select(models.Flavor).where(models.Flavor.flavorid == str(flavorid))
    if ctx is not None:
        query = query.where(_visible_to(ctx))
    flavor = session.scalars(query.execution_options(populate_existing=True)).first()
    if flavor is None:
        raise exception.FlavorNotFound(flavor_id=flavorid)
    return flavor


def _reload(session: orm.Session, flavor_pk: int) -> Any:
    """Re-read a flavor with fresh relationships, so the detached row is complete."""
    session.flush()
    return session.scalars(sa.select(models.Flavor).where(models.Flavor.id == flavor_pk)
                           .execution_options(populate_existing=True)).one()


def _duplicate_field(session: orm.Session, values: dict[str, Any]) -> tuple[str, str] | None:
    """Which unique field of a new flavor is taken: ("ID", id), ("name", name) or None."""
    if session.scalar(sa.select(models.Flavor.id).where(
            models.Flavor.flavorid == values["flavorid"])) is not None:
        return "ID", values["flavorid"]
    if session.scalar(sa.select(models.Flavor.id).where(
            models.Flavor.name == values["name"])) is not None:
        return "name", values["name"]
    return None


# -- flavors ---------------------------------------------------------------------------

def flavor_create(ctx: RequestContext, values: dict[str, Any],
                  projects: Iterable[str] = ()) -> Any:
    """Insert a flavor; a new uuid is its id when `flavorid` is missing or None.

    `values` uses column names (name, vcpus, memory_mb, root_gb, ephemeral_gb, swap,
    rxtx_factor, is_public, disabled, description, flavorid). `projects` get access to
    it (useful for private flavors). FlavorExists (409) when the id or the name is
    taken, checked first and again by the unique constraints (a concurrent create).
    """
    unknown = set(values) - set(_CREATE_FIELDS)
    if unknown:
        raise exception.Invalid(reason=f"unknown flavor field(s): {', '.join(sorted(unknown))}")
    row = dict(values)
    flavorid = row.get("flavorid")
    row["flavorid"] = str(uuid_lib.uuid4()) if flavorid in (None, "") else str(flavorid)
    try:
        with db.transaction() as session:
            taken = _duplicate_field(session, row)
            if taken is not None:
                raise exception.FlavorExists(field=taken[0], value=taken[1])
            flavor = models.Flavor(**row)
            flavor.projects = [models.FlavorProject(project_id=p)
                               for p in dict.fromkeys(projects)]
            session.add(flavor)
            try:
                session.flush()
            except sa_exc.IntegrityError:
                raise exception.FlavorExists(field="name or ID",
                                             value=f"{row['name']} / {row['flavorid']}") \
                    from None
            return _reload(session, flavor.id)
    except exception.DBDuplicateEntry:
        # Lost a race with a concurrent create, noticed at commit time.
        raise exception.FlavorExists(field="name or ID",
                                     value=f"{row['name']} / {row['flavorid']}") from None


def flavor_get_by_flavorid(ctx: RequestContext, flavorid: str) -> Any:
    """The flavor with API id `flavorid`, if `ctx` may see it; FlavorNotFound otherwise."""
    with db.transaction(writer=False) as session:
        return _find(session, flavorid, ctx)


def _sort_value(flavor: Any, key: str) -> tuple[int, Any]:
    value = getattr(flavor, key, None) if key != "vcpu_weight" else None
    # None first in ascending order, and never compared with a value.
    return (0, 0) if value is None else (1, value)


def flavor_get_all(ctx: RequestContext, is_public: bool | None = True,
                   disabled: bool | None = None, min_memory_mb: int | None = None,
                   min_root_gb: int | None = None, sort_key: str = "flavorid",
                   sort_dir: str = "asc", limit: int | None = None,
                   marker: str | None = None) -> list:
    """Flavors visible to `ctx`, filtered, sorted and paged as GET /flavors does.

    is_public: True (the API's default) means public flavors *and* the private ones the
    caller's project has access to; False only private ones; None no filter (what an
    administrator asks with ``is_public=none``). The marker is a flavorid the caller can
    see (exception.MarkerNotFound, a 400, otherwise). Ties on the sort key go by internal id.

    Flavor tables are small (tens of rows), so sorting and paging happen in Python,
    which keeps NULL ordering identical on SQLite, PostgreSQL and MariaDB.
    """
    if sort_key not in SORT_KEYS:
        raise exception.Invalid(reason=f"Invalid sort key {sort_key}")
    if sort_dir not in ("asc", "desc"):
        raise exception.Invalid(reason=f"Invalid sort direction {sort_dir}")
    query = sa.select(models.Flavor).where(_visible_to(ctx))
    if is_public is not None:
        wanted = models.Flavor.is_public.is_(bool(is_public))
        if is_public and ctx.project_id:
            wanted = sa.or_(wanted, models.Flavor.projects.any(
                models.FlavorProject.project_id == ctx.project_id))
        query = query.where(wanted)
    if disabled is not None:
        query = query.where(models.Flavor.disabled.is_(bool(disabled)))
    if min_memory_mb is not None:
        query = query.where(models.Flavor.memory_mb >= min_memory_mb)
    if min_root_gb is not None:
        query = query.where(models.Flavor.root_gb >= min_root_gb)
    with db.transaction(writer=False) as session:
        rows = list(session.scalars(query))
        marker_row = None
        if marker is not None:
            marker_row = session.scalars(sa.select(models.Flavor).where(
                models.Flavor.flavorid == str(marker), _visible_to(ctx))).first()
            if marker_row is None:
                raise exception.MarkerNotFound(marker=marker)
    reverse = sort_dir == "desc"
    rows.sort(key=lambda f: (_sort_value(f, sort_key), f.id), reverse=reverse)
    if marker_row is not None:
        marker_key = (_sort_value(marker_row, sort_key), marker_row.id)
        if reverse:
            rows = [f for f in rows if (_sort_value(f, sort_key), f.id) < marker_key]
        else:
            rows = [f for f in rows if (_sort_value(f, sort_key), f.id) > marker_key]
    return rows if limit is None else rows[:max(limit, 0)]


def flavor_update(ctx: RequestContext, flavorid: str, values: dict[str, Any]) -> Any:
    """Change a flavor's description or disabled flag (Nova allows no more: sizes
    are immutable once instances use them). FlavorNotFound if it does not exist."""
    unknown = set(values) - {"description", "disabled"}
    if unknown:
        raise exception.Invalid(reason=f"flavor field(s) cannot be updated: "
                                       f"{', '.join(sorted(unknown))}")
    with db.transaction() as session:
        flavor = _find(session, flavorid)
        for key, value in values.items():
            setattr(flavor, key, value)
        return _reload(session, flavor.id)


def flavor_destroy(ctx: RequestContext, flavorid: str) -> None:
    """Delete a flavor with its extra specs and access list; FlavorNotFound if missing.

    Instances that use it are unaffected: they carry a snapshot.
    """
    with db.transaction() as session:
        flavor = _find(session, flavorid)
        session.delete(flavor)


def extra_specs_of(flavor: Any) -> dict[str, str]:
    """A loaded flavor row's extra specs as {key: value}."""
    return {spec.key: spec.value for spec in flavor.extra_specs}


def flavor_snapshot(flavor: Any) -> dict[str, Any]:
    """The plain dict an instance stores as its flavor (current, old or new).

    A copy, not a reference: later changes to the flavor, or its deletion, leave
    running instances as they were booted (as Nova's embedded flavor does).
    """
    return {
        "flavorid": flavor.flavorid,
        "name": flavor.name,
        "vcpus": flavor.vcpus,
        "memory_mb": flavor.memory_mb,
        "root_gb": flavor.root_gb,
        "ephemeral_gb": flavor.ephemeral_gb,
        "swap": flavor.swap,
        "rxtx_factor": flavor.rxtx_factor,
        "is_public": flavor.is_public,
        "description": flavor.description,
        "extra_specs": extra_specs_of(flavor),
    }


# -- extra specs -------------------------------------------------------------------------

def flavor_extra_specs_get(ctx: RequestContext, flavorid: str) -> dict[str, str]:
    """{key: value} of a flavor `ctx` may see; FlavorNotFound otherwise."""
    return extra_specs_of(flavor_get_by_flavorid(ctx, flavorid))


def flavor_extra_specs_update(ctx: RequestContext, flavorid: str,
                              specs: dict[str, Any]) -> dict[str, str]:
    """Add or overwrite the given keys (others are kept); returns all extra specs.

    Values are stored as strings, as Nova does (numbers are accepted by the API).
    """
    with db.transaction() as session:
        flavor = _find(session, flavorid)
        existing = {spec.key: spec for spec in flavor.extra_specs}
        for key, value in specs.items():
            text = value if isinstance(value, str) or value is None else str(value)
            if key in existing:
                existing[key].value = text
            else:
                flavor.extra_specs.append(models.FlavorExtraSpec(key=key, value=text))
        return extra_specs_of(_reload(session, flavor.id))


def flavor_extra_spec_delete(ctx: RequestContext, flavorid: str, key: str) -> None:
    """Remove one key; FlavorNotFound or exception.FlavorExtraSpecsNotFound (both 404)."""
    with db.transaction() as session:
        flavor = _find(session, flavorid)
        for spec in list(flavor.extra_specs):
            if spec.key == key:
                flavor.extra_specs.remove(spec)
                return
    raise exception.FlavorExtraSpecsNotFound(flavor_id=flavorid, extra_specs_key=key)


# -- project access --------------------------------------------------------------------------

def _projects_of(flavor: Any) -> list[str]:
    return sorted(access.project_id for access in flavor.projects)


def flavor_access_get(ctx: RequestContext, flavorid: str) -> list[str]:
    """Project ids with access to the flavor, sorted; FlavorNotFound if it is missing."""
    with db.transaction(writer=False) as session:
        return _projects_of(_find(session, flavorid))


def flavor_access_add(ctx: RequestContext, flavorid: str, project_id: str) -> list[str]:
    """Give a project access; exception.FlavorAccessExists (409) if it had it. Returns the list."""
    with db.transaction() as session:
        flavor = _find(session, flavorid)
        if project_id in _projects_of(flavor):
            raise exception.FlavorAccessExists(flavor_id=flavorid, project_id=project_id)
        flavor.projects.append(models.FlavorProject(project_id=project_id))
        return _projects_of(_reload(session, flavor.id))


def flavor_access_remove(ctx: RequestContext, flavorid: str, project_id: str) -> list[str]:
    """Take a project's access away; exception.FlavorAccessNotFound (404) if it had none."""
    with db.transaction() as session:
        flavor = _find(session, flavorid)
        for access in list(flavor.projects):
            if access.project_id == project_id:
                flavor.projects.remove(access)
                return _projects_of(_reload(session, flavor.id))
    raise exception.FlavorAccessNotFound(flavor_id=flavorid, project_id=project_id)
