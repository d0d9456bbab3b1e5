"""GET /os-migrations and GET /servers/{id}/migrations[/{id}]: fields per microversion,
filters, paging, and who sees what (SQLite, migrations written directly)."""

from __future__ import annotations

import datetime
import json
import urllib.parse
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from novalite.api import deploy
from novalite.conf import CONF
from novalite.context import get_admin_context
from novalite.db import flavors as flavor_db
from tests.unit.api.conftest import ADMIN, MEMBER, call
from tests.unit.api.test_servers import Env, make_server_env, running_server

V21_KEYS = {"created_at", "dest_compute", "dest_host", "dest_node", "id", "instance_uuid",
            "new_instance_type_id", "old_instance_type_id", "source_compute", "source_node",
            "status", "updated_at"}
V223_KEYS = V21_KEYS | {"migration_type"}
V259_KEYS = V223_KEYS | {"uuid"}
V280_KEYS = V259_KEYS | {"user_id", "project_id"}
HOST_FIELDS = ("source_compute", "source_node", "dest_compute", "dest_node", "dest_host")

SERVER_KEYS = {"created_at", "dest_compute", "dest_host", "dest_node", "disk_processed_bytes",
               "disk_remaining_bytes", "disk_total_bytes", "id", "memory_processed_bytes",
               "memory_remaining_bytes", "memory_total_bytes", "server_uuid",
               "source_compute", "source_node", "status", "updated_at"}

MANAGER = "manager-token"
T0 = datetime.datetime(2026, 3, 1, 12, 0, 0)


