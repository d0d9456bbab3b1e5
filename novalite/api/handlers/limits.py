"""/limits: the caller's project limits and what it uses, in Nova's shape.

`absolute` holds every key Nova returns at the request's version (tempest's response
schemas require exactly these): 2.36 drops the nova-network ones, 2.39 maxImageMeta,
2.57 the file-injection ones. `rate` is always empty, as in Nova. Usage is counted live
(novalite.quota); server groups and floating IPs do not exist here, so they use 0.
"""

from __future__ import annotations

from typing import Any

import webob

from novalite import quota
from novalite.api import microversion, policy, util
from novalite.api.policies import limits as limit_policies
from novalite.api.schemas import common

# Query strings: only tenant_id is read; from 2.75 anything else is a 400.
index_query = {
    "type": "object",
    "properties": {"tenant_id": common.multi({"type": "string"})},
    "additionalProperties": True,
}
index_query_v275 = dict(index_query, additionalProperties=False)

# quota resource -> the absolute keys showing its limit.
LIMIT_NAMES = {
    "ram": ["maxTotalRAMSize"],
    "instances": ["maxTotalInstances"],
    "cores": ["maxTotalCores"],
    "key_pairs": ["maxTotalKeypairs"],
    "floating_ips": ["maxTotalFloatingIps"],
    "metadata_items": ["maxServerMeta", "maxImageMeta"],
    "injected_files": ["maxPersonality"],
    "injected_file_content_bytes": ["maxPersonalitySize"],
    "security_groups": ["maxSecurityGroups"],
    "security_group_rules": ["maxSecurityGroupRules"],
    "server_groups": ["maxServerGroups"],
    "server_group_members": ["maxServerGroupMembers"],
}
# absolute key of a usage -> the quota resource it counts.
USED_NAMES = {
    "totalRAMUsed": "ram",
    "totalCoresUsed": "cores",
    "totalInstancesUsed": "instances",
    "totalFloatingIpsUsed": "floating_ips",
    "totalSecurityGroupsUsed": "security_groups",
    "totalServerGroupsUsed": "server_groups",
}


def _hidden(req: util.Request) -> tuple[set[str], set[str]]:
    """(resources, absolute keys) left out at the request's version."""
    resources: set[str] = set()
    keys: set[str] = set()
    if microversion.version_at_least(req, "2.36"):
        resources |= {"floating_ips", "security_groups", "security_group_rules"}
    if microversion.version_at_least(req, "2.39"):
        keys.add("maxImageMeta")
    if microversion.version_at_least(req, "2.57"):
        resources |= {"injected_files", "injected_file_content_bytes"}
    return resources, keys


def absolute_limits(req: util.Request, limits: dict[str, int],
                    usage: dict[str, int]) -> dict[str, int]:
    """The `absolute` dict for these limits and this usage at the request's version."""
    hidden_resources, hidden_keys = _hidden(req)
    absolute: dict[str, int] = {}
    for resource, names in LIMIT_NAMES.items():
        if resource in hidden_resources or limits.get(resource) is None:
            continue
        for name in names:
            if name not in hidden_keys:
                absolute[name] = limits[resource]
    for name, resource in USED_NAMES.items():
        if resource not in hidden_resources:
            absolute[name] = usage.get(resource, 0)
    return absolute


def show_limits(req: util.Request) -> webob.Response:
    """GET /limits[?tenant_id=]: naming a project needs the other_project policy
    (administrators), even the caller's own, as in Nova."""
    ctx = req.context
    policy.authorize(ctx, limit_policies.SHOW)
    schema = (index_query_v275 if microversion.version_at_least(req, "2.75")
              else index_query)
    params: dict[str, Any] = util.validate_query(req, schema)
    project_id = ctx.project_id
    if "tenant_id" in params:
        tenant = params["tenant_id"]
        project_id = tenant[-1] if isinstance(tenant, list) else tenant
        policy.authorize(ctx, limit_policies.OTHER_PROJECT, {"project_id": project_id})
    limits = quota.limits_for(ctx, project_id)
    usage = quota.usage_for(ctx, project_id)
    return util.json_response(
        {"limits": {"rate": [], "absolute": absolute_limits(req, limits, usage)}})
