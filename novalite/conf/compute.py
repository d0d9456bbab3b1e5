"""[compute] and [fake_driver] options for compute agents."""

from oslo_config import cfg

compute_group = cfg.OptGroup("compute", title="Compute agent options")
fake_driver_group = cfg.OptGroup("fake_driver", title="Fake virt driver options")

compute_opts = [
    cfg.StrOpt(
        "availability_zone",
        help="Availability zone of this compute host; unset means "
        "[DEFAULT] default_availability_zone.",
    ),
    cfg.IntOpt(
        "fake_hosts",
        default=1,
        min=1,
        help="Number of fake compute hosts this process runs (fake driver only). With more "
        "than one, host names are <host>-1 .. <host>-N; each has its own RPC server, "
        "heartbeat and compute node.",
    ),
    cfg.IntOpt(
        "update_resources_interval",
        default=60,
        min=1,
        help="Seconds between reports of the hypervisor's resources to the conductor.",
    ),
    cfg.IntOpt(
        "max_concurrent_live_migrations",
        default=1,
        min=1,
        help="Live migrations this host sends at once; more wait in [queued].",
    ),
    cfg.IntOpt(
        "resize_confirm_window",
        default=0,
        min=0,
        help="Confirm a resize or cold migration on its own once it has waited this many "
        "seconds in VERIFY_RESIZE (checked by the destination host); 0 = never.",
    ),
    cfg.IntOpt(
        "sync_power_state_interval",
        default=60,
        min=1,
        help="Seconds between comparisons of each guest's power state with the database.",
    ),
    cfg.FloatOpt(
        "cpu_allocation_ratio", default=4.0, min=0.0, help="Virtual CPUs per physical CPU."
    ),
    cfg.FloatOpt(
        "ram_allocation_ratio", default=1.0, min=0.0, help="Virtual RAM per physical RAM."
    ),
    cfg.FloatOpt(
        "disk_allocation_ratio", default=1.0, min=0.0, help="Virtual disk per physical disk."
    ),
    cfg.IntOpt("reserved_host_memory_mb", default=512, min=0, help="Memory kept for the host."),
    cfg.IntOpt("reserved_host_disk_mb", default=0, min=0, help="Disk kept for the host."),
    cfg.IntOpt("reserved_host_cpus", default=0, min=0, help="CPUs kept for the host."),
]

fake_driver_opts = [
    cfg.IntOpt("vcpus", default=16, min=1, help="CPUs each fake host reports."),
    cfg.IntOpt("memory_mb", default=32768, min=1, help="Memory each fake host reports, in MiB."),
    cfg.IntOpt("local_gb", default=500, min=1, help="Disk each fake host reports, in GiB."),
    cfg.StrOpt("hypervisor_type", default="fake", help="Hypervisor type the fake host reports."),
    cfg.IntOpt(
        "hypervisor_version", default=1000, help="Hypervisor version the fake host reports."
    ),
    cfg.DictOpt(
        "delays",
        default={},
        help="Seconds each fake operation takes, e.g. spawn:0.5,power_off:1 "
        "(operations: spawn, destroy, power_on, power_off, reboot, prep_resize, "
        "migrate_disk_and_power_off, finish_migration, confirm_migration, "
        "revert_migration_at_destination, finish_revert_migration).",
    ),
    cfg.FloatOpt(
        "live_migration_seconds",
        default=0.0,
        min=0.0,
        help="How long a fake live migration takes to copy the guest's memory.",
    ),
    cfg.BoolOpt(
        "live_migration_converges",
        default=True,
        help="False: the guest dirties memory faster than it is copied, so a live "
        "migration only ends when forced to complete, aborted, or timed out.",
    ),
    cfg.ListOpt(
        "fail_operations",
        default=[],
        help="Fake operations that fail on this host, to exercise rollbacks "
        "(e.g. spawn makes every build here fail and reschedule).",
    ),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    conf.register_group(compute_group)
    conf.register_opts(compute_opts, group=compute_group)
    conf.register_group(fake_driver_group)
    conf.register_opts(fake_driver_opts, group=fake_driver_group)


def list_opts() -> dict:
    return {compute_group: compute_opts, fake_driver_group: fake_driver_opts}
