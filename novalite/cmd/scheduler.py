"""novalite-scheduler: picks hosts for instances."""

from __future__ import annotations

import sys

from novalite import rpc, service
from novalite.cmd import common
from novalite.conf import CONF
from novalite.scheduler import rpcapi
from novalite.scheduler.manager import SchedulerManager

BINARY = "novalite-scheduler"


def make_service(host: str) -> service.Service:
    return service.Service(
        host,
        BINARY,
        rpcapi.TOPIC,
        SchedulerManager(host),
        service.DatabaseHeartbeat(host, BINARY, rpcapi.TOPIC),
    )


def main(argv: list[str] | None = None) -> int:
    common.parse_args(argv, BINARY)
    rpc.init(CONF)
    launcher = service.Launcher()
    launcher.add(make_service(CONF.host))
    return launcher.run()


if __name__ == "__main__":
    sys.exit(main())
