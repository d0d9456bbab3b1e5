"""Live migration through the REST API, with every service its own process, RabbitMQ
and PostgreSQL, on three fake hosts."""

from __future__ import annotations

import pytest

from tests.functional.fixtures import ADMIN_TOKEN, Recorder, is_subsequence, wait_for

pytestmark = pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)

HOSTS = ["c1", "c2", "c3"]
SIZE = {"vcpus": 8, "memory_mb": 8192, "local_gb": 100}

LIVE_SEQUENCE = [
    ("active", None, None), ("active", "migrating", None), ("active", "migrating", "accepted"),
    ("active", "migrating", "queued"), ("active", "migrating", "preparing"),
    ("active", "migrating", "running"), ("active", None, "running"),
    ("active", None, "completed"),
]


def _setup(dep, **fake):
    dep.start_controller()
    for host in HOSTS:
        dep.start(host, "compute", dep.compute_config(host, **SIZE, **fake))
    dep.wait_computes_up(HOSTS)
    flavor = dep.add_flavor("small", ram=512)
    return flavor, dep.add_image()


def _live(dep, sid: str, body: dict, version: str = "2.90") -> int:
    return dep.api("POST", f"/servers/{sid}/action", token=ADMIN_TOKEN, version=version,
                   json={"os-migrateLive": body}).status_code


def _migrations(dep, sid: str) -> list[dict]:
    resp = dep.api("GET", f"/os-migrations?instance_uuid={sid}", version="2.80")
    return sorted(resp.json()["migrations"], key=lambda m: m["id"])


def _settled(dep, sid: str) -> dict:
    def done():
        server = dep.server(sid)
        migs = _migrations(dep, sid)
        final = migs and migs[-1]["status"] in ("completed", "failed", "cancelled", "error")
        return server if final and server["OS-EXT-STS:task_state"] is None else None

    return wait_for(done, 30, what="live migration settled")


def test_live_migrate_with_and_without_a_host(deployment):
    dep = deployment
    flavor, image = _setup(dep)
    server = dep.boot(flavor, image)
    sid, source = server["id"], server["OS-EXT-SRV-ATTR:host"]

    with Recorder(dep, sid) as rec:
        assert _live(dep, sid, {"host": None, "block_migration": "auto"}) == 202
        moved = _settled(dep, sid)
    assert is_subsequence(rec.seen, LIVE_SEQUENCE), rec.seen
    dest = moved["OS-EXT-SRV-ATTR:host"]
    assert dest != source and moved["status"] == "ACTIVE"
    assert _migrations(dep, sid)[-1]["status"] == "completed"
    assert dep.memory_used() == {dest: 512}

    # A named host at 2.30 (with force) and at 2.68 (no force any more).
    target = next(h for h in HOSTS if h not in (dest,))
    assert _live(dep, sid, {"host": target, "block_migration": False, "force": False},
                 version="2.30") == 202
    assert _settled(dep, sid)["OS-EXT-SRV-ATTR:host"] == target
    last = next(h for h in HOSTS if h != target)
    assert _live(dep, sid, {"host": last, "block_migration": "auto"}, version="2.68") == 202
    assert _settled(dep, sid)["OS-EXT-SRV-ATTR:host"] == last
    assert [m["status"] for m in _migrations(dep, sid)] == ["completed"] * 3
    assert dep.memory_used() == {last: 512}


def test_progress_force_complete_and_abort(deployment):
    dep = deployment
    flavor, image = _setup(dep, live_migration_seconds=4)
    sid = dep.boot(flavor, image)["id"]
    source = dep.server(sid)["OS-EXT-SRV-ATTR:host"]

    assert _live(dep, sid, {"host": None, "block_migration": "auto"}) == 202

    def running_progress():
        resp = dep.api("GET", f"/servers/{sid}/migrations", token=ADMIN_TOKEN,
                       version="2.80")
        migs = resp.json().get("migrations", [])
        return migs[0] if migs and migs[0]["status"] == "running" and \
            migs[0]["memory_processed_bytes"] else None

    first = wait_for(running_progress, 15, interval=0.05, what="progress bytes")
    second = wait_for(lambda: (m := running_progress()) and
                      m["memory_processed_bytes"] > first["memory_processed_bytes"] and m,
                      10, interval=0.05, what="progress rising")
    assert second["memory_remaining_bytes"] < first["memory_remaining_bytes"]
    resp = dep.api("POST", f"/servers/{sid}/migrations/{first['id']}/action",
                   token=ADMIN_TOKEN, version="2.80", json={"force_complete": None})
    assert resp.status_code == 202, resp.text
    moved = _settled(dep, sid)
    assert _migrations(dep, sid)[-1]["status"] == "completed"
    here = moved["OS-EXT-SRV-ATTR:host"]
    assert here != source

    # A second one, aborted: cancelled, and the server stays where it was.
    assert _live(dep, sid, {"host": None, "block_migration": "auto"}) == 202
    mig = wait_for(running_progress, 15, interval=0.05, what="second migration running")
    resp = dep.api("DELETE", f"/servers/{sid}/migrations/{mig['id']}", token=ADMIN_TOKEN,
                   version="2.80")
    assert resp.status_code == 202, resp.text
    server = _settled(dep, sid)
    assert (server["status"], server["OS-EXT-SRV-ATTR:host"]) == ("ACTIVE", here)
    assert _migrations(dep, sid)[-1]["status"] == "cancelled"
    assert dep.memory_used() == {here: 512}


def test_destination_killed_mid_way_rolls_back_to_the_source(deployment):
    import signal

    dep = deployment
    flavor, image = _setup(dep, live_migration_seconds=2, live_migration_converges=False)
    sid = dep.boot(flavor, image)["id"]
    source = dep.server(sid)["OS-EXT-SRV-ATTR:host"]
    dest = next(h for h in HOSTS if h != source)
    assert _live(dep, sid, {"host": dest, "block_migration": "auto"}) == 202
    wait_for(lambda: _migrations(dep, sid)[-1]["status"] == "running", 15,
             interval=0.05, what="migration running")
    dep.signal(dest, signal.SIGKILL)
    server = _settled(dep, sid)
    assert (server["status"], server["OS-EXT-SRV-ATTR:host"]) == ("ACTIVE", source)
    assert _migrations(dep, sid)[-1]["status"] == "failed"
    assert "stopped answering" in server.get("fault", {}).get("message", "") or \
        "stopped answering" in dep.log(source)
    assert dep.memory_used() == {source: 512}


@pytest.mark.parametrize("action, status", [("abort", "cancelled"),
                                            ("force_complete", "completed")])
def test_non_converging_migration_hits_the_completion_timeout(deployment, action, status):
    dep = deployment
    dep.start_controller()
    for host in HOSTS[:2]:
        dep.start(host, "compute", dep.compute_config(
            host, libvirt={"live_migration_completion_timeout": 1,
                           "live_migration_timeout_action": action},
            live_migration_converges=False, **SIZE))
    dep.wait_computes_up(HOSTS[:2])
    flavor = dep.add_flavor("small", ram=512)
    sid = dep.boot(flavor, dep.add_image())["id"]
    source = dep.server(sid)["OS-EXT-SRV-ATTR:host"]
    assert _live(dep, sid, {"host": None, "block_migration": "auto"}) == 202
    server = _settled(dep, sid)
    assert _migrations(dep, sid)[-1]["status"] == status
    assert (server["OS-EXT-SRV-ATTR:host"] == source) == (action == "abort")
