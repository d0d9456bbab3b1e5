"""Entry point for oslo-config-generator (see etc/novalite/novalite-config-generator.conf)."""

import collections

from novalite.conf import MODULES


def list_opts() -> list:
    groups: dict = collections.OrderedDict()
    for module in MODULES:
        for group, opts in module.list_opts().items():
            groups.setdefault(group, []).extend(opts)
    return list(groups.items())
