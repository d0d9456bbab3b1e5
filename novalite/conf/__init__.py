"""All of novalite's configuration options, registered on the global cfg.CONF.

Each group lives in its own module; importing this package registers them all.
oslo.messaging's options are registered on cfg.CONF too (see novalite.rpc), which is
why novalite uses the global object rather than a private ConfigOpts.
"""

from oslo_config import cfg

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

CONF = cfg.CONF

# Every option module, in the order the sample config lists their groups.
MODULES = (base, database, api, conductor, compute, scheduler, image, quota, libvirt, rpc)

for _module in MODULES:
    _module.register_opts(CONF)
