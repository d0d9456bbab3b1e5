"""Exceptions the client raises, one class per kind of failure a caller handles differently.

Every exception is a ClientException, so a command-line tool can catch that one class,
print `str(exc)` (the server's own message) and, when there is one, the request id an
operator needs to find the request in the API log.
"""

from __future__ import annotations

import re
from typing import Any

REQUEST_ID_HEADERS = ("x-openstack-request-id", "x-compute-request-id")
# Nova answers 403 (not 413) when a project is over quota; its message says so.
_QUOTA_RE = re.compile(r"quota exceeded", re.IGNORECASE)
_MAX_TEXT = 500


class ClientException(Exception):
    """Base of every client error; str() is the message alone."""

    http_status: int | None = None

    def __init__(self, message: str, status_code: int | None = None,
                 request_id: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code if status_code is not None else self.http_status
        self.request_id = request_id

    def __str__(self) -> str:
        return self.message


class BadRequest(ClientException):
    """400: the request was malformed or refused by validation."""

    http_status = 400


class Unauthorized(ClientException):
    """401: the token is missing, unknown or expired."""

    http_status = 401


class Forbidden(ClientException):
    """403: policy does not allow the caller to do this."""

    http_status = 403


class NotFound(ClientException):
    """404: no such resource (or one the caller may not see)."""

    http_status = 404


class NotAcceptable(ClientException):
    """406: the server does not serve the requested microversion."""

    http_status = 406


class Conflict(ClientException):
    """409: the resource's state does not allow the request (locked, busy, ...)."""

    http_status = 409


class OverLimit(ClientException):
    """413/429, or 403 over quota: a limit stands in the way; `retry_after` when given."""

    http_status = 413

    def __init__(self, message: str, status_code: int | None = None,
                 request_id: str | None = None, retry_after: str | None = None) -> None:
        super().__init__(message, status_code, request_id)
        self.retry_after = retry_after


class ServerError(ClientException):
    """5xx: the server failed; the request id points at the log entry."""

    http_status = 500


class ConnectionFailed(ClientException):
    """The endpoint could not be reached (refused, unresolvable, timed out)."""


class ConfigurationError(ClientException):
    """Endpoint, token or cloud configuration is missing or unusable."""


class UnsupportedVersion(ClientException):
    """The microversion asked for, or needed by a call, is not available."""


class NoUniqueMatch(ClientException):
    """A name matches several resources; the caller must use an id."""


class WaitTimeout(ClientException):
    """A wait ran out of time; `resource` is the last state seen."""

    def __init__(self, message: str, resource: Any = None) -> None:
        super().__init__(message)
        self.resource = resource


class ResourceInErrorState(ClientException):
    """A resource being waited for went to ERROR; `resource` is its last state."""

    def __init__(self, message: str, resource: Any = None) -> None:
        super().__init__(message)
        self.resource = resource


_BY_STATUS: dict[int, type[ClientException]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    406: NotAcceptable,
    409: Conflict,
    413: OverLimit,
    429: OverLimit,
}


def _header(headers: Any, name: str) -> str | None:
    """A header by case-insensitive name from any mapping (requests' or a plain dict)."""
    if not headers:
        return None
    value = headers.get(name)
    if value is None:
        lowered = name.lower()
        for key, candidate in headers.items():
            if key.lower() == lowered:
                return candidate
    return value


def request_id_of(headers: Any) -> str | None:
    """The request id the API returned, from either header it uses."""
    for name in REQUEST_ID_HEADERS:
        value = _header(headers, name)
        if value:
            return value
    return None


def _message_from_json(body: Any) -> str | None:
    """The message of a Nova error body {"<fault>": {"code", "message"}}, or of a bare
    {"message": ...} / {"error": {"message": ...}}."""
    if not isinstance(body, dict):
        return None
    if isinstance(body.get("message"), str):
        return body["message"]
    for value in body.values():
        if isinstance(value, dict) and value.get("message") is not None:
            return str(value["message"])
    return None


def from_response(response: Any) -> ClientException:
    """The exception for an error response (anything with status_code, headers, text).

    The message is the server's when its body has one, else the body text, else the
    HTTP reason; the class follows the status code, with 403 over quota as OverLimit.
    """
    status = int(response.status_code)
    headers = getattr(response, "headers", None) or {}
    text = (getattr(response, "text", "") or "").strip()
    message = None
    try:
        message = _message_from_json(response.json())
    except Exception:  # noqa: BLE001 - any unparseable body falls back to its text
        message = None
    if not message:
        message = text[:_MAX_TEXT] if text else None
    if not message:
        reason = getattr(response, "reason", None) or "Error"
        message = f"HTTP {status} {reason}"
    request_id = request_id_of(headers)
    if status == 403 and _QUOTA_RE.search(message):
        cls: type[ClientException] = OverLimit
    elif status >= 500:
        cls = ServerError
    else:
        cls = _BY_STATUS.get(status, ClientException)
    if cls is OverLimit:
        return OverLimit(message, status, request_id,
                         retry_after=_header(headers, "Retry-After"))
    return cls(message, status, request_id)
