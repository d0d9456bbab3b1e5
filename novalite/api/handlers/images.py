"""A read-only image service for clients: Glance v2's listing under /image, and Nova's
deprecated /images proxy (until microversion 2.35).

novalite has no Glance; the local image store (novalite.image.api) stands in. The
standard clients look images up before they create a server (`openstack server create
--image cirros` asks GET /v2/images/cirros, then GET /v2/images?name=cirros), so the
catalog's image endpoint can point at ``<api>/image``. Responses have Glance's fields
and pagination (`first`, `next`, relative to the endpoint, as Glance writes them);
errors keep novalite's JSON error shape, which clients read by status code.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable
from typing import Any

import webob
import webob.exc

from novalite import exception
from novalite.api import microversion, policy, util
from novalite.api.handlers.flavors import collection_links, resource_links
from novalite.api.policies import images as image_policies
from novalite.image import api as image_api

# Glance's versions: v2.16 is what this listing answers as.
CURRENT_VERSION = 16
DEFAULT_LIMIT = 25      # Glance's limit_param_default
MAX_LIMIT = 1000        # Glance's api_limit_max, and Nova's [api] max_limit
SORT_KEYS = ("name", "status", "container_format", "disk_format", "size", "virtual_size",
             "id", "created_at", "updated_at", "min_disk", "min_ram", "owner", "os_hidden")
# Query parameters that page or sort rather than filter.
_PAGING = ("limit", "marker", "sort_key", "sort_dir", "sort")
# Image store fields that are not shown as such (the store's `file` is a host path).
_CORE = ("id", "name", "status", "visibility", "protected", "os_hidden", "tags",
         "disk_format", "container_format", "min_disk", "min_ram", "size", "virtual_size",
         "checksum", "os_hash_algo", "os_hash_value", "owner", "created_at", "updated_at")


# -- Glance v2 -----------------------------------------------------------------------

def _glance_versions(req: util.Request) -> list[dict[str, Any]]:
    href = f"{util.base_url(req)}/image/v2/"
    versions = []
    for minor in range(CURRENT_VERSION, -1, -1):
        status = "CURRENT" if minor == CURRENT_VERSION else "SUPPORTED"
        versions.append({"id": f"v2.{minor}", "status": status,
                         "links": [{"rel": "self", "href": href}]})
    return versions


def image_versions(req: util.Request) -> webob.Response:
    """GET /image: Glance's version document (300 Multiple Choices, as Glance answers)."""
    return util.json_response({"versions": _glance_versions(req)}, status=300)


def glance_view(image: dict[str, Any]) -> dict[str, Any]:
    """An image as Glance v2 shows it: core fields, links, then properties flattened."""
    view = {key: image.get(key) for key in _CORE}
    view.update({
        "self": f"/v2/images/{image['id']}",
        "file": f"/v2/images/{image['id']}/file",
        "schema": "/v2/schemas/image",
    })
    for key, value in (image.get("properties") or {}).items():
        view.setdefault(key, value)
    return view


def _first(value: Any) -> Any:
    return value[0] if isinstance(value, list) else value


def _glance_limit(params: dict[str, Any]) -> int:
    text = _first(params.get("limit"))
    if text is None:
        return DEFAULT_LIMIT
    try:
        limit = int(text)
    except ValueError:
        raise webob.exc.HTTPBadRequest(explanation="limit param must be an integer") \
            from None
    if limit < 0:
        raise webob.exc.HTTPBadRequest(explanation="limit param must be positive")
    return min(limit, MAX_LIMIT)


def _listed(params: dict[str, Any], name: str) -> list[str]:
    value = params.get(name)
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _glance_sort(params: dict[str, Any]) -> list[tuple[str, str]]:
    """[(key, dir)] from `sort=k1:asc,k2` or `sort_key`/`sort_dir`; created_at desc by
    default, id as the final tie-breaker."""
    sort: list[tuple[str, str]] = []
    if "sort" in params:
        if "sort_key" in params or "sort_dir" in params:
            raise webob.exc.HTTPBadRequest(
                explanation="The 'sort' parameter cannot be combined with 'sort_key' or "
                "'sort_dir'.")
        for item in str(_first(params["sort"])).split(","):
            key, _, direction = item.strip().partition(":")
            sort.append((key, direction or "desc"))
    else:
        keys = _listed(params, "sort_key") or ["created_at"]
        dirs = _listed(params, "sort_dir") or ["desc"]
        if len(dirs) not in (1, len(keys)):
            raise webob.exc.HTTPBadRequest(
                explanation="Number of sort dirs does not match the number of sort keys")
        sort = [(key, dirs[i] if len(dirs) > 1 else dirs[0]) for i, key in enumerate(keys)]
    for key, direction in sort:
        if key not in SORT_KEYS:
            raise webob.exc.HTTPBadRequest(explanation=f"Invalid sort key: {key}")
        if direction not in ("asc", "desc"):
            raise webob.exc.HTTPBadRequest(explanation=f"Invalid sort direction: {direction}")
    if all(key != "id" for key, _ in sort):
        sort.append(("id", sort[-1][1]))
    return sort


