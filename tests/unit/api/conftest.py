"""Fixtures for the API tests: an in-process app (no server), a token file, a database."""

from __future__ import annotations

import datetime
import json
import logging
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import webob

from novalite.api import deploy, policy
from novalite.conf import CONF

ADMIN = "admin:admin-project"
MEMBER = "alice:demo"


@pytest.fixture(autouse=True)
def _clean_state() -> Iterator[None]:
    """Each test starts from default options and a fresh policy enforcer."""
    policy.reset()
    yield
    policy.reset()
    CONF.clear_override("auth_strategy", group="api")
    CONF.clear_override("token_file", group="api")
    CONF.clear_override("max_request_body_size", group="api")
    CONF.clear_override("public_endpoint", group="api")


@pytest.fixture
def app(database: Any) -> Any:
    """The API with noauth (tokens are `user:project`, user `admin` is an admin) on a
    fresh database."""
    CONF.set_override("auth_strategy", "noauth", group="api")
    logging.getLogger("novalite.api.auth").setLevel(logging.ERROR)
    return deploy.build_app(CONF)


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    path = tmp_path / "tokens.json"
    path.write_text(json.dumps({
        "s3cret-admin": {"user_id": "root", "project_id": "ops", "roles": ["admin"]},
        "s3cret-member": {"user_id": "bob", "project_id": "demo",
                          "roles": ["member", "reader"]},
    }))
    return path


@pytest.fixture
def token_app(token_file: Path) -> Any:
    CONF.set_override("auth_strategy", "token", group="api")
    CONF.set_override("token_file", str(token_file), group="api")
    return deploy.build_app(CONF)


def call(app: Any, path: str, method: str = "GET", token: str | None = ADMIN,
         version: str | None = None, body: Any = None,
         headers: dict[str, str] | None = None) -> webob.Response:
    """One request through the whole middleware stack."""
    req = webob.Request.blank(path, method=method)
    if token is not None:
        req.headers["X-Auth-Token"] = token
    if version is not None:
        req.headers["OpenStack-API-Version"] = f"compute {version}"
    if body is not None:
        req.body = json.dumps(body).encode()
        req.content_type = "application/json"
    for name, value in (headers or {}).items():
        req.headers[name] = value
    return req.get_response(app)


@pytest.fixture(scope="session")
def schema_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database migrated once per test session; each test gets a copy (fast)."""
    from novalite.db import api as db
    from novalite.db import migration

    path = tmp_path_factory.mktemp("schema") / "template.sqlite"
    CONF.set_override("connection", f"sqlite:///{path}", group="database")
    try:
        db.dispose_engine()
        migration.db_sync()
    finally:
        db.dispose_engine()  # closing the last connection folds the WAL into the file
        CONF.clear_override("connection", group="database")
    return path


@pytest.fixture
def database(tmp_path: Path, schema_template: Path) -> Iterator[Any]:
    """A fresh SQLite database with the real schema; yields novalite.db.api."""
    from novalite.db import api as db

    path = tmp_path / "api.sqlite"
    shutil.copyfile(schema_template, path)
    CONF.set_override("connection", f"sqlite:///{path}", group="database")
    db.dispose_engine()
    yield db
    db.dispose_engine()
    CONF.clear_override("connection", group="database")


COMPUTE = "novalite-compute"


def make_service(db: Any, host: str, binary: str = COMPUTE, up: bool = True) -> Any:
    """A service row as a heartbeat creates it; `up=False` ages its last heartbeat."""
    from novalite.context import get_admin_context
    from novalite.servicegroup import utcnow

    ctx = get_admin_context()
    row = db.service_heartbeat(ctx, host, binary, binary.split("-")[-1], 1)
    if not up:
        stale = utcnow() - datetime.timedelta(seconds=CONF.service_down_time * 5)
        row = db.service_update(ctx, row.id, {"last_seen_up": stale, "updated_at": stale})
    return row


@pytest.fixture
def services(database: Any) -> dict[str, Any]:
    """conductor (up), compute-1 (up), compute-2 (down), and the API's own row."""
    return {
        "conductor": make_service(database, "ctl", "novalite-conductor"),
        "api": make_service(database, "ctl", "novalite-api"),
        "compute-1": make_service(database, "compute-1"),
        "compute-2": make_service(database, "compute-2", up=False),
    }
