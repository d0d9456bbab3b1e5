"""Error bodies in Nova's shape: `{"<faultName>": {"code": N, "message": "..."}}`.

Clients (novaclient, openstacksdk, tempest) parse these names, so every error the API
sends, from any layer of the middleware stack, is built here.
"""

from __future__ import annotations

import json

import webob

FAULT_NAMES = {
    400: "badRequest",
    401: "unauthorized",
    403: "forbidden",
    404: "itemNotFound",
    405: "badMethod",
    409: "conflictingRequest",
    413: "overLimit",
    415: "badMediaType",
    429: "overLimit",
    501: "notImplemented",
    503: "serviceUnavailable",
}
DEFAULT_FAULT_NAME = "computeFault"


def fault_name(code: int) -> str:
    """Nova's fault name for an HTTP status; anything unlisted is computeFault."""
    return FAULT_NAMES.get(code, DEFAULT_FAULT_NAME)


def error_response(code: int, message: str,
                   headers: dict[str, str] | None = None) -> webob.Response:
    """A JSON error response; `headers` are added (Allow, Retry-After, WWW-Authenticate)."""
    inner: dict = {"code": code, "message": message}
    if code in (413, 429) and headers and "Retry-After" in headers:
        inner["retryAfter"] = headers["Retry-After"]
    body = json.dumps({fault_name(code): inner}).encode("utf-8")
    response = webob.Response(status=code, body=body, content_type="application/json",
                              charset=None)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response
