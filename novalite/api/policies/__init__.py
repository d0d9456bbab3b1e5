"""Default policies of the API, one module per resource.

`list_rules` is the `oslo.policy.policies` entry point, so `oslopolicy-sample-generator
--namespace novalite` writes a policy.yaml operators can edit.
"""

from __future__ import annotations

import itertools

from oslo_policy import policy

from novalite.api.policies import (
    aggregates,
    availability_zones,
    base,
    flavors,
    hypervisors,
    images,
    instance_actions,
    limits,
    migrations,
    servers,
    services,
)


def list_rules() -> list[policy.RuleDefault]:
    return list(itertools.chain(
        base.list_rules(),
        services.list_rules(),
        hypervisors.list_rules(),
        aggregates.list_rules(),
        servers.list_rules(),
        instance_actions.list_rules(),
        flavors.list_rules(),
        limits.list_rules(),
        availability_zones.list_rules(),
        images.list_rules(),
        migrations.list_rules(),
    ))
