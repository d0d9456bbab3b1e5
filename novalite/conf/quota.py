"""[quota] options: default per-project limits."""

from oslo_config import cfg

quota_group = cfg.OptGroup("quota", title="Quota options")

quota_opts = [
    cfg.IntOpt("instances", default=10, min=-1, help="Instances per project (-1: unlimited)."),
    cfg.IntOpt("cores", default=20, min=-1, help="vCPUs per project (-1: unlimited)."),
    cfg.IntOpt("ram", default=51200, min=-1, help="RAM in MiB per project (-1: unlimited)."),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    conf.register_group(quota_group)
    conf.register_opts(quota_opts, group=quota_group)


def list_opts() -> dict:
    return {quota_group: quota_opts}