@pytest.fixture
def env(app: Any, database: Any, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    with make_server_env(app, database, tmp_path, monkeypatch) as server_env:
        yield server_env


@pytest.fixture
def token_app(env: Env, tmp_path: Path) -> Any:
    tokens = tmp_path / "migration-tokens.json"
    tokens.write_text(json.dumps({
        MANAGER: {"user_id": "mona", "project_id": "demo", "roles": ["manager"]},
        "member-token": {"user_id": "alice", "project_id": "demo", "roles": ["member"]},
        "admin-token": {"user_id": "root", "project_id": "ops", "roles": ["admin"]},
    }))
    CONF.set_override("auth_strategy", "token", group="api")
    CONF.set_override("token_file", str(tokens), group="api")
    return deploy.build_app(CONF)


def snapshot(flavorid: str) -> dict[str, Any]:
    return flavor_db.flavor_snapshot(flavor_db.flavor_get_by_flavorid(get_admin_context(),
                                                                      flavorid))


def add(env: Env, instance_uuid: str | None = None, migration_type: str = "resize",
        status: str = "finished", source: str = "c1", dest: str = "c2",
        project_id: str = "demo", user_id: str = "alice", minutes: int = 0,
        **values: Any) -> Any:
    """A migration created `minutes` after T0."""
    record = {"instance_uuid": instance_uuid or str(uuid.uuid4()),
              "migration_type": migration_type, "status": status,
              "source_compute": source, "source_node": f"{source}-node",
              "dest_compute": dest, "dest_node": f"{dest}-node", "dest_host": f"{dest}-ip",
              "old_flavor": snapshot("1"), "new_flavor": snapshot("2"),
              "project_id": project_id, "user_id": user_id,
              "created_at": T0 + datetime.timedelta(minutes=minutes)}
    record.update(values)
    return env.db.migration_create(get_admin_context(), record)


def listing(env: Env, query: str = "", version: str | None = None, token: str = ADMIN,
            app: Any = None) -> Any:
    return call(app or env.app, f"/v2.1/os-migrations{query}", token=token, version=version)


def ids(resp: Any) -> list[int]:
    assert resp.status_int == 200, resp.body
    return [m["id"] for m in resp.json["migrations"]]


# -- /os-migrations: representation ----------------------------------------------------

@pytest.mark.parametrize(("version", "keys"), [
    (None, V21_KEYS), ("2.22", V21_KEYS), ("2.23", V223_KEYS), ("2.58", V223_KEYS),
    ("2.59", V259_KEYS), ("2.79", V259_KEYS), ("2.80", V280_KEYS), ("2.90", V280_KEYS),
])
def test_fields_per_microversion(env: Env, version: str | None, keys: set) -> None:
    add(env)
    (migration,) = listing(env, version=version).json["migrations"]
    assert set(migration) == keys


def test_values(env: Env) -> None:
    ctx = get_admin_context()
    record = add(env, status="migrating")
    record = env.db.migration_update(ctx, record.id, {"updated_at": T0},
                                     expected_status=["migrating"])
    (view,) = listing(env, version="2.80").json["migrations"]
    flavor_ids = {f: flavor_db.flavor_get_by_flavorid(ctx, f).id for f in ("1", "2")}
    assert view == {
        "id": record.id, "uuid": record.uuid, "instance_uuid": record.instance_uuid,
        "status": "migrating", "migration_type": "resize",
        "source_compute": "c1", "source_node": "c1-node", "dest_compute": "c2",
        "dest_node": "c2-node", "dest_host": "c2-ip",
        "old_instance_type_id": flavor_ids["1"], "new_instance_type_id": flavor_ids["2"],
        "created_at": "2026-03-01T12:00:00.000000", "updated_at": "2026-03-01T12:00:00.000000",
        "user_id": "alice", "project_id": "demo",
    }


def test_deleted_flavors_show_no_instance_type_id(env: Env) -> None:
    gone = dict(snapshot("2"), flavorid="gone")
    add(env, new_flavor=gone, old_flavor=None)
    (view,) = listing(env).json["migrations"]
    assert (view["old_instance_type_id"], view["new_instance_type_id"]) == (None, None)


def test_links_only_for_live_migrations_in_progress(env: Env) -> None:
    running = add(env, migration_type="live-migration", status="running")
    add(env, migration_type="live-migration", status="completed")
    add(env, migration_type="live-migration", status="accepted")
    add(env, migration_type="resize", status="migrating")
    views = {m["id"]: m for m in listing(env, version="2.23").json["migrations"]}
    with_links = [m for m in views.values() if "links" in m]
    assert [m["id"] for m in with_links] == [running.id]
    path = f"servers/{running.instance_uuid}/migrations/{running.id}"
    assert views[running.id]["links"] == [
        {"href": f"http://localhost/v2.1/{path}", "rel": "self"},
        {"href": f"http://localhost/{path}", "rel": "bookmark"}]
    assert all("links" not in m for m in listing(env, version="2.22").json["migrations"])


# -- /os-migrations: filters and paging --------------------------------------------------

def test_filters(env: Env) -> None:
    server = str(uuid.uuid4())
    a = add(env, instance_uuid=server, status="finished", source="c1", dest="c2")
    b = add(env, instance_uuid=server, status="error", source="c2", dest="c3",
            migration_type="migration")
    c = add(env, status="running", source="c3", dest="c1", migration_type="live-migration")
    assert ids(listing(env)) == [a.id, b.id, c.id]
    assert ids(listing(env, "?status=error")) == [b.id]
    assert ids(listing(env, "?status=error&status=running")) == [b.id, c.id]
    assert ids(listing(env, "?host=c1")) == [a.id, c.id]  # source or destination
    assert ids(listing(env, "?source_compute=c2")) == [b.id]
    assert ids(listing(env, "?host=c3&source_compute=c2")) == [b.id, c.id]  # host wins
    assert ids(listing(env, f"?instance_uuid={server}")) == [a.id, b.id]
    assert ids(listing(env, "?migration_type=live-migration")) == [c.id]
    assert ids(listing(env, "?migration_type=migration", version="2.23")) == [b.id]
    assert ids(listing(env, "?hidden=1")) == []
    assert ids(listing(env, "?hidden=0&status=finished")) == [a.id]
    # Before 2.59 unknown parameters are ignored, paging included.
    assert ids(listing(env, "?limit=1&frobnicate=1&changes-since=2030-01-01")) == [
        a.id, b.id, c.id]


def test_paging_from_2_59_newest_first(env: Env) -> None:
    made = [add(env, minutes=minute) for minute in (3, 1, 2, 5, 4)]
    newest_first = [m.id for m in sorted(made, key=lambda m: m.created_at, reverse=True)]
    assert ids(listing(env, version="2.59")) == newest_first
    resp = listing(env, "?limit=2", version="2.59")
    assert ids(resp) == newest_first[:2]
    (link,) = resp.json["migrations_links"]
    assert link["rel"] == "next"
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(link["href"]).query)
    assert query == {"limit": ["2"], "marker": [resp.json["migrations"][-1]["uuid"]]}
    page2 = listing(env, "?" + urllib.parse.urlsplit(link["href"]).query, version="2.59")
    assert ids(page2) == newest_first[2:4]
    page3 = listing(env, f"?limit=2&marker={page2.json['migrations'][-1]['uuid']}",
                    version="2.59")
    assert ids(page3) == newest_first[4:] and "migrations_links" not in page3.json
    assert "migrations_links" not in listing(env, version="2.59").json


