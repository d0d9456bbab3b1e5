"""GET /limits: Nova's keys at each microversion, limits and live usage."""

from __future__ import annotations

from typing import Any

import pytest

from novalite import quota
from novalite.conf import CONF
from novalite.context import RequestContext, get_admin_context
from tests.unit.api.conftest import MEMBER, call

KEYS_2_1 = {"maxImageMeta", "maxPersonality", "maxPersonalitySize", "maxSecurityGroupRules",
            "maxSecurityGroups", "maxServerGroupMembers", "maxServerGroups", "maxServerMeta",
            "maxTotalCores", "maxTotalFloatingIps", "maxTotalInstances", "maxTotalKeypairs",
            "maxTotalRAMSize", "totalCoresUsed", "totalFloatingIpsUsed", "totalInstancesUsed",
            "totalRAMUsed", "totalSecurityGroupsUsed", "totalServerGroupsUsed"}
KEYS_2_36 = KEYS_2_1 - {"maxSecurityGroupRules", "maxSecurityGroups", "maxTotalFloatingIps",
                        "totalFloatingIpsUsed", "totalSecurityGroupsUsed"}
KEYS_2_39 = KEYS_2_36 - {"maxImageMeta"}
KEYS_2_57 = KEYS_2_39 - {"maxPersonality", "maxPersonalitySize"}


@pytest.fixture(autouse=True)
def _quota_defaults():
    yield
    for name in ("instances", "cores", "ram"):
        CONF.clear_override(name, group="quota")


def _boot(db: Any, project: str, vcpus: int, ram: int) -> Any:
    ctx = RequestContext(user_id="u", project_id=project)
    return db.instance_create(ctx, {"name": "vm", "flavor": {"vcpus": vcpus,
                                                             "memory_mb": ram}})


def _absolute(app: Any, version: str | None = None, token: str = MEMBER,
              query: str = "") -> dict[str, int]:
    resp = call(app, f"/v2.1/limits{query}", version=version, token=token)
    assert resp.status_int == 200, resp.text
    assert resp.json["limits"]["rate"] == []
    assert set(resp.json["limits"]) == {"rate", "absolute"}
    return resp.json["limits"]["absolute"]


@pytest.mark.parametrize(("version", "keys"), [
    ("2.1", KEYS_2_1), ("2.35", KEYS_2_1), ("2.36", KEYS_2_36), ("2.38", KEYS_2_36),
    ("2.39", KEYS_2_39), ("2.56", KEYS_2_39), ("2.57", KEYS_2_57), ("2.90", KEYS_2_57),
])
def test_keys_per_microversion(app, version, keys) -> None:
    assert set(_absolute(app, version)) == keys


def test_defaults_as_nova(app) -> None:
    absolute = _absolute(app)
    assert absolute == {
        "maxImageMeta": 128, "maxPersonality": 5, "maxPersonalitySize": 10240,
        "maxSecurityGroupRules": -1, "maxSecurityGroups": -1, "maxServerGroupMembers": 10,
        "maxServerGroups": 10, "maxServerMeta": 128, "maxTotalCores": 20,
        "maxTotalFloatingIps": -1, "maxTotalInstances": 10, "maxTotalKeypairs": 100,
        "maxTotalRAMSize": 51200, "totalCoresUsed": 0, "totalFloatingIpsUsed": 0,
        "totalInstancesUsed": 0, "totalRAMUsed": 0, "totalSecurityGroupsUsed": 0,
        "totalServerGroupsUsed": 0}


def test_configured_and_per_project_limits_and_live_usage(app, database) -> None:
    CONF.set_override("cores", 8, group="quota")
    quota.set_limit(get_admin_context(), "demo", "ram", -1)
    _boot(database, "demo", 2, 1024)
    _boot(database, "demo", 4, 4096)
    gone = _boot(database, "demo", 8, 8192)
    database.instance_destroy(get_admin_context(), gone.uuid)
    _boot(database, "elsewhere", 1, 512)
    absolute = _absolute(app, "2.57")
    assert (absolute["maxTotalCores"], absolute["maxTotalRAMSize"],
            absolute["maxTotalInstances"]) == (8, -1, 10)
    assert (absolute["totalInstancesUsed"], absolute["totalCoresUsed"],
            absolute["totalRAMUsed"]) == (2, 6, 5120)


def test_tenant_id_is_for_admins(app, database) -> None:
    _boot(database, "elsewhere", 1, 512)
    absolute = _absolute(app, token="admin:ops", query="?tenant_id=elsewhere")
    assert absolute["totalInstancesUsed"] == 1
    assert _absolute(app, token="admin:ops")["totalInstancesUsed"] == 0
    resp = call(app, "/v2.1/limits?tenant_id=elsewhere", token=MEMBER)
    assert resp.status_int == 403
    assert resp.json["forbidden"]["code"] == 403


def test_unknown_query_parameters_are_refused_from_2_75(app) -> None:
    assert call(app, "/v2.1/limits?reserved=1", version="2.74",
                token=MEMBER).status_int == 200
    resp = call(app, "/v2.1/limits?reserved=1", version="2.75", token=MEMBER)
    assert resp.status_int == 400
    assert "reserved" in resp.json["badRequest"]["message"]


def test_limits_need_a_token(app) -> None:
    assert call(app, "/v2.1/limits", token=None).status_int == 401
