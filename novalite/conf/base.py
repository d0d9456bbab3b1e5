"""[DEFAULT] options shared by every novalite service."""

import os
import socket

from oslo_config import cfg

DEFAULT_STATE_PATH = os.path.join(os.path.expanduser("~"), ".local", "share", "novalite")

default_opts = [
    cfg.StrOpt(
        "host",
        default=socket.gethostname(),
        sample_default="<current hostname>",
        help="Name of this node. A compute agent uses it as its RPC server name and "
        "as the host of the instances it runs, so it must be unique per compute node.",
    ),
    cfg.StrOpt(
        "my_ip",
        sample_default="<the address the host name resolves to>",
        help="This node's address on the management network: reported as a compute "
        "host's host_ip and the default live-migration address. Unset: the address "
        "`host` resolves to (127.0.0.1 if it does not resolve).",
    ),
    cfg.StrOpt(
        "state_path",
        default=DEFAULT_STATE_PATH,
        sample_default="~/.local/share/novalite",
        help="Directory for novalite's local state (the embedded SQLite database).",
    ),
    cfg.StrOpt(
        "compute_driver",
        default="fake",
        choices=[
            ("fake", "In-memory guests, for tests and demos"),
            ("libvirt", "libvirt + QEMU/KVM"),
        ],
        help="Virt driver a compute agent uses.",
    ),
    cfg.IntOpt(
        "report_interval",
        default=10,
        min=1,
        help="Seconds between service heartbeats (also the compute node resource report).",
    ),
    cfg.IntOpt(
        "service_down_time",
        default=60,
        min=1,
        help="A service whose last heartbeat is older than this many seconds is down. "
        "Keep it well above report_interval.",
    ),
    cfg.IntOpt(
        "rpc_response_timeout_short",
        default=30,
        min=1,
        help="Timeout in seconds for short RPC calls (heartbeats, state updates).",
    ),
    cfg.StrOpt(
        "default_availability_zone",
        default="nova",
        help="Availability zone of compute hosts that do not name one in "
        "[compute] availability_zone, and of servers created without one.",
    ),
    cfg.BoolOpt(
        "allow_resize_to_same_host",
        default=False,
        help="Let a resize (not a cold migration) pick the server's current host.",
    ),
    cfg.StrOpt(
        "concurrency_backend",
        default="threading",
        choices=[
            ("threading", "Native threads (default)"),
            ("eventlet", "Green threads; not implemented yet"),
        ],
        help="How novalite runs concurrent work. Only native threads are implemented; "
        "the option exists so that an eventlet backend stays a contained change.",
    ),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    conf.register_opts(default_opts)


def list_opts() -> dict:
    return {"DEFAULT": default_opts}