def _sorted(views: list[dict[str, Any]], sort: list[tuple[str, str]]) -> list[dict]:
    """Stable multi-key sort; missing values first in ascending order."""
    result = list(views)
    for key, direction in reversed(sort):
        result.sort(key=lambda v, k=key: (0, "") if v.get(k) is None else (1, v[k]),
                    reverse=direction == "desc")
    return result


def _matches(view: dict[str, Any], name: str, wanted: str) -> bool:
    """Glance's filters: `in:a,b` lists for name and id; size_min/size_max; booleans
    for os_hidden; `visibility=all`; anything else equality on a field or property."""
    value = view.get(name)
    if name in ("name", "id") and wanted.startswith("in:"):
        return value in [item.strip() for item in wanted[3:].split(",")]
    if name == "visibility" and wanted == "all":
        return True
    if name in ("size_min", "size_max"):
        try:
            bound = int(wanted)
        except ValueError:
            raise webob.exc.HTTPBadRequest(
                explanation=f"Invalid value for {name}: {wanted}") from None
        size = view.get("size")
        if size is None:
            return False
        return size >= bound if name == "size_min" else size <= bound
    if name == "member_status":
        return True  # every image here is public: there are no members to filter on
    if name == "tag":
        return wanted in (view.get("tags") or [])
    if isinstance(value, bool):
        return str(value).lower() == wanted.strip().lower()
    return value is not None and str(value) == wanted


def _glance_filter(views: list[dict], params: dict[str, Any]) -> list[dict]:
    filters = {name: value for name, value in params.items() if name not in _PAGING}
    filters.setdefault("os_hidden", "false")  # hidden images are listed only on request
    for name, value in filters.items():
        for wanted in (value if isinstance(value, list) else [value]):
            views = [view for view in views if _matches(view, name, wanted)]
    return views


def _page(views: list[dict], marker: str | None, limit: int) -> list[dict]:
    if marker is not None:
        ids = [view["id"] for view in views]
        if marker not in ids:
            raise webob.exc.HTTPBadRequest(
                explanation=f"Invalid marker. Image {marker} could not be found.")
        views = views[ids.index(marker) + 1:]
    return views[:limit]


def list_glance_images(req: util.Request) -> webob.Response:
    """GET /image/v2/images: Glance's filters (name, id `in:`, visibility, status,
    disk_format, size_min/size_max, properties, ...), sort and limit/marker paging."""
    ctx = req.context
    policy.authorize(ctx, image_policies.LIST)
    params = util.query_params(req)
    limit = _glance_limit(params)
    sort = _glance_sort(params)
    views = _glance_filter([glance_view(image) for image in image_api.get_all(ctx)], params)
    page = _page(_sorted(views, sort), _first(params.get("marker")), limit)
    body: dict[str, Any] = {"images": page, "first": "/v2/images",
                            "schema": "/v2/schemas/images"}
    rest = [(name, value) for name, value in req.GET.items() if name != "marker"]
    if rest:
        body["first"] += "?" + urllib.parse.urlencode(rest)
    if page and len(page) == limit:
        body["next"] = "/v2/images?" + urllib.parse.urlencode(
            rest + [("marker", page[-1]["id"])])
    return util.json_response(body)


def show_glance_image(req: util.Request) -> webob.Response:
    """GET /image/v2/images/{image_id}."""
    ctx = req.context
    policy.authorize(ctx, image_policies.SHOW)
    image_id = req.urlvars["image_id"]
    try:
        image = image_api.get(ctx, image_id)
    except exception.ImageNotFound:
        raise webob.exc.HTTPNotFound(
            explanation=f"No image found with ID {image_id}") from None
    return util.json_response(glance_view(image))


# -- Nova's /images proxy (2.1 - 2.35) --------------------------------------------------

