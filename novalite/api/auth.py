"""Authentication middleware: who the caller is, from the X-Auth-Token header.

Two strategies (`[api] auth_strategy`):

* `token` - a JSON file (`[api] token_file`) maps each token to
  `{"user_id": ..., "project_id": ..., "roles": [...]}`. The file is re-read when its
  modification time changes, so operators add tokens without a restart.
* `noauth` - development only: the token is `user:project` (or just `user`, which is
  also the project); user `admin` gets the admin role.

Both put the identity in `environ["novalite.identity"]` for the context middleware, and
both answer 401 in Nova's shape when the token is missing or unknown. The version
documents are readable without a token: clients fetch them before authenticating.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable, Iterable
from typing import Any

from novalite import exception
from novalite.api import fault

LOG = logging.getLogger(__name__)

IDENTITY_KEY = "novalite.identity"
TOKEN_HEADER = "HTTP_X_AUTH_TOKEN"
# Version documents: clients read them before they authenticate.
UNAUTHENTICATED_PATHS = frozenset(["", "/", "/v2.1", "/v2.1/", "/image", "/image/"])

# Keystone's default implied roles, so a token file can say just "member" or "admin".
IMPLIED_ROLES = {"admin": ("manager", "member", "reader"), "manager": ("member", "reader"),
                 "member": ("reader",)}


def with_implied_roles(roles: list[str]) -> list[str]:
    """The roles plus those they imply, in a stable order, without duplicates."""
    out: list[str] = []
    for role in roles:
        for name in (role, *IMPLIED_ROLES.get(role, ())):
            if name not in out:
                out.append(name)
    return out
UNAUTHORIZED_MESSAGE = "The request you have made requires authentication."

WSGIApp = Callable[[dict, Callable], Iterable[bytes]]


def _unauthorized(environ: dict, start_response: Callable) -> Iterable[bytes]:
    response = fault.error_response(401, UNAUTHORIZED_MESSAGE,
                                    headers={"WWW-Authenticate": "X-Auth-Token"})
    return response(environ, start_response)


def _normalise(token: str, entry: Any) -> dict[str, Any]:
    if not isinstance(entry, dict) or not entry.get("user_id") or not entry.get("project_id"):
        raise exception.ConfigError(
            reason=f"token file entry for token {token[:4]}... needs user_id and project_id")
    roles = entry.get("roles") or []
    if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
        raise exception.ConfigError(reason="token file roles must be a list of strings")
    return {"user_id": str(entry["user_id"]), "project_id": str(entry["project_id"]),
            "roles": with_implied_roles([r.lower() for r in roles])}


class TokenStore:
    """The token file's contents, reloaded when the file's mtime changes.

    A file that becomes unreadable or invalid keeps the last good contents (and logs),
    so that a half-written edit does not lock every user out.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._tokens: dict[str, dict[str, Any]] = {}
        self._load(self._stat())  # fail fast at startup: a broken file is a config error

    def _stat(self) -> tuple[int, int]:
        info = os.stat(self.path)
        return (info.st_mtime_ns, info.st_size)

    def _load(self, stamp: tuple[int, int]) -> None:
        # Remember the stamp even if parsing fails: retry only when the file changes again.
        self._stamp = stamp
        try:
            with open(self.path, encoding="utf-8") as handle:
                raw = json.load(handle)
        except (OSError, ValueError) as exc:
            raise exception.ConfigError(
                reason=f"cannot read token file {self.path}: {exc}") from exc
        if not isinstance(raw, dict):
            raise exception.ConfigError(reason=f"token file {self.path} is not a JSON object")
        self._tokens = {str(token): _normalise(str(token), entry)
                        for token, entry in raw.items()}

    def lookup(self, token: str) -> dict[str, Any] | None:
        """The identity for a token, or None."""
        with self._lock:
            try:
                stamp = self._stat()
                if stamp != self._stamp:
                    self._load(stamp)
                    LOG.info("Reloaded token file %s", self.path)
            except (OSError, exception.ConfigError) as exc:
                LOG.error("Keeping the previous tokens; token file %s: %s", self.path, exc)
            return self._tokens.get(token)


class TokenAuth:
    """`auth_strategy = token`."""

    def __init__(self, application: WSGIApp, token_file: str | None) -> None:
        if not token_file:
            raise exception.ConfigError(
                reason="[api] token_file is required with auth_strategy=token")
        try:
            self.store = TokenStore(token_file)
        except OSError as exc:
            raise exception.ConfigError(reason=f"cannot read token file: {exc}") from exc
        self.application = application

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        if environ.get("PATH_INFO", "") in UNAUTHENTICATED_PATHS:
            return self.application(environ, start_response)
        token = environ.get(TOKEN_HEADER)
        if not token:
            return _unauthorized(environ, start_response)
        identity = self.store.lookup(token)
        if identity is None:
            return _unauthorized(environ, start_response)
        environ[IDENTITY_KEY] = dict(identity)
        return self.application(environ, start_response)


class NoAuth:
    """`auth_strategy = noauth`: trust `user:project` tokens. Never in production."""

    def __init__(self, application: WSGIApp) -> None:
        self.application = application

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        if environ.get("PATH_INFO", "") in UNAUTHENTICATED_PATHS:
            return self.application(environ, start_response)
        token = (environ.get(TOKEN_HEADER) or "").strip()
        if not token:
            return _unauthorized(environ, start_response)
        user_id, _, project_id = token.partition(":")
        project_id = project_id or user_id
        roles = with_implied_roles(["admin" if user_id == "admin" else "member"])
        environ[IDENTITY_KEY] = {"user_id": user_id, "project_id": project_id,
                                 "roles": roles}
        return self.application(environ, start_response)


def make_auth(application: WSGIApp, strategy: str, token_file: str | None) -> WSGIApp:
    """The middleware for `[api] auth_strategy`."""
    if strategy == "noauth":
        LOG.warning("auth_strategy=noauth: any caller can act as any user; development only")
        return NoAuth(application)
    if strategy == "token":
        return TokenAuth(application, token_file)
    raise exception.ConfigError(reason=f"unknown auth_strategy {strategy}")
