"""The `novalite` CLI as a user runs it: a subprocess against a deployment of separate
processes (API, conductor, scheduler, three fake compute hosts), RabbitMQ, PostgreSQL.

c1 live-migrates slowly (progress to watch); c2's live migrations never converge (so
one can be aborted); c3 is plain.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.functional.fixtures import ADMIN_TOKEN, free_port, wait_for

pytestmark = pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)

SIZE = {"vcpus": 8, "memory_mb": 8192, "local_gb": 100}
HOST_SETTINGS = {"c1": {"live_migration_seconds": 3},
                 "c2": {"live_migration_seconds": 1, "live_migration_converges": False},
                 "c3": {}}


@pytest.fixture
def cli(deployment):
    dep = deployment
    dep.start_controller()
    for host, settings in HOST_SETTINGS.items():
        dep.start(host, "compute", dep.compute_config(host, **SIZE, **settings))
    dep.wait_computes_up(list(HOST_SETTINGS))
    dep.add_flavor("small", ram=512)
    dep.add_flavor("large", ram=1024, vcpus=2)
    dep.add_image("cirros")

    def run(*args: str, token: str = ADMIN_TOKEN, url: str | None = None,
            timeout: float = 120) -> subprocess.CompletedProcess:
        env = {**os.environ, "NOVALITE_URL": url or dep.endpoint, "NOVALITE_TOKEN": token}
        env.pop("OS_CLOUD", None)
        return subprocess.run([sys.executable, "-m", "novalite.cli.main", *args],
                              capture_output=True, text=True, timeout=timeout, env=env)

    run.dep = dep
    return run


def _ok(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, (result.returncode, result.stdout, result.stderr)
    return result.stdout


def _show(cli, server: str) -> dict:
    return json.loads(_ok(cli("server", "show", server, "-f", "json")))


def _create(cli, name: str, host: str) -> dict:
    _ok(cli("server", "create", "--flavor", "small", "--image", "cirros", "--host", host,
            "--wait", name))
    return _show(cli, name)


def test_server_flows_with_wait(cli):
    server = _create(cli, "vm1", "c3")
    assert server["status"] == "ACTIVE" and server["host"] == "c3"
    # -f json carries every field, raw and readable.
    for field in ("id", "name", "status", "vm_state", "task_state", "power_state", "host",
                  "OS-EXT-SRV-ATTR:host", "OS-EXT-STS:vm_state", "flavor", "image",
                  "created", "updated", "availability_zone"):
        assert field in server, field
    ids = _ok(cli("server", "list", "-f", "value", "-c", "id")).split()
    assert ids == [server["id"]]

    _ok(cli("server", "stop", "--wait", "vm1"))
    assert _show(cli, "vm1")["status"] == "SHUTOFF"
    _ok(cli("server", "start", "--wait", "vm1"))
    assert _show(cli, "vm1")["status"] == "ACTIVE"

    result = cli("server", "resize", "--flavor", "large", "--wait", "vm1")
    _ok(result)
    resized = _show(cli, "vm1")
    assert resized["status"] == "VERIFY_RESIZE" and resized["host"] != "c3"
    assert "resize" in result.stderr  # the current step was shown while waiting
    _ok(cli("server", "resize-confirm", "vm1"))
    confirmed = wait_for(lambda: (s := _show(cli, "vm1"))["status"] == "ACTIVE" and s, 30,
                         what="confirmed")
    assert confirmed["flavor"]["original_name"] == "large"

    _ok(cli("server", "resize", "--flavor", "small", "--wait", "vm1"))
    _ok(cli("server", "resize-revert", "--wait", "vm1"))
    reverted = _show(cli, "vm1")
    assert reverted["status"] == "ACTIVE" and reverted["host"] == confirmed["host"]
    assert reverted["flavor"]["original_name"] == "large"

    _ok(cli("server", "migrate", "--host", "c3", "--wait", "vm1"))
    migrated = _show(cli, "vm1")
    assert migrated["status"] == "VERIFY_RESIZE" and migrated["host"] == "c3"
    _ok(cli("server", "resize-confirm", "vm1"))

    # Scripting: migration list as JSON, actions as bare values.
    migrations = json.loads(_ok(cli("migration", "list", "--server", "vm1", "-f", "json")))
    assert len(migrations) == 3
    actions = _ok(cli("server", "action-list", "vm1", "-f", "value", "-c", "Action")).split()
    assert {"create", "stop", "start", "resize", "confirmResize", "revertResize",
            "migrate"} <= set(actions)

    _ok(cli("server", "delete", "--wait", "vm1"))
    assert _ok(cli("server", "list", "-f", "value", "-c", "ID")).strip() == ""


def test_live_migrate_with_progress_and_abort(cli):
    _create(cli, "slow", "c1")
    result = cli("server", "live-migrate", "--host", "c3", "--wait", "slow")
    _ok(result)
    assert _show(cli, "slow")["host"] == "c3"
    # Progress lines were drawn while the 3-second fake migration ran.
    progress = [line for line in result.stderr.splitlines() if "%" in line]
    assert len(progress) >= 2, result.stderr
    assert "memory" in progress[-1] and "MiB" in progress[-1]

    _create(cli, "stuck", "c2")
    _ok(cli("server", "live-migrate", "--host", "c3", "stuck"))

    def running() -> str | None:
        rows = json.loads(_ok(cli("server", "migration-list", "stuck", "-f", "json")))
        running = [r for r in rows if r.get("Status", r.get("status")) == "running"]
        return str(running[0].get("ID", running[0].get("id"))) if running else None

    migration_id = wait_for(running, 30, interval=0.5, what="a running migration")
    _ok(cli("server", "migration-abort", "stuck", migration_id))
    server = wait_for(lambda: (s := _show(cli, "stuck"))["task_state"] is None and s, 30,
                      what="abort settled")
    assert server["status"] == "ACTIVE" and server["host"] == "c2"
    rows = json.loads(_ok(cli("migration", "list", "--server", "stuck", "-f", "json")))
    assert [r.get("Status", r.get("status")) for r in rows] == ["cancelled"]


def test_errors_are_one_line_messages(cli):
    missing = cli("server", "show", "no-such-server")
    assert missing.returncode == 1
    assert missing.stderr.strip().count("\n") == 0, missing.stderr
    assert "no-such-server" in missing.stderr and "Traceback" not in missing.stderr

    _create(cli, "vm", "c3")
    busy = cli("server", "start", "vm")  # already running: the API's 409, word for word
    assert busy.returncode == 1, busy
    assert "Cannot 'start' instance" in busy.stderr and "vm_state active" in busy.stderr
    assert "409" in busy.stderr and "Traceback" not in busy.stderr
    assert busy.stderr.strip().count("\n") == 0, busy.stderr

    down = cli("server", "list", url=f"http://127.0.0.1:{free_port()}/v2.1")
    assert down.returncode == 1
    assert "Unable to reach" in down.stderr and "Traceback" not in down.stderr
    assert down.stderr.strip().count("\n") == 0, down.stderr
