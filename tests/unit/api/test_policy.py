"""Policy defaults and operator overrides through oslo.policy."""

from __future__ import annotations

import pytest
from oslo_config import cfg
from oslo_policy import opts as policy_opts
from oslo_policy import policy as oslo_policy

from novalite import exception
from novalite.api import policies, policy
from novalite.context import RequestContext

ADMIN = RequestContext(user_id="root", project_id="ops", roles=["admin"])
MEMBER = RequestContext(user_id="bob", project_id="demo", roles=["member", "reader"])
READER = RequestContext(user_id="eve", project_id="demo", roles=["reader"])


def test_list_rules_is_the_entry_point_and_documents_every_api_rule() -> None:
    rules = policies.list_rules()
    names = [rule.name for rule in rules]
    assert len(names) == len(set(names))
    for name in ("os_compute_api:os-services:list", "os_compute_api:os-services:update",
                 "os_compute_api:os-services:delete", "os_compute_api:os-hypervisors:list",
                 "os_compute_api:os-hypervisors:list-detail",
                 "os_compute_api:os-hypervisors:show"):
        assert name in names
    for rule in rules:
        if rule.name.startswith("os_compute_api:"):
            assert isinstance(rule, oslo_policy.DocumentedRuleDefault)


@pytest.mark.parametrize("rule", [
    "os_compute_api:os-services:list", "os_compute_api:os-services:update",
    "os_compute_api:os-hypervisors:list", "os_compute_api:os-hypervisors:show",
])
def test_services_and_hypervisors_are_admin_only(rule: str) -> None:
    assert policy.authorize(ADMIN, rule) is True
    with pytest.raises(exception.Forbidden) as raised:
        policy.authorize(MEMBER, rule)
    assert raised.value.code == 403 and rule in raised.value.format_message()
    assert policy.check(READER, rule) is False


def test_project_personas_are_scoped_to_the_target_project() -> None:
    own = {"project_id": "demo"}
    other = {"project_id": "elsewhere"}
    assert policy.check(MEMBER, "project_member_or_admin", own)
    assert not policy.check(MEMBER, "project_member_or_admin", other)
    assert policy.check(READER, "project_reader_or_admin", own)
    assert not policy.check(READER, "project_member_or_admin", own)
    assert policy.check(ADMIN, "project_member_or_admin", other)


def test_an_operator_policy_file_overrides_a_default(tmp_path) -> None:
    policy_file = tmp_path / "policy.yaml"
    policy_file.write_text('"os_compute_api:os-services:list": "role:reader"\n')
    conf = cfg.ConfigOpts()
    conf([], default_config_files=[])
    policy_opts.set_defaults(conf, policy_file=str(policy_file))
    policy.reset()
    policy.get_enforcer(conf)
    assert policy.check(READER, "os_compute_api:os-services:list")
    assert not policy.check(READER, "os_compute_api:os-services:update")


def test_no_policy_file_is_needed_with_a_parsed_configuration(tmp_path) -> None:
    conf = cfg.ConfigOpts()
    conf([], default_config_files=[])
    policy_opts.set_defaults(conf, policy_file=str(tmp_path / "absent.yaml"))
    policy.reset()
    policy.get_enforcer(conf)
    assert policy.check(ADMIN, "os_compute_api:os-services:list")
    assert not policy.check(MEMBER, "os_compute_api:os-services:list")
