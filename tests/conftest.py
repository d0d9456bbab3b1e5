"""Database fixtures shared by every test suite.

* ``db_url`` - a fresh, empty, uniquely named database for each backend listed in
  ``NOVALITE_TEST_DATABASES`` (comma list of sqlite, postgresql, mysql; default all
  three), dropped afterwards. PostgreSQL is postgres@127.0.0.1:5432 (trust auth) and
  MariaDB/MySQL root@127.0.0.1:3306 (no password), unless ``NOVALITE_TEST_PG`` /
  ``NOVALITE_TEST_MYSQL`` name another ``user@host:port``. A server that cannot be
  reached skips the test, or fails it when ``NOVALITE_TEST_REQUIRE_DATABASES=1``.
* ``db_config`` - points ``[database] connection`` at db_url for in-process code
  (novalite.db.api), with a fresh engine before and after.
* ``sqlite_db`` - for unit tests: a configured SQLite file with every table created.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

BACKENDS = ("sqlite", "postgresql", "mysql")


def database_backends() -> list[str]:
    """The backends to test, from NOVALITE_TEST_DATABASES (default: all three)."""
    raw = os.environ.get("NOVALITE_TEST_DATABASES", ",".join(BACKENDS))
    wanted = [b.strip().lower() for b in raw.split(",") if b.strip()]
    aliases = {"postgres": "postgresql", "pg": "postgresql", "mariadb": "mysql"}
    wanted = [aliases.get(b, b) for b in wanted]
    unknown = sorted(set(wanted) - set(BACKENDS))
    if unknown:
        raise pytest.UsageError(f"NOVALITE_TEST_DATABASES: unknown backend(s) {unknown}; "
                                f"use {', '.join(BACKENDS)}")
    return list(dict.fromkeys(wanted))


def _require() -> bool:
    return os.environ.get("NOVALITE_TEST_REQUIRE_DATABASES") == "1"


def _server(env: str, default_user: str, default_port: int) -> tuple[str, str, int]:
    raw = os.environ.get(env, f"{default_user}@127.0.0.1:{default_port}")
    user, _, hostport = raw.rpartition("@")
    host, _, port = hostport.partition(":")
    return user or default_user, host or "127.0.0.1", int(port or default_port)


def _unreachable(backend: str, err: Exception) -> None:
    message = f"{backend} server unreachable for database tests: {err}"
    if _require():
        pytest.fail(message + " (NOVALITE_TEST_REQUIRE_DATABASES=1)", pytrace=False)
    pytest.skip(message)


class _Postgres:
    def __init__(self) -> None:
        self.user, self.host, self.port = _server("NOVALITE_TEST_PG", "postgres", 5432)

    def _admin(self):
        import psycopg2

        conn = psycopg2.connect(host=self.host, port=self.port, user=self.user,
                                dbname="postgres", connect_timeout=5)
        conn.autocommit = True
        return conn

    def create(self, name: str) -> str:
        conn = self._admin()
        try:
            with conn.cursor() as cur:
                cur.execute(f'CREATE DATABASE "{name}" ENCODING \'UTF8\' TEMPLATE template0')
        finally:
            conn.close()
        return f"postgresql+psycopg2://{self.user}@{self.host}:{self.port}/{name}"

    def drop(self, name: str) -> None:
        conn = self._admin()
        try:
            with conn.cursor() as cur:
                cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            conn.close()


class _MySQL:
    def __init__(self) -> None:
        self.user, self.host, self.port = _server("NOVALITE_TEST_MYSQL", "root", 3306)

    def _admin(self):
        import pymysql

        return pymysql.connect(host=self.host, port=self.port, user=self.user,
                               connect_timeout=5, autocommit=True)

    def create(self, name: str) -> str:
        conn = self._admin()
        try:
            with conn.cursor() as cur:
                cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 "
                            f"COLLATE utf8mb4_general_ci")
        finally:
            conn.close()
        return (f"mysql+pymysql://{self.user}@{self.host}:{self.port}/{name}"
                f"?charset=utf8mb4")

    def drop(self, name: str) -> None:
        conn = self._admin()
        try:
            with conn.cursor() as cur:
                cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        finally:
            conn.close()


_SERVERS = {"postgresql": _Postgres, "mysql": _MySQL}


@pytest.fixture(params=database_backends())
def db_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    """A fresh empty database on one backend (parametrized), dropped afterwards."""
    backend = request.param
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'novalite-test.sqlite'}"
        return
    server = _SERVERS[backend]()
    name = f"novalite_test_{uuid.uuid4().hex[:12]}"
    try:
        url = server.create(name)
    except Exception as err:  # noqa: BLE001 - any driver error means "not reachable"
        _unreachable(backend, err)
    try:
        yield url
    finally:
        from novalite.db import api

        api.dispose_engine()  # close pooled connections before dropping the database
        server.drop(name)


@pytest.fixture
def db_config(db_url: str) -> Iterator[str]:
    """[database] connection = db_url for in-process code; engine reset around the test."""
    from novalite.conf import CONF
    from novalite.db import api

    api.dispose_engine()
    CONF.set_override("connection", db_url, group="database")
    try:
        yield db_url
    finally:
        api.dispose_engine()
        CONF.clear_override("connection", group="database")


@pytest.fixture
def sqlite_db(tmp_path) -> Iterator[str]:
    """A configured SQLite database with all tables (models' create_all; fast)."""
    from novalite.conf import CONF
    from novalite.db import api, models

    url = f"sqlite:///{tmp_path / 'novalite-unit.sqlite'}"
    api.dispose_engine()
    CONF.set_override("connection", url, group="database")
    try:
        models.metadata.create_all(api.get_engine())
        yield url
    finally:
        api.dispose_engine()
        CONF.clear_override("connection", group="database")
