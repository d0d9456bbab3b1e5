"""novalite-compute: the agent of one compute host (or of N fake hosts, for scale tests).

It needs only RabbitMQ: it has no database credentials and never opens the database.
"""

from __future__ import annotations

import logging
import sys

from novalite import rpc, service
from novalite.cmd import common
from novalite.compute import manager as compute_manager
from novalite.compute import rpcapi
from novalite.conf import CONF

LOG = logging.getLogger(__name__)

BINARY = compute_manager.BINARY


def host_names() -> list[str]:
    """[DEFAULT] host, or <host>-1..<host>-N when one process runs N fake hosts."""
    count = CONF.compute.fake_hosts
    if count > 1 and CONF.compute_driver != "fake":
        raise SystemExit("[compute] fake_hosts > 1 needs compute_driver = fake")
    if count == 1:
        return [CONF.host]
    return [f"{CONF.host}-{i}" for i in range(1, count + 1)]


def make_service(host: str) -> service.Service:
    manager = compute_manager.ComputeManager(host)
    return service.Service(host, BINARY, rpcapi.TOPIC, manager, manager.heartbeat)


def main(argv: list[str] | None = None) -> int:
    common.parse_args(argv, BINARY)
    rpc.init(CONF)
    launcher = service.Launcher()
    launcher.install_signal_handlers()
    if not compute_manager.wait_for_conductor(launcher.stop_requested):
        rpc.cleanup()
        return 0
    for host in host_names():
        launcher.add(make_service(host))
    return launcher.run()


if __name__ == "__main__":
    sys.exit(main())
