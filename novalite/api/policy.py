"""Policy enforcement through oslo.policy, so operators override rules in policy.yaml.

The defaults live in novalite.api.policies; no policy file needs to exist. When the
global configuration has not been parsed (unit tests, library use), there is no
configuration directory to find a policy file in, so only the defaults apply.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from oslo_config import cfg
from oslo_policy import policy

from novalite import exception
from novalite.api import policies
from novalite.conf import CONF
from novalite.context import RequestContext

_ENFORCER: policy.Enforcer | None = None
_LOCK = threading.Lock()

# How often, at most, the policy files are looked at again for an operator's edits.
RELOAD_INTERVAL = 1.0


class _Enforcer(policy.Enforcer):
    """oslo.policy's Enforcer, looking at its policy files at most every RELOAD_INTERVAL
    seconds instead of on every check.

    Enforcer.enforce calls load_rules on each check, which searches the configuration
    directories for the policy file, stats every policy directory and walks every
    registered default: most of a check's cost, several times per request. Edits to
    policy.yaml (or policy.d) still take effect, within RELOAD_INTERVAL.
    """

    _next_load = 0.0

    def load_rules(self, force_reload: bool = False) -> None:
        now = time.monotonic()
        if force_reload or now >= self._next_load:
            super().load_rules(force_reload)
            # Only once loading worked: a broken file is retried on the next check.
            self._next_load = now + RELOAD_INTERVAL


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
            enforcer = _Enforcer(conf)
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
    if target is None:
        target = {"project_id": ctx.project_id, "user_id": ctx.user_id}
    # No do_raise: a refusal here is an answer, not worth building a Forbidden for.
    return bool(get_enforcer().authorize(rule_name, target, ctx))