def _nova_links(req: util.Request, image_id: str) -> list[dict[str, str]]:
    links = resource_links(req, "images", image_id)
    links.append({"rel": "alternate", "type": "application/vnd.openstack.image",
                  "href": f"{util.base_url(req)}/image/images/{image_id}"})
    return links


def nova_image_basic(req: util.Request, image: dict[str, Any]) -> dict[str, Any]:
    return {"id": image["id"], "name": image["name"], "links": _nova_links(req, image["id"])}


def nova_image_view(req: util.Request, image: dict[str, Any]) -> dict[str, Any]:
    """An image as Nova's proxy showed it (minRam, metadata, status ACTIVE, ...)."""
    metadata = dict(image.get("properties") or {})
    view: dict[str, Any] = {
        "id": image["id"],
        "name": image["name"],
        "minRam": int(image.get("min_ram") or 0),
        "minDisk": int(image.get("min_disk") or 0),
        "metadata": metadata,
        "created": image.get("created_at"),
        "updated": image.get("updated_at"),
        "status": "ACTIVE",
        "progress": 100,
        "OS-EXT-IMG-SIZE:size": image.get("size"),
        "links": _nova_links(req, image["id"]),
    }
    server = metadata.get("instance_uuid")
    if server is not None:
        view["server"] = {"id": server, "links": resource_links(req, "servers", server)}
    auto_disk_config = metadata.get("auto_disk_config")
    if auto_disk_config is not None:
        view["OS-DCF:diskConfig"] = ("AUTO" if util.parse_bool(str(auto_disk_config))
                                     else "MANUAL")
    return view


def _last(value: Any) -> Any:
    return value[-1] if isinstance(value, list) else value


def _nova_images(req: util.Request) -> list[dict[str, Any]]:
    """Images for the proxy's filters (name, status, minRam, minDisk) and paging."""
    ctx = req.context
    policy.authorize(ctx, image_policies.LIST)
    params = util.query_params(req)
    images = image_api.get_all(ctx, name=_last(params.get("name")))
    status = _last(params.get("status"))
    if status is not None and status.upper() != "ACTIVE":
        images = []
    for param, field in (("minRam", "min_ram"), ("minDisk", "min_disk")):
        text = _last(params.get(param))
        if text is None:
            continue
        try:
            bound = int(text)
        except ValueError:
            raise webob.exc.HTTPBadRequest(
                explanation=f"Invalid {param} filter [{text}]") from None
        images = [image for image in images if (image.get(field) or 0) >= bound]
    images = sorted(images, key=lambda i: (i.get("created_at") or "", i["id"]),
                    reverse=True)
    limit_text = _last(params.get("limit"))
    try:
        limit = min(int(limit_text), MAX_LIMIT) if limit_text is not None else MAX_LIMIT
    except ValueError:
        raise webob.exc.HTTPBadRequest(explanation="limit param must be an integer") \
            from None
    if limit < 0:
        raise webob.exc.HTTPBadRequest(explanation="limit param must be positive")
    marker = _last(params.get("marker"))
    if marker is not None:
        ids = [image["id"] for image in images]
        if marker not in ids:
            raise webob.exc.HTTPBadRequest(explanation=f"marker [{marker}] not found")
        images = images[ids.index(marker) + 1:]
    return images[:limit]


def _nova_list(req: util.Request, view: Callable[[util.Request, dict], dict],
               collection: str) -> webob.Response:
    images = _nova_images(req)
    body: dict[str, Any] = {"images": [view(req, image) for image in images]}
    links = collection_links(req, len(images), images[-1]["id"] if images else None,
                             collection)
    if links:
        body["images_links"] = links
    return util.json_response(body)


@microversion.available(max_version="2.35")
def list_nova_images(req: util.Request) -> webob.Response:
    """GET /v2.1/images (until 2.35): id, name and links of each image."""
    return _nova_list(req, nova_image_basic, "images")


@microversion.available(max_version="2.35")
def list_nova_images_detail(req: util.Request) -> webob.Response:
    """GET /v2.1/images/detail (until 2.35)."""
    return _nova_list(req, nova_image_view, "images/detail")


@microversion.available(max_version="2.35")
def show_nova_image(req: util.Request) -> webob.Response:
    """GET /v2.1/images/{image_id} (until 2.35)."""
    ctx = req.context
    policy.authorize(ctx, image_policies.SHOW)
    image = image_api.get(ctx, req.urlvars["image_id"])
    return util.json_response({"image": nova_image_view(req, image)})
