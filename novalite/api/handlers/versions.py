"""The version documents at `/` and `/v2.1`, readable without a token.

Clients read them before anything else: the maximum `version` here is what the
`openstack` CLI and openstacksdk negotiate up to.
"""

from __future__ import annotations

import webob

from novalite.api import microversion, util

UPDATED = "2013-07-23T11:33:21Z"
MEDIA_TYPES = [{"base": "application/json",
                "type": "application/vnd.openstack.compute+json;version=2.1"}]


def _version(req: util.Request) -> dict:
    return {
        "id": "v2.1",
        "status": "CURRENT",
        "version": str(microversion.MAX_VERSION),
        "min_version": str(microversion.MIN_VERSION),
        "updated": UPDATED,
        "links": [util.link(req, "v2.1/")],
    }


def list_versions(req: util.Request) -> webob.Response:
    """GET /: every API version served (only v2.1)."""
    return util.json_response({"versions": [_version(req)]})


def show_version(req: util.Request) -> webob.Response:
    """GET /v2.1 and /v2.1/: the v2.1 document with its microversion range."""
    doc = _version(req)
    doc["links"].append({"rel": "describedby", "type": "text/html",
                         "href": "https://docs.openstack.org/api-ref/compute/"})
    doc["media-types"] = MEDIA_TYPES
    return util.json_response({"version": doc})
