"""novalite-conductor: drives the flows and persists what compute agents report."""

from __future__ import annotations

import sys

from novalite import service
from novalite.cmd import common
from novalite.conductor import rpcapi
from novalite.conductor.manager import ConductorManager
from novalite.conf import CONF

BINARY = "novalite-conductor"


def make_service(host: str) -> service.Service:
    return common.database_service(host, BINARY, rpcapi.TOPIC, ConductorManager(host))


def main(argv: list[str] | None = None) -> int:
    return common.run_services(argv, BINARY, lambda: [make_service(CONF.host)])


if __name__ == "__main__":
    sys.exit(main())
