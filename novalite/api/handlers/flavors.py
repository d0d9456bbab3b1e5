"""/flavors: list, show, create, update (2.55), delete; extra specs; project access.

Views follow Nova at each microversion: `description` from 2.55 (index included),
`extra_specs` from 2.61 in detail/show/create/update when the extra-specs index policy
allows, and `swap` 0 instead of "" from 2.75 (when 2.75 also stops ignoring unknown
query parameters). Non-admins see public flavors, private ones their project was given
access to, and never disabled ones in lists; a flavor they may not see is a 404.
"""

from __future__ import annotations

import urllib.parse
from typing import Any

import webob
import webob.exc

from novalite import exception
from novalite.api import microversion, policy, util
from novalite.api.policies import flavors as flavor_policies
from novalite.api.schemas import flavors as schemas
from novalite.db import flavors as db_flavors

# Nova's [api] max_limit: the largest page, and the page size when none is asked.
MAX_LIMIT = 1000
COLLECTION = "flavors"
TRUE_STRINGS = ("1", "t", "true", "on", "y", "yes")
FALSE_STRINGS = ("0", "f", "false", "off", "n", "no")


# -- links (shared with the images proxy) ----------------------------------------------

def url_project(req: util.Request) -> str:
    """The project id when the request URL carried one (/v2.1/{project_id}/...), else ""
    — links then keep the same form, as Nova's do."""
    project = req.context.project_id
    if project and req.path_info.startswith(f"/v2.1/{project}/"):
        return project
    return ""


def _join(*parts: str) -> str:
    return "/".join(part.strip("/") for part in parts if part)


def resource_links(req: util.Request, collection: str, identifier: str) -> list[dict]:
    """Nova's `self` (versioned) and `bookmark` (unversioned) links of a resource."""
    base, project = util.base_url(req), url_project(req)
    return [
        {"rel": "self", "href": _join(base, "v2.1", project, collection, str(identifier))},
        {"rel": "bookmark", "href": _join(base, project, collection, str(identifier))},
    ]


def _last(value: Any) -> Any:
    return value[-1] if isinstance(value, list) else value


def collection_links(req: util.Request, count: int, last_id: str | None,
                     collection: str) -> list[dict[str, str]]:
    """Nova's `*_links`: a `next` link when the caller gave a limit and the page is
    full; the query keeps every parameter, with the marker set to the last item."""
    limit = _last(util.query_params(req).get("limit"))
    if not limit or last_id is None:
        return []
    try:
        if int(limit) != count:
            return []
    except ValueError:
        return []
    params = {key: _last(value) for key, value in util.query_params(req).items()}
    params["marker"] = last_id
    query = urllib.parse.urlencode(sorted(params.items()))
    href = _join(util.base_url(req), "v2.1", url_project(req), collection)
    return [{"rel": "next", "href": f"{href}?{query}"}]


# -- views ---------------------------------------------------------------------------

def _with_extra_specs(req: util.Request) -> bool:
    return (microversion.version_at_least(req, "2.61")
            and policy.check(req.context, flavor_policies.EXTRA_SPECS_INDEX))


def flavor_view_basic(req: util.Request, flavor: Any) -> dict[str, Any]:
    """A flavor in GET /flavors: id, name, links (and description from 2.55)."""
    view: dict[str, Any] = {
        "id": flavor.flavorid,
        "name": flavor.name,
        "links": resource_links(req, COLLECTION, flavor.flavorid),
    }
    if microversion.version_at_least(req, "2.55"):
        view["description"] = flavor.description
    return view


def flavor_view(req: util.Request, flavor: Any, extra_specs: bool) -> dict[str, Any]:
    """A flavor in detail, show, create and update responses."""
    view: dict[str, Any] = {
        "id": flavor.flavorid,
        "name": flavor.name,
        "ram": flavor.memory_mb,
        "disk": flavor.root_gb,
        "swap": flavor.swap or (0 if microversion.version_at_least(req, "2.75") else ""),
        "OS-FLV-EXT-DATA:ephemeral": flavor.ephemeral_gb,
        "OS-FLV-DISABLED:disabled": bool(flavor.disabled),
        "vcpus": flavor.vcpus,
        "os-flavor-access:is_public": bool(flavor.is_public),
        "rxtx_factor": flavor.rxtx_factor or "",
        "links": resource_links(req, COLLECTION, flavor.flavorid),
    }
    if microversion.version_at_least(req, "2.55"):
        view["description"] = flavor.description
    if extra_specs:
        view["extra_specs"] = db_flavors.extra_specs_of(flavor)
    return view


