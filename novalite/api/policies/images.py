"""Policies for the read-only image listing (/image/v2/images and Nova's deprecated
/images proxy). Every image in the local store is public, so any authenticated caller
may list and show them (Glance's rule names, under an `image:` prefix)."""

from __future__ import annotations

from oslo_policy import policy

LIST = "image:get_images"
SHOW = "image:get_image"

rules = [
    policy.DocumentedRuleDefault(
        name=LIST, check_str="@",
        description="List the images of the local image store.",
        operations=[{"method": "GET", "path": "/image/v2/images"},
                    {"method": "GET", "path": "/v2.1/images"},
                    {"method": "GET", "path": "/v2.1/images/detail"}],
        scope_types=["project"]),
    policy.DocumentedRuleDefault(
        name=SHOW, check_str="@",
        description="Show one image of the local image store.",
        operations=[{"method": "GET", "path": "/image/v2/images/{image_id}"},
                    {"method": "GET", "path": "/v2.1/images/{image_id}"}],
        scope_types=["project"]),
]


def list_rules() -> list[policy.RuleDefault]:
    return rules
