"""Small helpers the handlers share: the request class, JSON in and out, links.

Handlers raise webob HTTP errors or novalite exceptions; the fault wrapper turns both
into Nova-shaped error bodies, so nothing here builds error responses itself.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any

import jsonschema
import webob
import webob.exc
from jsonschema import exceptions as js_exceptions

from novalite import exception
from novalite.api import microversion
from novalite.conf import CONF
from novalite.context import RequestContext
from novalite.db import api as db

CONTEXT_KEY = "novalite.context"
BASE_URL_KEY = "novalite.base_url"
JSON_TYPE = "application/json"


class Request(webob.Request):
    """webob.Request plus the negotiated version and the caller's context."""

    @property
    def api_version(self) -> microversion.APIVersion:
        return microversion.request_version(self)

    @property
    def context(self) -> RequestContext:
        return self.environ[CONTEXT_KEY]


Handler = Callable[[Request], webob.Response]


def read_only(handler: Handler) -> Handler:
    """Serve a handler that only reads the database in one read transaction.

    Every db read the handler makes joins it (db.transaction nests), so the request
    checks out one pooled connection and begins one transaction, not one per read. Only
    for handlers that never write: a write would join this transaction too.
    """

    @functools.wraps(handler)
    def wrapper(req: Request) -> webob.Response:
        with db.transaction(writer=False):
            return handler(req)

    return wrapper


def json_response(body: Any, status: int = 200) -> webob.Response:
    """A JSON response (no charset parameter, as Nova sends)."""
    return webob.Response(status=status, body=json.dumps(body).encode("utf-8"),
                          content_type=JSON_TYPE, charset=None)


def empty_response(status: int = 204) -> webob.Response:
    """A response without a body (202/204 answers)."""
    response = webob.Response(status=status)
    response.content_type = None
    response.body = b""
    return response


def _check_content_type(req: webob.Request) -> None:
    content_type = req.content_type
    if content_type and content_type.lower() != JSON_TYPE:
        raise webob.exc.HTTPUnsupportedMediaType(
            explanation=f"Unsupported Content-Type {content_type}")


def _format_error(error: js_exceptions.ValidationError) -> str:
    """A message naming the field, in the style of Nova's validator."""
    path = "/".join(str(part) for part in error.absolute_path)
    if not path:
        return error.message
    if error.validator in ("additionalProperties", "required"):
        return f"Invalid input for field/attribute {path}. {error.message}"
    return (f"Invalid input for field/attribute {path}. Value: "
            f"{json.dumps(error.instance)}. {error.message}")


def validate(instance: Any, schema: dict) -> None:
    """Validate against a JSON schema; the best error becomes a 400 naming the field."""
    validator_cls = jsonschema.validators.validator_for(schema, jsonschema.Draft7Validator)
    validator = validator_cls(schema, format_checker=validator_cls.FORMAT_CHECKER)
    error = js_exceptions.best_match(validator.iter_errors(instance))
    if error is not None:
        raise exception.ValidationError(message=_format_error(error))


def read_json_body(req: webob.Request, schema: dict | None = None) -> Any:
    """The parsed JSON body, validated when a schema is given.

    A body that is not JSON, or a Content-Type other than JSON, is a client error; an
    empty body reads as None so that schemas decide whether it is allowed.
    """
    raw = req.body
    if not raw:
        body = None
    else:
        _check_content_type(req)
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise webob.exc.HTTPBadRequest(explanation="Malformed request body") from None
    if schema is not None:
        validate(body, schema)
    return body


def query_params(req: webob.Request) -> dict[str, Any]:
    """Query parameters as {name: value}, or {name: [values]} when repeated."""
    params: dict[str, Any] = {}
    for name in req.GET.keys():
        values = req.GET.getall(name)
        params[name] = values[0] if len(values) == 1 else values
    return params


def validate_query(req: webob.Request, schema: dict) -> dict[str, Any]:
    """Validate the query string against a schema; returns query_params(req)."""
    params = query_params(req)
    validate(params, schema)
    return params


def parse_bool(value: str) -> bool:
    """Nova's truthy strings for query parameters (already schema-checked)."""
    return value.strip().lower() in ("1", "t", "true", "on", "y", "yes")


def base_url(req: webob.Request) -> str:
    """Where clients reach the API: [api] public_endpoint, else the request's own URL.

    Worked out once per request and kept in its environ: a list of servers asks for it
    several times per server.
    """
    cached = req.environ.get(BASE_URL_KEY)
    if cached is not None:
        return cached
    endpoint = CONF.api.public_endpoint
    url = endpoint.rstrip("/") if endpoint else req.application_url.rstrip("/")
    req.environ[BASE_URL_KEY] = url
    return url


def link(req: webob.Request, path: str, rel: str = "self") -> dict[str, str]:
    """A `{"href", "rel"}` link for a path below the API root (e.g. "v2.1/")."""
    return {"href": f"{base_url(req)}/{path.lstrip('/')}", "rel": rel}