# -- list and show ---------------------------------------------------------------------

def _parse_is_public(value: str | None) -> bool | None:
    """Nova's is_public query values: absent = public, "none" = all, else a boolean."""
    if value is None:
        return True
    lowered = value.strip().lower()
    if lowered == "none":
        return None
    if lowered in TRUE_STRINGS:
        return True
    if lowered in FALSE_STRINGS:
        return False
    raise webob.exc.HTTPBadRequest(explanation=f"Invalid is_public filter [{value}]")


def _int_filter(params: dict[str, Any], name: str) -> int | None:
    value = _last(params.get(name))
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise webob.exc.HTTPBadRequest(
            explanation=f"Invalid {name} filter [{value}]") from None


def _get_flavors(req: util.Request) -> list:
    ctx = req.context
    policy.authorize(ctx, flavor_policies.LIST)
    schema = (schemas.index_query_v275 if microversion.version_at_least(req, "2.75")
              else schemas.index_query)
    params = util.validate_query(req, schema)
    limit_text = _last(params.get("limit"))
    limit = min(int(limit_text), MAX_LIMIT) if limit_text is not None else MAX_LIMIT
    filters: dict[str, Any] = {}
    if ctx.is_admin:
        # Only administrators may look at private flavors at large, or disabled ones.
        filters["is_public"] = _parse_is_public(_last(params.get("is_public")))
    else:
        filters.update(is_public=True, disabled=False)
    try:
        return db_flavors.flavor_get_all(
            ctx, min_memory_mb=_int_filter(params, "minRam"),
            min_root_gb=_int_filter(params, "minDisk"),
            sort_key=_last(params.get("sort_key")) or "flavorid",
            sort_dir=_last(params.get("sort_dir")) or "asc",
            limit=limit, marker=_last(params.get("marker")), **filters)
    except exception.MarkerNotFound as err:
        raise webob.exc.HTTPBadRequest(explanation=err.format_message()) from None


def _list_body(req: util.Request, views: list[dict], collection: str) -> dict[str, Any]:
    body: dict[str, Any] = {"flavors": views}
    links = collection_links(req, len(views), views[-1]["id"] if views else None,
                             collection)
    if links:
        body["flavors_links"] = links
    return body


def list_flavors(req: util.Request) -> webob.Response:
    """GET /flavors[?is_public=&minRam=&minDisk=&sort_key=&sort_dir=&limit=&marker=]."""
    views = [flavor_view_basic(req, flavor) for flavor in _get_flavors(req)]
    return util.json_response(_list_body(req, views, COLLECTION))


def list_flavors_detail(req: util.Request) -> webob.Response:
    """GET /flavors/detail: every field of each flavor."""
    flavors = _get_flavors(req)
    extra_specs = _with_extra_specs(req)
    views = [flavor_view(req, flavor, extra_specs) for flavor in flavors]
    return util.json_response(_list_body(req, views, f"{COLLECTION}/detail"))


def show_flavor(req: util.Request) -> webob.Response:
    """GET /flavors/{flavor_id}: 404 for a flavor the caller's project may not use."""
    ctx = req.context
    policy.authorize(ctx, flavor_policies.SHOW)
    flavor = db_flavors.flavor_get_by_flavorid(ctx, req.urlvars["flavor_id"])
    return util.json_response({"flavor": flavor_view(req, flavor, _with_extra_specs(req))})


# -- create, update, delete ------------------------------------------------------------

def _too_large(field: str, value: Any, maximum: int) -> exception.ValidationError:
    return exception.ValidationError(
        message=f"Invalid input for field/attribute {field}. Value: {value}. "
        f"{value} is greater than the maximum of {maximum}")


def _as_int(vals: dict[str, Any], key: str, default: int = 0) -> int:
    """A schema-checked integer field, which may arrive as a digit string."""
    value = vals.get(key, default)
    number = int(value) if value != "" else 0
    if number > schemas.MAX_INT:
        raise _too_large(f"flavor/{key}", value, schemas.MAX_INT)
    return number


