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
               help="Pick randomly among the best N hosts, to spread concurrent requests."),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    conf.register_group(scheduler_group)
    conf.register_opts(scheduler_opts, group=scheduler_group)
    conf.register_group(filter_scheduler_group)
    conf.register_opts(filter_scheduler_opts, group=filter_scheduler_group)


def list_opts() -> dict:
    return {scheduler_group: scheduler_opts, filter_scheduler_group: filter_scheduler_opts}
