"""How a server looks at each microversion (the fields of Nova's server views).

Tempest's response schemas refuse extra fields, so each field appears exactly from the
microversion that added it, and only for callers whose policy shows it:

* always: id, name, status, tenant_id, user_id, metadata, hostId, image, flavor,
  created, updated, addresses, accessIPv4, accessIPv6, links, OS-DCF:diskConfig,
  OS-EXT-AZ:availability_zone, config_drive, key_name, OS-SRV-USG:launched_at/
  terminated_at, OS-EXT-STS:task_state/vm_state/power_state,
  os-extended-volumes:volumes_attached; progress while ACTIVE, BUILD, RESIZE,
  VERIFY_RESIZE or MIGRATING; fault when ERROR or DELETED and there is one;
* OS-EXT-SRV-ATTR:host/instance_name/hypervisor_hostname for administrators (policy
  os-extended-server-attributes); 2.3 adds reservation_id, launch_index, hostname,
  kernel_id, ramdisk_id, root_device_name, user_data;
* 2.9 locked; 2.16 host_status (policy); 2.19 description; 2.26 tags; 2.47 the flavor
  embedded instead of {id, links}; 2.63 trusted_image_certificates; 2.71
  server_groups (show and update only); 2.73 locked_reason; 2.90
  OS-EXT-SRV-ATTR:hostname for everyone.

novalite servers have no network ports, so addresses is {} and security_groups is
absent, exactly as Nova shows a server without ports.
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
import hashlib
from typing import Any

from novalite import servicegroup, states
from novalite.api import microversion, policy, util
from novalite.api.policies import servers as server_policies
from novalite.conf import CONF
from novalite.db import api as db

COMPUTE_BINARY = "novalite-compute"
ISO_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
USAGE_FORMAT = "%Y-%m-%dT%H:%M:%S.%f"
INSTANCE_NAME_TEMPLATE = "instance-%08x"
PROGRESS_STATUSES = ("ACTIVE", "BUILD", "REBUILD", "RESIZE", "VERIFY_RESIZE", "MIGRATING")
FAULT_STATUSES = ("ERROR", "DELETED")


class HostStatus(enum.StrEnum):
    """host_status (2.16): how the server's compute service is doing."""

    UP = "UP"
    DOWN = "DOWN"
    MAINTENANCE = "MAINTENANCE"
    UNKNOWN = "UNKNOWN"
    NONE = ""


def iso_time(value: datetime.datetime | None) -> str | None:
    """created/updated/fault created: Nova's isotime (seconds, Z)."""
    return value.strftime(ISO_FORMAT) if value is not None else None


def usage_time(value: datetime.datetime | None) -> str | None:
    """OS-SRV-USG and instance action times: microseconds, no zone."""
    return value.strftime(USAGE_FORMAT) if value is not None else None


def host_id(project_id: str | None, host: str | None) -> str:
    """Nova's hostId: a per-project hash of the host, "" without a host."""
    if not host:
        return ""
    return hashlib.sha224(f"{project_id or ''}{host}".encode()).hexdigest()


def host_status(service: Any) -> HostStatus:
    """Nova's rules: forced down → DOWN, disabled → MAINTENANCE, else UP or UNKNOWN."""
    if service is None:
        return HostStatus.NONE
    if service.forced_down:
        return HostStatus.DOWN
    if service.disabled:
        return HostStatus.MAINTENANCE
    return HostStatus.UP if servicegroup.is_up(service) else HostStatus.UNKNOWN


def instance_name(row: Any) -> str:
    """The hypervisor-side name (OS-EXT-SRV-ATTR:instance_name)."""
    return INSTANCE_NAME_TEMPLATE % row.id


def _project_prefix(req: util.Request) -> str:
    """"<project_id>/" when the request URL carried the project id (links keep it)."""
    project_id = req.context.project_id
    parts = req.path_info.split("/")
    if project_id and len(parts) > 2 and parts[2] == project_id:
        return f"{project_id}/"
    return ""