def test_paging_ties_on_created_at_go_by_id(env: Env) -> None:
    made = [add(env, minutes=0) for _ in range(4)]
    expected = [m.id for m in reversed(made)]
    first = listing(env, "?limit=3", version="2.59")
    assert ids(first) == expected[:3]
    rest = listing(env, f"?marker={first.json['migrations'][-1]['uuid']}", version="2.59")
    assert ids(rest) == expected[3:]


@pytest.mark.parametrize(("query", "version", "message"), [
    ("?marker=nope", "2.59", "Marker nope could not be found."),
    ("?limit=-1", "2.59", "limit"),
    ("?limit=x", "2.59", "limit"),
    ("?frobnicate=1", "2.59", "frobnicate"),
    ("?changes-before=2026-01-01T00:00:00", "2.65", "changes-before"),
    ("?user_id=alice", "2.79", "user_id"),
    ("?changes-since=yesterday", "2.59", "changes-since"),
    ("?changes-since=2026-03-02T00:00:00&changes-before=2026-03-01T00:00:00", "2.66",
     "The value of changes-since must be less than or equal to changes-before."),
])
def test_bad_queries_are_400(env: Env, query: str, version: str, message: str) -> None:
    add(env)
    resp = listing(env, query, version=version)
    assert resp.status_int == 400, resp.body
    assert message in resp.json["badRequest"]["message"]


def test_changes_since_and_before(env: Env) -> None:
    ctx = get_admin_context()
    old = add(env, minutes=0)
    new = add(env, minutes=10)
    env.db.migration_update(ctx, new.id, {"updated_at": T0 + datetime.timedelta(hours=1)},
                            expected_status=["finished"])
    assert ids(listing(env, "?changes-since=2026-03-01T12:05:00Z", version="2.59")) == [
        new.id]
    assert ids(listing(env, "?changes-before=2026-03-01T12:05:00", version="2.66")) == [
        old.id]
    assert ids(listing(env, "?changes-since=2026-03-01T11:00:00&changes-before="
                            "2026-03-01T12:00:00", version="2.66")) == [old.id]


def test_user_and_project_filters_from_2_80(env: Env) -> None:
    mine = add(env, user_id="alice", project_id="demo")
    theirs = add(env, user_id="bob", project_id="other")
    assert ids(listing(env, "?user_id=bob", version="2.80")) == [theirs.id]
    assert ids(listing(env, "?project_id=demo", version="2.80")) == [mine.id]


# -- /os-migrations: policy --------------------------------------------------------------

def test_policy(env: Env, token_app: Any) -> None:
    mine = add(env, project_id="demo")
    add(env, project_id="other", user_id="bob")
    # A member may not list migrations at all.
    resp = listing(env, token=MEMBER)
    assert resp.status_int == 403 and "os-migrations:index" in resp.json["forbidden"]["message"]
    assert listing(env, token="member-token", app=token_app).status_int == 403
    # A project manager may list their own project's, by naming it, without hosts.
    resp = listing(env, token=MANAGER, app=token_app)
    assert resp.status_int == 403 and "index:all_projects" in resp.json["forbidden"]["message"]
    assert listing(env, "?project_id=other", token=MANAGER, version="2.80",
                   app=token_app).status_int == 403
    resp = listing(env, "?project_id=demo", token=MANAGER, version="2.80", app=token_app)
    (view,) = resp.json["migrations"]
    assert view["id"] == mine.id and all(view[f] is None for f in HOST_FIELDS)
    # An administrator sees everything, hosts included.
    views = listing(env, token="admin-token", app=token_app).json["migrations"]
    assert len(views) == 2 and all(v["source_compute"] == "c1" for v in views)


