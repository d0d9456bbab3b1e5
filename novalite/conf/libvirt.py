"""[libvirt] options. The live-migration monitor's options apply to every driver (the
fake one simulates libvirt's migration job); the libvirt driver adds its own here."""

from oslo_config import cfg

libvirt_group = cfg.OptGroup("libvirt", title="libvirt driver options")

libvirt_opts = [
    cfg.IntOpt(
        "live_migration_completion_timeout",
        default=800,
        min=0,
        help="Seconds, per GiB of guest memory (and of disk for a block migration), that "
        "a live migration may run before live_migration_timeout_action is applied; "
        "0 = no limit. At least 2 seconds in all.",
    ),
    cfg.StrOpt(
        "live_migration_timeout_action",
        default="abort",
        choices=[("abort", "Cancel the migration; the guest stays on the source"),
                 ("force_complete", "Pause the guest so that the migration converges")],
        help="What to do when a live migration exceeds its completion timeout.",
    ),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    conf.register_group(libvirt_group)
    conf.register_opts(libvirt_opts, group=libvirt_group)


def list_opts() -> dict:
    return {libvirt_group: libvirt_opts}
