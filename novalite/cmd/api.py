"""novalite-api: the REST API (OpenStack Compute v2.1 compatible) under waitress."""

from __future__ import annotations

import logging
import sys
import threading

from novalite import rpc, service
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


def add_api(launcher: service.Launcher, host: str) -> APIServer:
    server = APIServer()
    launcher.add(server)
    launcher.add(
        service.Service(host, BINARY, None, None, service.DatabaseHeartbeat(host, BINARY, None))
    )
    return server


def main(argv: list[str] | None = None) -> int:
    common.parse_args(argv, BINARY)
    rpc.init(CONF)
    launcher = service.Launcher()
    add_api(launcher, CONF.host)
    return launcher.run()


if __name__ == "__main__":
    sys.exit(main())