# -- /servers/{id}/migrations ----------------------------------------------------------

def test_server_migrations_list_live_ones_in_progress(env: Env) -> None:
    server_id = running_server(env)
    ctx = get_admin_context()
    running = add(env, instance_uuid=server_id, migration_type="live-migration",
                  status="running", memory_total=1024, memory_processed=512,
                  memory_remaining=512, disk_total=0, disk_processed=0, disk_remaining=0)
    accepted = add(env, instance_uuid=server_id, migration_type="live-migration",
                   status="accepted")
    add(env, instance_uuid=server_id, migration_type="live-migration", status="completed")
    add(env, instance_uuid=server_id, migration_type="resize", status="migrating")
    add(env, migration_type="live-migration", status="running")  # another server's
    path = f"/v2.1/servers/{server_id}/migrations"
    assert call(env.app, path, token=ADMIN, version="2.22").status_int == 404
    resp = call(env.app, path, token=ADMIN, version="2.23")
    assert resp.status_int == 200
    views = resp.json["migrations"]
    assert [v["id"] for v in views] == [running.id, accepted.id]
    assert set(views[0]) == SERVER_KEYS
    assert (views[0]["server_uuid"], views[0]["memory_total_bytes"],
            views[0]["memory_processed_bytes"], views[0]["dest_compute"]) == (
        server_id, 1024, 512, "c2")
    assert set(call(env.app, path, token=ADMIN, version="2.59").json["migrations"][0]) == (
        SERVER_KEYS | {"uuid"})
    assert set(call(env.app, path, token=ADMIN, version="2.80").json["migrations"][0]) == (
        SERVER_KEYS | {"uuid", "user_id", "project_id"})
    # Show: the running one only.
    one = call(env.app, f"{path}/{running.id}", token=ADMIN, version="2.23")
    assert one.status_int == 200 and one.json["migration"]["id"] == running.id
    assert set(one.json["migration"]) == SERVER_KEYS
    assert env.db.migration_get(ctx, running.id).status == "running"


def test_server_migration_show_is_404_unless_live_and_in_progress(env: Env) -> None:
    server_id = running_server(env)
    other_server = running_server(env)
    resize = add(env, instance_uuid=server_id, migration_type="resize", status="migrating")
    done = add(env, instance_uuid=server_id, migration_type="live-migration",
               status="completed")
    elsewhere = add(env, instance_uuid=other_server, migration_type="live-migration",
                    status="running")
    path = f"/v2.1/servers/{server_id}/migrations"
    for migration_id, message in (
            (resize.id, f"Migration {resize.id} for server {server_id} is not "
                        f"live-migration."),
            (done.id, f"Live migration {done.id} for server {server_id} is not in "
                      f"progress."),
            (elsewhere.id, f"In-progress live migration {elsewhere.id} is not found for "
                           f"server {server_id}."),
            ("999", f"In-progress live migration 999 is not found for server "
                    f"{server_id}."),
            ("abc", f"In-progress live migration abc is not found for server "
                    f"{server_id}.")):
        resp = call(env.app, f"{path}/{migration_id}", token=ADMIN, version="2.23")
        assert resp.status_int == 404
        assert resp.json["itemNotFound"]["message"] == message


def test_server_migrations_policy(env: Env, token_app: Any) -> None:
    server_id = running_server(env)
    running = add(env, instance_uuid=server_id, migration_type="live-migration",
                  status="running")
    path = f"/v2.1/servers/{server_id}/migrations"
    assert call(env.app, path, token=MEMBER, version="2.23").status_int == 403
    assert call(env.app, path, token="bob:other", version="2.23").status_int == 404
    resp = call(token_app, path, token=MANAGER, version="2.23")
    (view,) = resp.json["migrations"]
    assert all(view[f] is None for f in HOST_FIELDS if f in view)
    assert call(token_app, f"{path}/{running.id}", token=MANAGER,
                version="2.23").status_int == 403
    resp = call(token_app, f"{path}/{running.id}", token="admin-token", version="2.23")
    assert resp.status_int == 200 and resp.json["migration"]["source_compute"] == "c1"
