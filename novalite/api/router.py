"""The one route table of the API and the dispatcher that serves it.

Every URL the API answers is declared in ROUTES as `{path: {METHOD: handler}}`. A known
path with another method is a 405 with an `Allow` header; an unknown path is a 404.
Each path under /v2.1/ is also served with a leading project id
(`/v2.1/{project_id}/os-services`), as older service catalogs still write endpoints
that way; the project id must then be the caller's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import routes
import webob
import webob.exc

from novalite.api import util
from novalite.api.handlers import (
    aggregates,
    availability_zones,
    flavors,
    hypervisors,
    images,
    instance_actions,
    limits,
    migrations,
    server_actions,
    servers,
    services,
    versions,
)

Handler = Callable[[util.Request], webob.Response]

ROUTES: dict[str, dict[str, Handler]] = {
    "/": {"GET": versions.list_versions},
    "/v2.1": {"GET": versions.show_version},
    "/v2.1/": {"GET": versions.show_version},
    "/v2.1/os-services": {"GET": services.list_services},
    "/v2.1/os-services/{service_id}": {
        "PUT": services.update_service,
        "DELETE": services.delete_service,
    },
    "/v2.1/os-hypervisors": {"GET": hypervisors.list_hypervisors},
    "/v2.1/os-hypervisors/detail": {"GET": hypervisors.list_hypervisors_detail},
    "/v2.1/os-hypervisors/statistics": {"GET": hypervisors.statistics},
    "/v2.1/os-hypervisors/{hypervisor_hostname_pattern}/search": {
        "GET": hypervisors.search,
    },
    "/v2.1/os-hypervisors/{hypervisor_id}": {"GET": hypervisors.show_hypervisor},
    "/v2.1/os-aggregates": {"GET": aggregates.list_aggregates},
    # -- flavors, limits, availability zones, images (the catalog) ----------------------
    "/v2.1/flavors": {"GET": flavors.list_flavors, "POST": flavors.create_flavor},
    "/v2.1/flavors/detail": {"GET": flavors.list_flavors_detail},
    "/v2.1/flavors/{flavor_id}": {
        "GET": flavors.show_flavor,
        "PUT": flavors.update_flavor,
        "DELETE": flavors.delete_flavor,
    },
    "/v2.1/flavors/{flavor_id}/action": {"POST": flavors.flavor_action},
    "/v2.1/flavors/{flavor_id}/os-flavor-access": {"GET": flavors.list_flavor_access},
    "/v2.1/flavors/{flavor_id}/os-extra_specs": {
        "GET": flavors.list_extra_specs,
        "POST": flavors.create_extra_specs,
    },
    "/v2.1/flavors/{flavor_id}/os-extra_specs/{key}": {
        "GET": flavors.show_extra_spec,
        "PUT": flavors.update_extra_spec,
        "DELETE": flavors.delete_extra_spec,
    },
    "/v2.1/limits": {"GET": limits.show_limits},
    "/v2.1/os-availability-zone": {"GET": availability_zones.list_zones},
    "/v2.1/os-availability-zone/detail": {"GET": availability_zones.list_zones_detail},
    "/v2.1/images": {"GET": images.list_nova_images},
    "/v2.1/images/detail": {"GET": images.list_nova_images_detail},
    "/v2.1/images/{image_id}": {"GET": images.show_nova_image},
    "/image": {"GET": images.image_versions},
    "/image/": {"GET": images.image_versions},
    "/image/v2/images": {"GET": images.list_glance_images},
    "/image/v2/images/{image_id}": {"GET": images.show_glance_image},
    # -- servers, server actions, instance actions (compute API) ------------------------
    "/v2.1/servers": {"GET": servers.list_servers, "POST": servers.create_server},
    "/v2.1/servers/detail": {"GET": servers.list_servers_detail},
    "/v2.1/servers/{server_id}": {
        "GET": servers.show_server,
        "PUT": servers.update_server,
        "DELETE": servers.delete_server,
    },
    "/v2.1/servers/{server_id}/action": {"POST": server_actions.server_action},
    "/v2.1/servers/{server_id}/os-instance-actions": {"GET": instance_actions.list_actions},
    "/v2.1/servers/{server_id}/os-instance-actions/{request_id}": {
        "GET": instance_actions.show_action,
    },
    # -- migrations: os-migrations, a server's live migrations (2.23) ------------------
    "/v2.1/os-migrations": {"GET": migrations.list_migrations},
    "/v2.1/servers/{server_id}/migrations": {"GET": migrations.list_server_migrations},
    "/v2.1/servers/{server_id}/migrations/{migration_id}": {
        "GET": migrations.show_server_migration,
        "DELETE": migrations.abort_server_migration,
    },
    "/v2.1/servers/{server_id}/migrations/{migration_id}/action": {
        "POST": migrations.server_migration_action,
    },
}

PROJECT_PREFIX = "/v2.1/{project_id}"
_VERSIONED_ROOT = "/v2.1/"


def _with_project_prefix(path: str) -> str | None:
    """The project-id form of a /v2.1 resource path (None for the version documents)."""
    if not path.startswith(_VERSIONED_ROOT) or path == _VERSIONED_ROOT:
        return None
    return PROJECT_PREFIX + path[len("/v2.1"):]


def make_map(declarations: dict[str, dict[str, Handler]]) -> tuple[routes.Mapper, dict]:
    """A Mapper whose route names are keys of the returned {name: {METHOD: handler}}."""
    mapper = routes.Mapper()
    table: dict[str, dict[str, Handler]] = {}
    # Plain paths first, so that /v2.1/os-services/x never reads "os-services" as a
    # project id.
    for path, methods in declarations.items():
        mapper.connect(path, path)
        table[path] = methods
    for path, methods in declarations.items():
        prefixed = _with_project_prefix(path)
        if prefixed is not None:
            mapper.connect(prefixed, prefixed)
            table[prefixed] = methods
    return mapper, table


class Router:
    """Find the handler for a request and call it with a util.Request."""

    def __init__(self, declarations: dict[str, dict[str, Handler]] | None = None) -> None:
        self.mapper, self.table = make_map(ROUTES if declarations is None else declarations)

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        req = util.Request(environ)
        found = self.mapper.routematch(req.path_info)
        if found is None:
            raise webob.exc.HTTPNotFound(explanation="The resource could not be found.")
        urlvars, route = found
        methods = self.table[route.name]
        handler = methods.get(req.method)
        if handler is None:
            allow = ", ".join(sorted(methods))
            raise webob.exc.HTTPMethodNotAllowed(
                explanation=f"The method {req.method} is not supported for this resource.",
                headers={"Allow": allow})
        urlvars = dict(urlvars)
        url_project = urlvars.pop("project_id", None)
        if url_project is not None and url_project != req.context.project_id:
            raise webob.exc.HTTPBadRequest(
                explanation=f"Malformed request URL: URL's project_id '{url_project}' "
                f"doesn't match Context's project_id '{req.context.project_id}'")
        req.urlvars = urlvars
        response = handler(req)
        return response(environ, start_response)
