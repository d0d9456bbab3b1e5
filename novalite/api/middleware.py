"""The WSGI middlewares of the API stack; deploy.build_app() puts them in order."""

from __future__ import annotations

import io
import logging
import re
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any

import webob.exc
from oslo_config import cfg
from webob.headers import EnvironHeaders

from novalite import exception
from novalite.api import auth, fault, microversion, util
from novalite.context import RequestContext

LOG = logging.getLogger(__name__)

WSGIApp = Callable[[dict, Callable], Iterable[bytes]]

REQUEST_ID_KEY = "openstack.request_id"
GLOBAL_REQUEST_ID_KEY = "openstack.global_request_id"
REQUEST_ID_HEADERS = ("x-openstack-request-id", "x-compute-request-id")
_GLOBAL_ID_RE = re.compile(r"^req-[a-f0-9]{8}(-[a-f0-9]{4}){3}-[a-f0-9]{12}$")

# Headers of an error response worth keeping when it is rewritten in Nova's shape.
_KEPT_ERROR_HEADERS = ("Allow", "Retry-After", "WWW-Authenticate")


class RequestId:
    """Give every request an id and return it in both headers clients look for.

    An inbound `X-OpenStack-Request-ID` of the right form (a caller service's own id)
    is kept as the global request id, so one user action can be followed across
    services.
    """

    def __init__(self, application: WSGIApp) -> None:
        self.application = application

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        request_id = f"req-{uuid.uuid4()}"
        environ[REQUEST_ID_KEY] = request_id
        inbound = environ.get("HTTP_X_OPENSTACK_REQUEST_ID", "")
        if _GLOBAL_ID_RE.match(inbound):
            environ[GLOBAL_REQUEST_ID_KEY] = inbound

        def _start_response(status: str, headers: list, exc_info=None):
            headers = [(k, v) for k, v in headers if k.lower() not in REQUEST_ID_HEADERS]
            headers.extend((name, request_id) for name in REQUEST_ID_HEADERS)
            return start_response(status, headers, exc_info)

        return self.application(environ, _start_response)


class BodySizeLimit:
    """Refuse bodies above `[api] max_request_body_size` with 413 before any work.

    A body without Content-Length (chunked) is read up to the limit here and handed on
    as a buffer, so no later layer can be made to read more.
    """

    def __init__(self, application: WSGIApp, conf: cfg.ConfigOpts) -> None:
        self.application = application
        self.conf = conf

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        limit = self.conf.api.max_request_body_size
        too_large = fault.error_response(
            413, f"Request is too large. The limit is {limit} bytes.")
        length = environ.get("CONTENT_LENGTH")
        if length:
            try:
                declared = int(length)
            except ValueError:
                return fault.error_response(400, "Invalid Content-Length")(
                    environ, start_response)
            if declared > limit:
                return too_large(environ, start_response)
        elif (environ.get("wsgi.input_terminated")
              or "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()):
            data = environ["wsgi.input"].read(limit + 1)
            if len(data) > limit:
                return too_large(environ, start_response)
            environ["wsgi.input"] = io.BytesIO(data)
            environ["CONTENT_LENGTH"] = str(len(data))
            environ.pop("HTTP_TRANSFER_ENCODING", None)
        return self.application(environ, start_response)


class ContextMiddleware:
    """Build the RequestContext from the identity auth found.

    Creating it also stores it in oslo.context's thread-local store, so log lines
    written while serving this request carry its request id.
    """

    def __init__(self, application: WSGIApp) -> None:
        self.application = application

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        identity = environ.get(auth.IDENTITY_KEY) or {}
        ctx = RequestContext(
            user_id=identity.get("user_id"),
            project_id=identity.get("project_id"),
            roles=list(identity.get("roles", [])),
            request_id=environ.get(REQUEST_ID_KEY),
            global_request_id=environ.get(GLOBAL_REQUEST_ID_KEY),
            overwrite=True,
        )
        environ[util.CONTEXT_KEY] = ctx
        started = time.monotonic()
        status: list[str] = []

        def log_start_response(code: str, headers: list, exc_info: Any = None) -> Callable:
            status.append(code)
            return start_response(code, headers, exc_info)

        body = self.application(environ, log_start_response)
        # The access log line, written under this request's context (so with its id).
        LOG.info('"%s %s" status: %s time: %.4f', environ.get("REQUEST_METHOD"),
                 environ.get("PATH_INFO"), status[0].split()[0] if status else "-",
                 time.monotonic() - started)
        return body


def fault_response(exc: Exception, environ: dict) -> webob.Response:
    """The Nova-shaped response for an exception a handler let escape."""
    if isinstance(exc, webob.exc.HTTPException):
        code = exc.code
        message = exc.detail or exc.explanation or exc.title
        headers = {name: exc.headers[name] for name in _KEPT_ERROR_HEADERS
                   if name in exc.headers}
        if code >= 500:
            LOG.error("API error %s: %s", code, message)
        return fault.error_response(code, message, headers)
    if isinstance(exc, exception.NovaliteException) and exc.code != 500:
        if exc.code >= 500:
            LOG.error("API error %s: %s", exc.code, exc.format_message())
        return fault.error_response(exc.code, exc.format_message())
    LOG.exception("Unexpected error serving %s %s", environ.get("REQUEST_METHOD"),
                  environ.get("PATH_INFO"))
    return fault.error_response(
        500, "Unexpected API Error. Please report this to the operator and quote request "
        f"id {environ.get(REQUEST_ID_KEY)}; the API log has the details.")


class FaultWrapper:
    """Turn every exception into a Nova-shaped error; never send a traceback."""

    def __init__(self, application: WSGIApp) -> None:
        self.application = application

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        try:
            return self.application(environ, start_response)
        except Exception as exc:  # noqa: BLE001 - this is the last line of defence
            response = fault_response(exc, environ)
            version = environ.get(microversion.ENVIRON_KEY)
            if version is not None:
                microversion.add_headers(response, version)
            return response(environ, start_response)


class MicroversionMiddleware:
    """Negotiate the version of every /v2.1 request and echo it on the response."""

    PREFIX = "/v2.1"

    def __init__(self, application: WSGIApp) -> None:
        self.application = application

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if not (path == self.PREFIX or path.startswith(self.PREFIX + "/")):
            return self.application(environ, start_response)
        try:
            version = microversion.negotiate(EnvironHeaders(environ))
        except microversion.InvalidVersion as exc:
            return fault.error_response(400, str(exc))(environ, start_response)
        except microversion.VersionNotAcceptable as exc:
            return fault.error_response(406, str(exc))(environ, start_response)
        environ[microversion.ENVIRON_KEY] = version

        def _start_response(status: str, headers: list, exc_info=None):
            return start_response(status, microversion.merge_headers(headers, version),
                                  exc_info)

        return self.application(environ, _start_response)