@dataclasses.dataclass(frozen=True)
class Links:
    """The links of one request's resources: the base URL and the project prefix are
    worked out once, not for every link of every server of a list."""

    base: str
    prefix: str

    @classmethod
    def of(cls, req: util.Request) -> Links:
        return cls(base=util.base_url(req), prefix=_project_prefix(req))

    def links(self, collection: str, item_id: str) -> list[dict[str, str]]:
        """[self, bookmark], as Nova writes them."""
        path = f"{self.prefix}{collection}/{item_id}"
        return [{"href": f"{self.base}/v2.1/{path}", "rel": "self"},
                {"href": f"{self.base}/{path}", "rel": "bookmark"}]

    def bookmark(self, collection: str, item_id: str) -> list[dict[str, str]]:
        return [{"href": f"{self.base}/{self.prefix}{collection}/{item_id}",
                 "rel": "bookmark"}]


def links(req: util.Request, collection: str, item_id: str) -> list[dict[str, str]]:
    """[self, bookmark] links of a resource, as Nova writes them."""
    return Links.of(req).links(collection, item_id)


@dataclasses.dataclass(frozen=True)
class VersionedFields:
    """Which fields added by a microversion a request shows, decided once per request
    (comparing versions for each field of each server was a fifth of a long list)."""

    extended_2_3: bool  # 2.3: more OS-EXT-SRV-ATTR fields (administrators)
    locked: bool  # 2.9
    description: bool  # 2.19
    tags: bool  # 2.26
    embedded_flavor: bool  # 2.47
    trusted_image_certificates: bool  # 2.63
    server_groups: bool  # 2.71 (show and update only)
    locked_reason: bool  # 2.73
    full_update: bool  # 2.75: PUT answers with the full view
    hostname: bool  # 2.90: OS-EXT-SRV-ATTR:hostname for everyone

    @classmethod
    def of(cls, req: util.Request) -> VersionedFields:
        version = microversion.request_version(req)
        return cls(extended_2_3=version >= "2.3", locked=version >= "2.9",
                   description=version >= "2.19", tags=version >= "2.26",
                   embedded_flavor=version >= "2.47",
                   trusted_image_certificates=version >= "2.63",
                   server_groups=version >= "2.71", locked_reason=version >= "2.73",
                   full_update=version >= "2.75", hostname=version >= "2.90")


@dataclasses.dataclass
class ViewContext:
    """What one request may see, decided once (policies, version) and the lookups the
    detailed view needs for all its servers at once (services, zones, faults)."""

    req: util.Request
    fields: VersionedFields
    links: Links
    extended_attributes: bool
    extra_specs: bool
    # None: no host_status; False: any status; True: only when it is UNKNOWN.
    host_status_unknown_only: bool | None
    services: dict[str, Any]
    zones: dict[str, str]
    faults: dict[str, Any]

    @classmethod
    def build(cls, req: util.Request, rows: list[Any]) -> ViewContext:
        ctx = req.context
        fields = VersionedFields.of(req)
        unknown_only: bool | None = None
        if microversion.version_at_least(req, "2.16"):
            if policy.check(ctx, server_policies.SHOW_HOST_STATUS):
                unknown_only = False
            elif policy.check(ctx, server_policies.SHOW_HOST_STATUS_UNKNOWN_ONLY):
                unknown_only = True
        # Only the hosts these servers are on: not every host of the deployment.
        hosts = sorted({row.host for row in rows if row.host})
        services: dict[str, Any] = {}
        if unknown_only is not None and hosts:
            services = {s.host: s for s in db.service_get_all(ctx, binary=COMPUTE_BINARY,
                                                              hosts=hosts)}
        zones: dict[str, str] = {}
        if hosts:
            for node in db.compute_node_get_all(ctx, hosts=hosts):
                zones.setdefault(node.host, getattr(node, "availability_zone", None)
                                 or CONF.default_availability_zone)
        in_fault = [row.uuid for row in rows
                    if states.api_status(row.vm_state, row.task_state) in FAULT_STATUSES]
        return cls(
            req=req, fields=fields, links=Links.of(req),
            extended_attributes=policy.check(ctx, server_policies.EXTENDED_ATTRIBUTES),
            extra_specs=(fields.embedded_flavor
                         and policy.check(ctx, server_policies.SHOW_FLAVOR_EXTRA_SPECS)),
            host_status_unknown_only=unknown_only, services=services, zones=zones,
            faults=db.instance_faults_get_latest(ctx, in_fault))


