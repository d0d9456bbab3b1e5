"""GET /os-aggregates: novalite has no host aggregates, so the list is empty.

It exists because `openstack hypervisor show` lists aggregates to fill its
`aggregates` field and fails when the call does.
"""

from __future__ import annotations

import webob

from novalite.api import policy, util
from novalite.api.policies import aggregates as aggregate_policies


def list_aggregates(req: util.Request) -> webob.Response:
    """GET /os-aggregates (admin)."""
    policy.authorize(req.context, aggregate_policies.INDEX)
    return util.json_response({"aggregates": []})
