"""[libvirt] options. The live-migration monitor's options apply to every driver (the
fake one simulates libvirt's migration job); the rest configure the libvirt driver."""

from oslo_config import cfg

libvirt_group = cfg.OptGroup("libvirt", title="libvirt driver options")

libvirt_opts = [
    cfg.StrOpt(
        "virt_type",
        default="kvm",
        choices=[("kvm", "Hardware virtualisation (/dev/kvm)"),
                 ("qemu", "Software emulation (TCG): slow, but runs anywhere")],
        help="Domain type of the guests this host runs.",
    ),
    cfg.StrOpt(
        "connection_uri",
        default="",
        help="libvirt URI the compute agent connects to. Empty means qemu:///system.",
    ),
    cfg.StrOpt(
        "instances_path",
        default="$state_path/instances",
        help="Where each instance's directory (disks, kernel, console log) lives; "
        "base images are cached under <instances_path>/_base. Hosts that mount one "
        "shared directory here live-migrate without copying disks.",
    ),
    cfg.StrOpt(
        "cpu_mode",
        choices=[("host-model", "A named model close to the host's CPU"),
                 ("host-passthrough", "The host CPU as is (live migration only between "
                  "identical hosts)"),
                 ("custom", "The model named by cpu_model"),
                 ("none", "No CPU element: the hypervisor's default")],
        help="Guest CPU mode. Unset: host-model for kvm, custom (cpu_model) for qemu.",
    ),
    cfg.StrOpt(
        "cpu_model",
        default="qemu64",
        help="CPU model of guests when cpu_mode is custom.",
    ),
    cfg.StrOpt(
        "disk_cachemode",
        default="auto",
        choices=["auto", "none", "writethrough", "writeback", "directsync", "unsafe"],
        help="Cache mode of instance disks. auto: none (O_DIRECT, safe for live "
        "migration) where instances_path supports it, else writeback.",
    ),
    cfg.StrOpt(
        "kernel_cmdline",
        default="console=ttyS0",
        help="Kernel command line for direct-kernel-boot images that carry no "
        "os_command_line property.",
    ),
    cfg.IntOpt(
        "wait_soft_reboot_seconds",
        default=120,
        min=0,
        help="Seconds a soft reboot waits for the guest to shut down cleanly before it "
        "becomes a hard reboot.",
    ),
    cfg.StrOpt(
        "disk_copy_transport",
        default="auto",
        choices=[("auto", "local when the destination's instances path is visible here "
                  "(shared or on this machine), else rsync"),
                 ("local", "Copy within this machine's filesystem"),
                 ("rsync", "rsync over ssh to the destination's inbound address")],
        help="How a cold migration or resize copies instance disks to the destination.",
    ),
    cfg.StrOpt(
        "live_migration_inbound_addr",
        help="Address other hosts send live-migration traffic (memory, disks) to. "
        "Unset: the address the host name resolves to.",
    ),
    cfg.StrOpt(
        "live_migration_inbound_uri",
        help="libvirt URI a source host's libvirtd uses to reach this host's libvirtd "
        "(peer to peer). Unset: qemu+tcp://<live_migration_inbound_addr>/system.",
    ),
    cfg.IntOpt(
        "live_migration_bandwidth",
        default=0,
        min=0,
        help="Maximum live-migration bandwidth in MiB/s; 0 = unlimited.",
    ),
    cfg.IntOpt(
        "live_migration_downtime",
        default=500,
        min=100,
        help="Maximum pause, in milliseconds, the guest may see when a live migration "
        "switches over; reached in live_migration_downtime_steps increasing steps.",
    ),
    cfg.IntOpt(
        "live_migration_downtime_steps",
        default=10,
        min=1,
        help="Number of steps to reach live_migration_downtime.",
    ),
    cfg.IntOpt(
        "live_migration_downtime_delay",
        default=75,
        min=1,
        help="Seconds, per GiB of guest memory, between two downtime steps.",
    ),
    cfg.BoolOpt(
        "live_migration_permit_post_copy",
        default=False,
        help="Allow post-copy: force-complete (or the completion timeout's "
        "force_complete) switches the guest to the destination at once instead of "
        "pausing it until the copy converges.",
    ),
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
                 ("force_complete", "Pause the guest (or switch to post-copy) so that "
                  "the migration converges")],
        help="What to do when a live migration exceeds its completion timeout.",
    ),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    conf.register_group(libvirt_group)
    conf.register_opts(libvirt_opts, group=libvirt_group)


def list_opts() -> dict:
    return {libvirt_group: libvirt_opts}
