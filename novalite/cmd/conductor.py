"""novalite-conductor: drives the flows and persists what compute agents report."""

from __future__ import annotations

import sys

from novalite import rpc, service
from novalite.cmd import common
from novalite.conductor import rpcapi
from novalite.conductor.manager import ConductorManager
from novalite.conf import CONF

BINARY = "novalite-conductor"


def make_service(host: str) -> service.Service:
    return service.Service(
        host,
        BINARY,
        rpcapi.TOPIC,
        ConductorManager(host),
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
