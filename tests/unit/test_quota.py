"""novalite.quota on SQLite: limits, live usage, and enforcement with Nova's message."""

from __future__ import annotations

import pytest

from novalite import exception, quota
from novalite.conf import CONF
from novalite.context import RequestContext, get_admin_context
from novalite.db import api as db

CTX = RequestContext(user_id="u1", project_id="p1")


@pytest.fixture(autouse=True)
def _quota_defaults():
    yield
    for name in ("instances", "cores", "ram"):
        CONF.clear_override(name, group="quota")


def _boot(vcpus: int, ram: int, project: str = "p1") -> str:
    ctx = RequestContext(user_id="u1", project_id=project)
    return db.instance_create(ctx, {"name": "vm", "flavor": {"vcpus": vcpus,
                                                             "memory_mb": ram}}).uuid


def test_limits_default_to_config_and_rows_override(sqlite_db) -> None:
    CONF.set_override("cores", 7, group="quota")
    limits = quota.limits_for(CTX, "p1")
    assert (limits["instances"], limits["cores"], limits["ram"]) == (10, 7, 51200)
    assert limits["key_pairs"] == 100 and limits["floating_ips"] == -1
    admin = get_admin_context()
    quota.set_limit(admin, "p1", "cores", 40)
    quota.set_limit(admin, "p1", "instances", -1)
    quota.set_limit(admin, "p1", "gpus", 2)
    limits = quota.limits_for(CTX, "p1")
    assert (limits["instances"], limits["cores"], limits["gpus"]) == (-1, 40, 2)
    assert quota.limits_for(CTX, "p2")["cores"] == 7
    quota.set_limit(admin, "p1", "cores", None)
    assert quota.limits_for(CTX, "p1")["cores"] == 7


def test_usage_counts_live_instances_of_the_project(sqlite_db) -> None:
    assert quota.usage_for(CTX, "p1") == {"instances": 0, "cores": 0, "ram": 0}
    _boot(2, 2048)
    _boot(4, 1024)
    gone = _boot(8, 8192)
    db.instance_destroy(CTX, gone)
    _boot(16, 16384, project="p2")
    db.instance_create(CTX, {"name": "no-flavor-yet"})
    assert quota.usage_for(CTX, "p1") == {"instances": 3, "cores": 6, "ram": 3072}


def test_enforce_passes_within_limits(sqlite_db) -> None:
    _boot(18, 1024)
    quota.enforce(CTX, "p1", instances=1, cores=2, ram=1024)
    quota.enforce(CTX, "p1", instances=0, cores=0, ram=0)


def test_enforce_raises_with_novas_message(sqlite_db) -> None:
    _boot(18, 1024)
    with pytest.raises(exception.OverQuota) as raised:
        quota.enforce(CTX, "p1", instances=1, cores=4, ram=512)
    assert raised.value.code == 403
    assert raised.value.format_message() == \
        "Quota exceeded for cores: Requested 4, but already used 18 of 20 cores"


def test_enforce_names_every_resource_over(sqlite_db) -> None:
    CONF.set_override("instances", 1, group="quota")
    CONF.set_override("ram", 2048, group="quota")
    _boot(1, 2048)
    with pytest.raises(exception.OverQuota) as raised:
        quota.enforce(CTX, "p1", instances=1, cores=1, ram=1024)
    assert raised.value.format_message() == (
        "Quota exceeded for instances, ram: Requested 1, 1024, but already used 1, 2048 "
        "of 1, 2048 instances, ram")


def test_unlimited_and_shrinking_are_never_refused(sqlite_db) -> None:
    quota.set_limit(get_admin_context(), "p1", "cores", -1)
    quota.enforce(CTX, "p1", instances=1, cores=10_000, ram=1)
    CONF.set_override("ram", 1, group="quota")
    _boot(1, 4096)
    # Already over a lowered RAM limit: a resize that does not grow RAM still passes.
    quota.enforce(CTX, "p1", instances=0, cores=1, ram=-2048)


def test_enforce_inside_the_inserting_transaction(sqlite_db) -> None:
    CONF.set_override("instances", 1, group="quota")
    with db.transaction() as session:
        quota.enforce(CTX, "p1", instances=1, cores=1, ram=1, session=session)
        db.instance_create(CTX, {"name": "vm", "flavor": {"vcpus": 1, "memory_mb": 1}})
        # The insert is visible to the check in the same transaction.
        assert quota.usage_for(CTX, "p1", session=session)["instances"] == 1
    with pytest.raises(exception.OverQuota), db.transaction() as session:
        quota.enforce(CTX, "p1", instances=1, session=session)


def test_allowed_instances(sqlite_db) -> None:
    _boot(4, 1024)
    # cores: (20 - 4) // 4 = 4; instances: 9; ram: plenty.
    assert quota.allowed_instances(CTX, "p1", vcpus=4, memory_mb=1024, requested=10) == 4
    assert quota.allowed_instances(CTX, "p1", vcpus=1, memory_mb=1, requested=3) == 3
    quota.set_limit(get_admin_context(), "p1", "instances", 1)
    assert quota.allowed_instances(CTX, "p1", vcpus=1, memory_mb=1, requested=3) == 0
