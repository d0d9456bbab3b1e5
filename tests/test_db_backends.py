"""Schema and DB API on every database backend (SQLite, PostgreSQL, MariaDB/MySQL).

For each backend of tests/conftest.py's db_url: the migrations build exactly the
schema the models declare, db_version() reports head, the guarded UPDATE and the
upserts behave the same, and novalite-manage works as a real console script.
"""

from __future__ import annotations

import datetime
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from novalite import context, exception
from novalite.db import api as db
from novalite.db import migration, models


def _diff(metadata: sa.MetaData) -> list:
    with db.get_engine().connect() as conn:
        mc = MigrationContext.configure(conn, opts={"compare_type": True,
                                                    "compare_server_default": False})
        return compare_metadata(mc, metadata)


def test_migrations_match_models_and_version_is_head(db_config):
    assert migration.db_version() is None
    migration.db_sync()
    head = migration.head_revision()
    assert head is not None and migration.db_version() == head
    # Everything the models declare (columns, types, nullability, indexes, unique and
    # foreign keys) is what the migrations built; no benign-difference filtering needed.
    assert _diff(models.metadata) == []
    migration.db_sync()  # already at head: a no-op
    assert migration.db_version() == head

    # Negative control: the comparison really looks at types and indexes.
    drifted = sa.MetaData(naming_convention=models.NAMING_CONVENTION)
    for table in models.metadata.sorted_tables:
        table.to_metadata(drifted)
    drifted.tables["instances"].c.name.type = sa.String(100)
    sa.Index("ix_extra", drifted.tables["migrations"].c.status)
    kinds = {d[0][0] if isinstance(d, list) else d[0] for d in _diff(drifted)}
    assert kinds == {"modify_type", "add_index"}


def test_db_api_behaves_the_same(db_config):
    migration.db_sync()
    ctx = context.RequestContext(user_id="u", project_id="p", request_id="req-b")
    when = datetime.datetime(2026, 5, 4, 3, 2, 1, 123456)
    inst = db.instance_create(ctx, {"vm_state": "active", "task_state": None,
                                    "launched_at": when,
                                    "flavor": {"name": "m1", "extra_specs": {"a": "é"}}})
    got = db.instance_get(ctx, inst.uuid)
    assert got.launched_at == when  # microseconds survive (DATETIME(6) on MySQL)
    assert got.flavor == {"name": "m1", "extra_specs": {"a": "é"}}
    assert got.locked is False

    db.instance_update(ctx, inst.uuid, {"task_state": "powering-off"},
                       expected_task_state=[None])
    with pytest.raises(exception.UnexpectedTaskStateError):
        db.instance_update(ctx, inst.uuid, {"task_state": "migrating"},
                           expected_task_state=[None])
    # Writing the values the row already has still counts as a match (MySQL found rows).
    db.instance_update(ctx, inst.uuid, {"task_state": "powering-off"},
                       expected_task_state=["powering-off"])
    assert db.instance_get(ctx, inst.uuid).task_state == "powering-off"

    svc = db.service_heartbeat(ctx, "c1", "novalite-compute", "compute", 1)
    assert db.service_heartbeat(ctx, "c1", "novalite-compute", None, 1).report_count == 2
    assert db.service_get(ctx, svc.uuid).id == svc.id
    node = db.compute_node_report(ctx, "c1", "c1", {"vcpus": 4, "memory_mb": 4096,
                                                   "local_gb": 40, "cpu_info": {}})
    assert node.service_id == svc.id and node.generation == 0
    node = db.compute_node_report(ctx, "c1", "c1", {"vcpus": 4, "memory_mb": 8192,
                                                   "local_gb": 40,
                                                   "ram_allocation_ratio": 1.1})
    assert node.generation == 1 and node.ram_allocation_ratio == 1.1
    assert db.compute_node_report(ctx, "c1", "c1", {"ram_allocation_ratio": 1.1}
                                  ).generation == 1

    mig = db.migration_create(ctx, {"instance_uuid": inst.uuid,
                                    "migration_type": "live-migration",
                                    "disk_total": 5 * 2**40})
    assert db.migration_get(ctx, mig.uuid).disk_total == 5 * 2**40
    with pytest.raises(exception.UnexpectedMigrationStatusError):
        db.migration_update(ctx, mig.id, {"status": "running"})


def test_concurrent_first_heartbeats(db_config):
    """Several processes registering the same new service at once: one row, no crash."""
    migration.db_sync()
    ctx = context.get_admin_context()
    barrier = threading.Barrier(5)
    errors: list[Exception] = []

    def beat() -> None:
        barrier.wait()
        try:
            db.service_heartbeat(ctx, "ctl", "novalite-conductor", "conductor", 1)
        except Exception as err:  # noqa: BLE001
            errors.append(err)

    threads = [threading.Thread(target=beat) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    [svc] = db.service_get_all(ctx, host="ctl")
    assert svc.report_count == 5


# -- the console script ------------------------------------------------------------------

def _manage_command() -> list[str]:
    script = shutil.which("novalite-manage", path=str(Path(sys.executable).parent))
    return [script] if script else [sys.executable, "-m", "novalite.cmd.manage"]


def _manage(config: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*_manage_command(), "--config-file", str(config), *args],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONWARNINGS": "ignore"})


def test_manage_console_script(tmp_path):
    """The installed novalite-manage, as an operator runs it: sync, version, service list."""
    url = f"sqlite:///{tmp_path / 'manage.sqlite'}"
    config = tmp_path / "novalite.conf"
    # '%' checks that paths and URLs survive Alembic's ini-style interpolation.
    config.write_text(f"[DEFAULT]\nstate_path = {tmp_path / 'state%'}\n"
                      f"[database]\nconnection = {url}\n")
    result = _manage(config, "db", "sync")
    assert result.returncode == 0, result.stderr
    result = _manage(config, "db", "version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == migration.head_revision()

    from novalite.conf import CONF

    CONF.set_override("connection", url, group="database")
    try:
        db.dispose_engine()
        db.service_heartbeat(context.get_admin_context(), "c1", "novalite-compute",
                             "compute", 1)
    finally:
        db.dispose_engine()
        CONF.clear_override("connection", group="database")
    result = _manage(config, "service", "list")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "| Id | Binary" in lines[1]
    row = [c.strip() for c in lines[3].strip("|").split("|")]
    assert row[:5] == ["1", "novalite-compute", "c1", "up", "enabled"]


def test_manage_reports_an_unreachable_database(tmp_path, capsys):
    from novalite.cmd import manage
    from novalite.conf import CONF

    config = tmp_path / "novalite.conf"
    config.write_text("[database]\n"
                      "connection = postgresql+psycopg2://nobody@127.0.0.1:1/novalite\n")
    try:
        code = manage.main(["--config-file", str(config), "db", "version"])
    finally:  # leave the global CONF as other tests expect it
        CONF.clear()
        CONF.unregister_opt(manage.category_opt)
        db.dispose_engine()
    assert code == 1
    err = capsys.readouterr().err
    assert "Cannot reach the database" in err and "127.0.0.1:1" in err
    assert "Traceback" not in err
