"""[upgrade_levels] options: RPC version caps for rolling upgrades.

transport_url and the [oslo_messaging_rabbit] options are oslo.messaging's own and
are registered by it (see novalite.rpc).
"""

from oslo_config import cfg

upgrade_group = cfg.OptGroup(
    "upgrade_levels",
    title="RPC version caps",
    help="Cap the RPC version a service sends to each peer while a rolling upgrade is "
    "in progress. Unset means the newest version this code knows.",
)

upgrade_opts = [
    cfg.StrOpt("conductor", help="Highest conductor RPC API version to send."),
    cfg.StrOpt("scheduler", help="Highest scheduler RPC API version to send."),
    cfg.StrOpt("compute", help="Highest compute RPC API version to send."),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    conf.register_group(upgrade_group)
    conf.register_opts(upgrade_opts, group=upgrade_group)


def list_opts() -> dict:
    return {upgrade_group: upgrade_opts}
