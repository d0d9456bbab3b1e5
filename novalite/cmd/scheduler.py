"""novalite-scheduler: picks hosts for instances."""

from __future__ import annotations

import sys

from novalite import service
from novalite.cmd import common
from novalite.conf import CONF
from novalite.scheduler import rpcapi
from novalite.scheduler.manager import SchedulerManager

BINARY = "novalite-scheduler"


def make_service(host: str) -> service.Service:
    return common.database_service(host, BINARY, rpcapi.TOPIC, SchedulerManager(host))


def main(argv: list[str] | None = None) -> int:
    return common.run_services(argv, BINARY, lambda: [make_service(CONF.host)])


if __name__ == "__main__":
    sys.exit(main())
