"""[scheduler] and [filter_scheduler] options."""

from oslo_config import cfg

scheduler_group = cfg.OptGroup("scheduler", title="Scheduler options")
filter_scheduler_group = cfg.OptGroup("filter_scheduler", title="Filter scheduler options")

scheduler_opts = [
    cfg.IntOpt(
        "max_attempts",
        default=3,
        min=1,
        help="Hosts a build may try: the chosen host plus up to max_attempts - 1 "
        "alternates, each tried after the previous one failed to spawn.",
    ),
    cfg.IntOpt(
        "host_state_resync_interval",
        default=60,
        min=0,
        help="Seconds between full reads of the compute nodes, compute services and "
        "allocations the scheduler keeps in memory. In between, each request reads only "
        "the rows changed since the previous one (by updated_at, with a margin for late "
        "commits and small clock differences between controllers: 0.2 s on every "
        "request, 2 s once a second) and counts the rows, so a "
        "disabled or forced-down service, a new or deleted node, an inventory change or "
        "a claim is seen on the next request. The full read bounds how long a change "
        "the incremental read cannot see (a writer whose clock is far behind the "
        "scheduler's, a row edited by hand without updated_at) goes unnoticed. 0 reads "
        "everything on every request (slow with thousands of hosts).",
    ),
]

filter_scheduler_opts = [
    cfg.ListOpt(
        "enabled_filters",
        default=[
            "ComputeFilter",
            "AvailabilityZoneFilter",
            "ResourceFilter",
            "SameHostFilter",
            "DifferentHostFilter",
        ],
        help="Filters the scheduler applies, in order.",
    ),
    cfg.FloatOpt("ram_weight_multiplier", default=1.0, help="Prefer hosts with free RAM (>0) "
                 "or stack on full ones (<0)."),
    cfg.FloatOpt("cpu_weight_multiplier", default=1.0, help="Prefer hosts with free vCPUs."),
    cfg.FloatOpt("disk_weight_multiplier", default=1.0, help="Prefer hosts with free disk."),
    cfg.FloatOpt("num_instances_weight_multiplier", default=0.0,
                 help="Prefer hosts with fewer instances (>0) or more (<0)."),
    cfg.IntOpt("host_subset_size", default=1, min=1,
               help="Pick randomly among the best N hosts, to spread concurrent requests. "
               "Within one scheduler process concurrent requests already see each other's "
               "claims while they are being made, so they rarely collide and 1 keeps the "
               "choice deterministic (the best host first). Raise it (e.g. to 10) when "
               "several scheduler processes serve the same hosts: they cannot see each "
               "other's claims in progress and would race for the same best host."),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    conf.register_group(scheduler_group)
    conf.register_opts(scheduler_opts, group=scheduler_group)
    conf.register_group(filter_scheduler_group)
    conf.register_opts(filter_scheduler_opts, group=filter_scheduler_group)


def list_opts() -> dict:
    return {scheduler_group: scheduler_opts, filter_scheduler_group: filter_scheduler_opts}
