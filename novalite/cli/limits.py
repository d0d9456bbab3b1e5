"""``novalite limits``: the project's absolute limits and what it uses of them."""

from __future__ import annotations

import argparse

from novalite.cli import common


class ShowLimits(common.Lister):
    """Show the absolute limits (quota) of your project and its usage."""

    def take_action(self, parsed_args: argparse.Namespace) -> tuple:
        limits = self.client.limits.get() or {}
        return ("Name", "Value"), [(name, common.format_value(value))
                                   for name, value in sorted(limits.items())]


COMMANDS = {
    "limits": ShowLimits,
}
