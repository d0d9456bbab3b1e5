"""What every novalite command does first: options, config files, logging, RPC."""

from __future__ import annotations

import sys
from collections.abc import Callable

from oslo_config import cfg
from oslo_log import log as logging

from novalite import rpc, service
from novalite.conf import CONF
from novalite.manager import Manager


def parse_args(
    argv: list[str] | None, prog: str, defaults: dict[str, object] | None = None
) -> cfg.ConfigOpts:
    """Parse --config-file (repeatable), --config-dir and the rest; set up logging.

    `defaults` are [DEFAULT]-group defaults a command wants (novalite-all's in-process
    transport); config files still override them.
    """
    logging.register_options(CONF)
    rpc.register_opts(CONF)
    for name, value in (defaults or {}).items():
        CONF.set_default(name, value)
    CONF(sys.argv[1:] if argv is None else argv, project="novalite", prog=prog)
    logging.setup(CONF, "novalite")
    return CONF


def database_service(host: str, binary: str, topic: str, manager: Manager) -> service.Service:
    """A controller service: it has database access, so it heartbeats directly."""
    return service.Service(host, binary, topic, manager,
                           service.DatabaseHeartbeat(host, binary, topic))


def run_services(argv: list[str] | None, binary: str,
                 make_services: Callable[[], list[service.Runnable]]) -> int:
    """The whole life of a service process: parse, connect, serve until SIGTERM."""
    parse_args(argv, binary)
    rpc.init(CONF)
    launcher = service.Launcher()
    for svc in make_services():
        launcher.add(svc)
    return launcher.run()
