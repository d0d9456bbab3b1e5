"""``--wait`` progress: the live-migration line, the progress line on a TTY, and the
wait against the library's real ServerManager.wait_for."""

from __future__ import annotations

import io
import itertools
from unittest import mock

import pytest

from novalite.cli import progress
from novalite.client import resources
from novalite.client.servers import ServerManager
from tests.unit.cli.fakes import SERVER_ID, fake_wait, server

MIB = 1048576


def _migration(processed_mib: float, remaining_mib: float, status: str = "running",
               total_mib: float = 128) -> resources.ServerMigration:
    return resources.ServerMigration(None, {
        "id": 7, "uuid": "m-7", "status": status, "source_compute": "c1",
        "dest_compute": "c2", "memory_total_bytes": int(total_mib * MIB),
        "memory_processed_bytes": int(processed_mib * MIB),
        "memory_remaining_bytes": int(remaining_mib * MIB), "disk_total_bytes": 0,
        "disk_processed_bytes": 0, "disk_remaining_bytes": 0})


@pytest.fixture
def clock():
    """progress._now() ticking 10 s per call."""
    ticks = itertools.count(0, 10)
    with mock.patch.object(progress, "_now", side_effect=lambda: float(next(ticks))):
        yield


def _live_setup(client, final_status: str) -> object:
    vm = server()
    client.servers.find.return_value = vm
    client.migrations.list.side_effect = [
        [resources.Migration(None, {"id": 7, "status": "accepted"})],
        [resources.Migration(None, {"id": 6, "status": "completed"}),
         resources.Migration(None, {"id": 7, "status": final_status})],
    ]
    client.servers.migrations.side_effect = [
        [resources.ServerMigration(None, {"id": 7, "status": "preparing"})],
        [_migration(23, 105)],
        [_migration(54, 74)],
        [_migration(54, 74)],
        [_migration(128, 0)],
        [],
    ]
    client.servers.wait_for.side_effect = fake_wait(
        [server(status="MIGRATING", task_state="migrating")] * 5
        + [server(status="ACTIVE", host="c2" if final_status == "completed" else "c1")])
    return vm


def test_live_migrate_wait_progress_lines(run, client, clock):
    vm = _live_setup(client, "completed")
    result = run("server", "live-migrate", "--host", "c2", "--wait", "vm1")
    assert result.code == 0, result
    client.servers.live_migrate.assert_called_once_with(vm, host="c2",
                                                        block_migration="auto", force=None)
    assert client.servers.wait_for.call_args.args[1] == "ACTIVE"
    assert result.err.splitlines() == [
        "live-migration preparing",
        "live-migration 17%  memory 23.0/128.0 MiB  disk 0.0/0.0 MiB  2.3 MiB/s  ~46s left",
        "live-migration 42%  memory 54.0/128.0 MiB  disk 0.0/0.0 MiB  3.1 MiB/s  ~24s left",
        "live-migration 100%  memory 128.0/128.0 MiB  disk 0.0/0.0 MiB  3.7 MiB/s",
        "status ACTIVE",
    ]
    assert result.out == ""


def test_live_migrate_failed_migration_exits_1(run, client, clock):
    _live_setup(client, "failed")
    result = run("server", "live-migrate", "--block-migration", "--wait", "vm1")
    assert result.code == 1
    assert result.err.splitlines()[-1] == (
        "Error: Live migration of server vm1 failed; the server is ACTIVE on host c1.")
    assert client.servers.live_migrate.call_args.kwargs["block_migration"] is True


def test_live_migrate_options_without_wait(run, client):
    vm = server()
    client.servers.find.return_value = vm
    assert run("server", "live-migrate", "--shared-migration", "--force", "--host", "c3",
               "vm1").code == 0
    client.servers.live_migrate.assert_called_once_with(vm, host="c3", block_migration=False,
                                                        force=True)
    client.servers.wait_for.assert_not_called()
    client.migrations.list.assert_not_called()


def test_live_migration_text_formats():
    assert progress.live_migration_text(_migration(54, 74), 3.1 * MIB) == (
        "live-migration 42%  memory 54.0/128.0 MiB  disk 0.0/0.0 MiB  3.1 MiB/s  ~24s left")
    slow = progress.live_migration_text(_migration(0, 128), 0.5 * MIB)
    assert slow.endswith("0.5 MiB/s  ~4m16s left")
    waiting = resources.ServerMigration(None, {"id": 1, "status": "queued"})
    assert progress.live_migration_text(waiting, None) == "live-migration queued"


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_line_rewrites_in_place_on_a_tty():
    stream = _Tty()
    line = progress.ProgressLine(stream)
    line.update("status BUILD, task scheduling")
    line.update("status BUILD, task scheduling")
    line.update("status ACTIVE")
    line.close()
    assert stream.getvalue() == ("\rstatus BUILD, task scheduling"
                                 "\rstatus ACTIVE" + " " * 16 + "\n")


def test_progress_line_without_tty_prints_each_change():
    stream = io.StringIO()
    line = progress.ProgressLine(stream)
    for text in ("a", "a", "b", "a"):
        line.update(text)
    line.close()
    assert stream.getvalue() == "a\nb\na\n"


def test_wait_accepts_a_second_status_with_the_real_wait_for():
    """revert --wait: the library waits for ACTIVE; SHUTOFF (a stopped server's revert)
    ends the wait through the callback."""
    manager = ServerManager(mock.Mock())
    states = [server(status="REVERT_RESIZE", task_state="resize_reverting"),
              server(status="SHUTOFF")]
    client = mock.Mock(servers=manager)
    stream = io.StringIO()
    with mock.patch.object(manager, "get", side_effect=states) as get:
        last = progress.wait_for_server(client, server(), ("ACTIVE", "SHUTOFF"), stream,
                                        interval=0)
    assert last.status == "SHUTOFF" and get.call_count == 2
    get.assert_called_with(SERVER_ID)
    assert stream.getvalue() == "status REVERT_RESIZE, task resize_reverting\nstatus SHUTOFF\n"