# -- the views ----------------------------------------------------------------------------

def basic(req: util.Request, row: Any, request_links: Links | None = None) -> dict[str, Any]:
    """GET /servers: id, name, links (request_links: Links.of(req), for a whole list)."""
    builder = request_links if request_links is not None else Links.of(req)
    return {"id": row.uuid, "name": row.name, "links": builder.links("servers", row.uuid)}


def create(req: util.Request, row: Any, admin_pass: str | None,
           security_groups: list[dict[str, str]]) -> dict[str, Any]:
    """The 202 body of POST /servers."""
    view: dict[str, Any] = {
        "id": row.uuid, "links": links(req, "servers", row.uuid),
        "OS-DCF:diskConfig": _disk_config(row), "security_groups": security_groups}
    if admin_pass is not None:
        view["adminPass"] = admin_pass
    return view


def _sysmeta(row: Any) -> dict[str, Any]:
    return row.system_metadata or {}


def _disk_config(row: Any) -> str:
    return "AUTO" if _sysmeta(row).get("auto_disk_config") else "MANUAL"


def _image(vctx: ViewContext, row: Any) -> Any:
    if not row.image_ref:
        return ""
    return {"id": row.image_ref, "links": vctx.links.bookmark("images", row.image_ref)}


def _flavor(vctx: ViewContext, row: Any) -> dict[str, Any]:
    snapshot = row.flavor or {}
    if not snapshot:
        return {}
    if not vctx.fields.embedded_flavor:
        flavor_id = str(snapshot.get("flavorid"))
        return {"id": flavor_id, "links": vctx.links.bookmark("flavors", flavor_id)}
    view = {"vcpus": snapshot.get("vcpus"), "ram": snapshot.get("memory_mb"),
            "disk": snapshot.get("root_gb"), "ephemeral": snapshot.get("ephemeral_gb"),
            "swap": snapshot.get("swap") or 0, "original_name": snapshot.get("name")}
    if vctx.extra_specs:
        view["extra_specs"] = dict(snapshot.get("extra_specs") or {})
    return view


def _fault(vctx: ViewContext, row: Any) -> dict[str, Any] | None:
    fault = vctx.faults.get(row.uuid)
    if fault is None:
        return None
    view = {"code": fault.code, "created": iso_time(fault.created_at),
            "message": fault.message or ""}
    # Tracebacks of internal errors are for administrators only (Nova's rule).
    if fault.details and (vctx.req.context.is_admin or fault.code != 500):
        view["details"] = fault.details
    return view


def _availability_zone(vctx: ViewContext, row: Any) -> str:
    """The host's zone once the server has a host, else the zone it asked for."""
    if row.host:
        return vctx.zones.get(row.host, CONF.default_availability_zone)
    return row.availability_zone or ""