def _as_rxtx_factor(vals: dict[str, Any]) -> float:
    value = vals.get("rxtx_factor", 1.0)
    number = float(value)
    if number <= 0:
        raise exception.ValidationError(
            message=f"Invalid input for field/attribute flavor/rxtx_factor. Value: {value}. "
            f"{value} is less than or equal to the minimum of 0")
    if number > schemas.MAX_RXTX_FACTOR:
        raise _too_large("flavor/rxtx_factor", value, int(schemas.MAX_RXTX_FACTOR))
    return number


def _as_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in TRUE_STRINGS


def create_flavor(req: util.Request) -> webob.Response:
    """POST /flavors (admin): Nova's body; `"id": null` or no id generates a uuid.

    As in Nova, a private flavor's creator gets no access to it automatically.
    """
    ctx = req.context
    policy.authorize(ctx, flavor_policies.CREATE)
    with_description = microversion.version_at_least(req, "2.55")
    body = util.read_json_body(req, schemas.create_v255 if with_description
                               else schemas.create)
    vals = body["flavor"]
    flavorid = vals.get("id")
    values = {
        "name": vals["name"],
        "flavorid": None if flavorid is None else str(flavorid),
        "memory_mb": _as_int(vals, "ram"),
        "vcpus": _as_int(vals, "vcpus"),
        "root_gb": _as_int(vals, "disk"),
        "ephemeral_gb": _as_int(vals, "OS-FLV-EXT-DATA:ephemeral"),
        "swap": _as_int(vals, "swap"),
        "rxtx_factor": _as_rxtx_factor(vals),
        "is_public": _as_bool(vals.get("os-flavor-access:is_public", True)),
        "description": vals.get("description") if with_description else None,
    }
    flavor = db_flavors.flavor_create(ctx, values)
    return util.json_response({"flavor": flavor_view(req, flavor, _with_extra_specs(req))})


@microversion.available(min_version="2.55")
def update_flavor(req: util.Request) -> webob.Response:
    """PUT /flavors/{flavor_id} (2.55, admin): only the description changes."""
    ctx = req.context
    policy.authorize(ctx, flavor_policies.UPDATE)
    body = util.read_json_body(req, schemas.update_v255)
    flavor = db_flavors.flavor_update(ctx, req.urlvars["flavor_id"],
                                      {"description": body["flavor"]["description"]})
    return util.json_response({"flavor": flavor_view(req, flavor, _with_extra_specs(req))})


def delete_flavor(req: util.Request) -> webob.Response:
    """DELETE /flavors/{flavor_id} (admin): 202 as in Nova; instances keep their copy."""
    ctx = req.context
    policy.authorize(ctx, flavor_policies.DELETE)
    db_flavors.flavor_destroy(ctx, req.urlvars["flavor_id"])
    return util.empty_response(202)


# -- extra specs --------------------------------------------------------------------------

def _spec_strings(specs: dict[str, Any]) -> dict[str, str]:
    """Numbers are accepted and stored as strings, as Nova does."""
    return {key: value if isinstance(value, str) else str(value)
            for key, value in specs.items()}


def list_extra_specs(req: util.Request) -> webob.Response:
    """GET /flavors/{flavor_id}/os-extra_specs."""
    ctx = req.context
    policy.authorize(ctx, flavor_policies.EXTRA_SPECS_INDEX)
    specs = db_flavors.flavor_extra_specs_get(ctx, req.urlvars["flavor_id"])
    return util.json_response({"extra_specs": specs})


def create_extra_specs(req: util.Request) -> webob.Response:
    """POST /flavors/{flavor_id}/os-extra_specs (admin): add or overwrite keys; the
    response holds the keys sent.

    Microversion 2.86's validation of well-known keys (hw:cpu_policy, ...) is not done:
    novalite's drivers do not read those keys yet.
    """
    ctx = req.context
    policy.authorize(ctx, flavor_policies.EXTRA_SPECS_CREATE)
    body = util.read_json_body(req, schemas.extra_specs_create)
    specs = _spec_strings(body["extra_specs"])
    db_flavors.flavor_extra_specs_update(ctx, req.urlvars["flavor_id"], specs)
    return util.json_response({"extra_specs": specs})


