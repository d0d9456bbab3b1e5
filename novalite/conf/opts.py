"""Entry point for oslo-config-generator (see etc/novalite/novalite-config-generator.conf)."""

import collections

from novalite.conf import (
    api,
    base,
    compute,
    conductor,
    database,
    image,
    libvirt,
    quota,
    rpc,
    scheduler,
)


def list_opts() -> list:
    groups: dict = collections.OrderedDict()
    for module in (base, database, api, conductor, compute, scheduler, image, quota, libvirt, rpc):
        for group, opts in module.list_opts().items():
            groups.setdefault(group, []).extend(opts)
    return list(groups.items())
