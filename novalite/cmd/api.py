"""novalite-api: the REST API (OpenStack Compute v2.1 compatible) under waitress."""

from __future__ import annotations

import logging
import sys
import threading

from novalite import service
from novalite.cmd import common
from novalite.conf import CONF
from novalite.utils import concurrency

LOG = logging.getLogger(__name__)

BINARY = "novalite-api"


class APIServer:
    """The WSGI server as a Runnable: start serving, stop listening, wait for the thread."""

    def __init__(self) -> None:
        self._server = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self._server.effective_port

    def start(self) -> None:
        from novalite.api import wsgi

        self._server = wsgi.serve(CONF)
        LOG.info("API listening on %s:%s", CONF.api.listen, self.port)
        self._thread = concurrency.spawn(self._server.run, name="api-server")

    def stop(self) -> None:
        if self._server is not None:
            self._server.close()

    def wait(self) -> None:
        if self._thread is not None:
            self._thread.join(30)


def make_services(host: str) -> tuple[APIServer, service.Service]:
    """The HTTP server, and the heartbeat that lists this API in os-services."""
    heartbeat = service.Service(host, BINARY, None, None,
                                service.DatabaseHeartbeat(host, BINARY, None))
    return APIServer(), heartbeat


def main(argv: list[str] | None = None) -> int:
    return common.run_services(argv, BINARY, lambda: list(make_services(CONF.host)))


if __name__ == "__main__":
    sys.exit(main())
