"""[conductor] options."""

from oslo_config import cfg

conductor_group = cfg.OptGroup("conductor", title="Conductor options")

conductor_opts = [
    cfg.IntOpt(
        "migrate_max_retries",
        default=3,
        min=0,
        help="Destinations a live migration tries after the first one fails its checks.",
    ),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    conf.register_group(conductor_group)
    conf.register_opts(conductor_opts, group=conductor_group)


def list_opts() -> dict:
    return {conductor_group: conductor_opts}
