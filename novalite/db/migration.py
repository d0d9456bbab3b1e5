"""Schema migrations: Alembic, run programmatically (users need no alembic.ini).

The revisions live in the top-level ``migrations/`` directory of the source tree;
``novalite-manage db sync`` and the all-in-one process call :func:`db_sync`.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import exc as sa_exc

from novalite.db import api

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"


def alembic_config() -> Config:
    """An Alembic Config for novalite's migrations and [database] connection."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # '%' is interpolation syntax in Alembic's ini handling.
    config.set_main_option("sqlalchemy.url", api.connection_url().replace("%", "%%"))
    return config


def head_revision() -> str | None:
    """The newest revision in migrations/versions."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def db_sync(version: str = "head") -> None:
    """Upgrade the database to version (default: the newest); a no-op when already there.

    Runs in one transaction where the database allows transactional DDL (PostgreSQL,
    SQLite), so a failed upgrade leaves the schema as it was.
    """
    config = alembic_config()
    engine = api.get_engine().execution_options(**{api._WRITER_OPTION: True})  # noqa: SLF001
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, version)
    except sa_exc.SQLAlchemyError as err:
        raise api._translate(err) from err  # noqa: SLF001


def db_version() -> str | None:
    """The revision the database is at, or None for an empty (never synced) database."""
    try:
        with api.get_engine().connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    except sa_exc.SQLAlchemyError as err:
        raise api._translate(err) from err  # noqa: SLF001
