"""Policy enforcement through oslo.policy, so operators override rules in policy.yaml.

The defaults live in novalite.api.policies; no policy file needs to exist. When the
global configuration has not been parsed (unit tests, library use), there is no
configuration directory to find a policy file in, so only the defaults apply.
"""

from __future__ import annotations

import threading
from typing import Any

from oslo_config import cfg
from oslo_policy import policy

from novalite import exception
from novalite.api import policies
from novalite.conf import CONF
from novalite.context import RequestContext

_ENFORCER: policy.Enforcer | None = None
_LOCK = threading.Lock()


def _conf_parsed(conf: cfg.ConfigOpts) -> bool:
    try:
        conf.find_file("policy.yaml")
    except cfg.NotInitializedError:
        return False
    return True


def get_enforcer(conf: cfg.ConfigOpts = CONF) -> policy.Enforcer:
    """The process-wide Enforcer, created on first use with every default registered."""
    global _ENFORCER
    with _LOCK:
        if _ENFORCER is None:
            defaults = policies.list_rules()
            enforcer = policy.Enforcer(conf)
            enforcer.register_defaults(defaults)
            if not _conf_parsed(conf):
                # No configuration, so no policy file to look for: the defaults only.
                enforcer.set_rules(policy.Rules({rule.name: rule.check for rule in defaults}),
                                   overwrite=True, use_conf=False)
            _ENFORCER = enforcer
        return _ENFORCER


def reset() -> None:
    """Forget the Enforcer (tests; a changed configuration)."""
    global _ENFORCER
    with _LOCK:
        if _ENFORCER is not None:
            _ENFORCER.clear()
        _ENFORCER = None


def authorize(ctx: RequestContext, rule_name: str,
              target: dict[str, Any] | None = None) -> bool:
    """Check `rule_name` for the caller; raises exception.Forbidden (403) if refused.

    The default target is the caller's own project, which is what the project-scoped
    personas compare against; pass the resource's project for owned resources.
    """
    if target is None:
        target = {"project_id": ctx.project_id, "user_id": ctx.user_id}
    return get_enforcer().authorize(rule_name, target, ctx, do_raise=True,
                                    exc=exception.Forbidden, action=rule_name)


def check(ctx: RequestContext, rule_name: str,
          target: dict[str, Any] | None = None) -> bool:
    """Like authorize() but answers True/False (for optional fields such as host)."""
    try:
        return authorize(ctx, rule_name, target)
    except exception.Forbidden:
        return False