def show_extra_spec(req: util.Request) -> webob.Response:
    """GET /flavors/{flavor_id}/os-extra_specs/{key}: {key: value}."""
    ctx = req.context
    policy.authorize(ctx, flavor_policies.EXTRA_SPECS_SHOW)
    flavorid, key = req.urlvars["flavor_id"], req.urlvars["key"]
    specs = db_flavors.flavor_extra_specs_get(ctx, flavorid)
    if key not in specs:
        raise exception.FlavorExtraSpecsNotFound(flavor_id=flavorid, extra_specs_key=key)
    return util.json_response({key: specs[key]})


def update_extra_spec(req: util.Request) -> webob.Response:
    """PUT /flavors/{flavor_id}/os-extra_specs/{key} (admin): body {key: value}."""
    ctx = req.context
    policy.authorize(ctx, flavor_policies.EXTRA_SPECS_UPDATE)
    body = util.read_json_body(req, schemas.extra_spec_update)
    key = req.urlvars["key"]
    if key not in body:
        raise webob.exc.HTTPBadRequest(explanation="Request body and URI mismatch")
    specs = _spec_strings(body)
    db_flavors.flavor_extra_specs_update(ctx, req.urlvars["flavor_id"], specs)
    return util.json_response(specs)


def delete_extra_spec(req: util.Request) -> webob.Response:
    """DELETE /flavors/{flavor_id}/os-extra_specs/{key} (admin): 202."""
    ctx = req.context
    policy.authorize(ctx, flavor_policies.EXTRA_SPECS_DELETE)
    db_flavors.flavor_extra_spec_delete(ctx, req.urlvars["flavor_id"], req.urlvars["key"])
    return util.empty_response(202)


# -- project access ------------------------------------------------------------------------

def _access_body(flavorid: str, projects: list[str]) -> dict[str, Any]:
    return {"flavor_access": [{"flavor_id": flavorid, "tenant_id": project}
                              for project in projects]}


def list_flavor_access(req: util.Request) -> webob.Response:
    """GET /flavors/{flavor_id}/os-flavor-access (admin): projects of a private flavor."""
    ctx = req.context
    policy.authorize(ctx, flavor_policies.ACCESS_LIST)
    flavor = db_flavors.flavor_get_by_flavorid(ctx, req.urlvars["flavor_id"])
    if flavor.is_public:
        raise webob.exc.HTTPNotFound(
            explanation="Access list not available for public flavors.")
    return util.json_response(
        _access_body(flavor.flavorid, sorted(p.project_id for p in flavor.projects)))


def _add_tenant_access(req: util.Request, body: Any) -> webob.Response:
    ctx = req.context
    policy.authorize(ctx, flavor_policies.ACCESS_ADD)
    util.validate(body, schemas.add_tenant_access)
    flavor = db_flavors.flavor_get_by_flavorid(ctx, req.urlvars["flavor_id"])
    if flavor.is_public and microversion.version_at_least(req, "2.7"):
        raise webob.exc.HTTPConflict(explanation="Can not add access to a public flavor.")
    projects = db_flavors.flavor_access_add(ctx, flavor.flavorid,
                                            body["addTenantAccess"]["tenant"])
    return util.json_response(_access_body(flavor.flavorid, projects))


def _remove_tenant_access(req: util.Request, body: Any) -> webob.Response:
    ctx = req.context
    policy.authorize(ctx, flavor_policies.ACCESS_REMOVE)
    util.validate(body, schemas.remove_tenant_access)
    flavor = db_flavors.flavor_get_by_flavorid(ctx, req.urlvars["flavor_id"])
    projects = db_flavors.flavor_access_remove(ctx, flavor.flavorid,
                                               body["removeTenantAccess"]["tenant"])
    return util.json_response(_access_body(flavor.flavorid, projects))


_ACTIONS = {"addTenantAccess": _add_tenant_access,
            "removeTenantAccess": _remove_tenant_access}


def flavor_action(req: util.Request) -> webob.Response:
    """POST /flavors/{flavor_id}/action: addTenantAccess or removeTenantAccess."""
    body = util.read_json_body(req)
    if not isinstance(body, dict) or len(body) != 1:
        raise webob.exc.HTTPBadRequest(explanation="Malformed request body")
    name = next(iter(body))
    action = _ACTIONS.get(name)
    if action is None:
        raise webob.exc.HTTPBadRequest(explanation=f"There is no such action: {name}")
    return action(req, body)