def show(vctx: ViewContext, row: Any, server_groups: bool = False,
         minimal: bool = False) -> dict[str, Any]:
    """The detailed view of one server (GET /servers/{id}, /servers/detail, PUT).

    minimal: the smaller body PUT returns before 2.75 (no AZ, config drive, key name,
    usage, extended attributes, host status, status or volume fields).
    """
    fields = vctx.fields
    sysmeta = _sysmeta(row)
    status = "DELETED" if row.deleted else states.api_status(row.vm_state, row.task_state)
    view: dict[str, Any] = {
        "id": row.uuid,
        "name": row.name,
        "status": status,
        "tenant_id": row.project_id or "",
        "user_id": row.user_id or "",
        "metadata": dict(row.metadata_ or {}),
        "hostId": host_id(row.project_id, row.host),
        "image": _image(vctx, row),
        "flavor": _flavor(vctx, row),
        "created": iso_time(row.created_at),
        "updated": iso_time(row.updated_at or row.created_at),
        "addresses": {},
        "accessIPv4": sysmeta.get("access_ip_v4") or "",
        "accessIPv6": sysmeta.get("access_ip_v6") or "",
        "links": vctx.links.links("servers", row.uuid),
        "OS-DCF:diskConfig": _disk_config(row),
    }
    if status in FAULT_STATUSES:
        fault = _fault(vctx, row)
        if fault is not None:
            view["fault"] = fault
    if status in PROGRESS_STATUSES:
        view["progress"] = row.progress or 0
    if not minimal:
        view.update({
            "OS-EXT-AZ:availability_zone": _availability_zone(vctx, row),
            "config_drive": "True" if sysmeta.get("config_drive") else "",
            "key_name": row.key_name,
            "OS-SRV-USG:launched_at": usage_time(row.launched_at),
            "OS-SRV-USG:terminated_at": usage_time(row.terminated_at),
        })
        if vctx.extended_attributes:
            view.update(_extended_attributes(fields, row))
        view.update({
            "OS-EXT-STS:task_state": row.task_state,
            "OS-EXT-STS:vm_state": row.vm_state,
            "OS-EXT-STS:power_state": int(row.power_state or 0),
            "os-extended-volumes:volumes_attached": [],
        })
        if vctx.host_status_unknown_only is not None:
            status_of_host = (host_status(vctx.services.get(row.host)) if row.host
                              else HostStatus.NONE)
            if not vctx.host_status_unknown_only or status_of_host is HostStatus.UNKNOWN:
                view["host_status"] = status_of_host.value
    if fields.locked:
        view["locked"] = bool(row.locked)
    if fields.description:
        view["description"] = row.description
    if fields.tags:
        view["tags"] = []
    if fields.trusted_image_certificates:
        view["trusted_image_certificates"] = None
    if server_groups and fields.server_groups:
        view["server_groups"] = []
    if fields.locked_reason:
        view["locked_reason"] = row.locked_reason if row.locked else None
    if fields.hostname and not minimal:
        view["OS-EXT-SRV-ATTR:hostname"] = row.hostname
    return view


def _extended_attributes(fields: VersionedFields, row: Any) -> dict[str, Any]:
    attrs = {
        "OS-EXT-SRV-ATTR:host": row.host,
        "OS-EXT-SRV-ATTR:instance_name": instance_name(row),
        "OS-EXT-SRV-ATTR:hypervisor_hostname": row.node,
    }
    if fields.extended_2_3:
        attrs.update({
            "OS-EXT-SRV-ATTR:reservation_id": row.reservation_id,
            "OS-EXT-SRV-ATTR:launch_index": row.launch_index,
            "OS-EXT-SRV-ATTR:hostname": row.hostname,
            "OS-EXT-SRV-ATTR:kernel_id": "",
            "OS-EXT-SRV-ATTR:ramdisk_id": "",
            "OS-EXT-SRV-ATTR:root_device_name": None,
            "OS-EXT-SRV-ATTR:user_data": row.user_data,
        })
    return attrs


def update(vctx: ViewContext, row: Any) -> dict[str, Any]:
    """The body of PUT /servers/{id}: the minimal view before 2.75, the full one from
    2.75 (Nova made GET, PUT and rebuild answer alike); server_groups from 2.71."""
    return show(vctx, row, server_groups=True, minimal=not vctx.fields.full_update)
