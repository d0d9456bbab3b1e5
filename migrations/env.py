"""Alembic environment for novalite.

novalite.db.migration passes an open connection in config.attributes["connection"].
Developers running the alembic command directly can name the database with
``-x url=...`` or a novalite config file with ``-x config_file=...`` (otherwise
sqlalchemy.url from alembic.ini, then novalite's default embedded SQLite file).
"""

from __future__ import annotations

from logging.config import fileConfig

from alembic import context
from sqlalchemy import create_engine, pool

from novalite.db import models

config = context.config
target_metadata = models.metadata

# Logging from alembic.ini only when a developer runs the alembic command by hand.
if config.config_file_name is not None and "connection" not in config.attributes:
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def _url() -> str:
    xargs = context.get_x_argument(as_dictionary=True)
    if xargs.get("url"):
        return xargs["url"]
    if xargs.get("config_file"):
        from novalite.conf import CONF
        from novalite.db import api

        CONF([], project="novalite", default_config_files=[xargs["config_file"]])
        return api.connection_url()
    url = config.get_main_option("sqlalchemy.url")
    if url:
        return url
    from novalite.db import api

    return api.connection_url()


def _configure(**kwargs: object) -> None:
    context.configure(target_metadata=target_metadata, compare_type=True, **kwargs)


def run_migrations_offline() -> None:
    """Emit SQL to stdout (alembic upgrade --sql)."""
    _configure(url=_url(), literal_binds=True, dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = create_engine(_url(), poolclass=pool.NullPool)
    with engine.connect() as connection:
        _run(connection)
        connection.commit()


def _run(connection) -> None:  # noqa: ANN001 - alembic hands us a Connection
    # SQLite cannot ALTER most things; batch mode recreates the table instead.
    _configure(connection=connection, render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
