"""Run the API: `application` for uWSGI/gunicorn/mod_wsgi, `serve()` for novalite-api.

Under an external WSGI server nobody parses the command line, so the first request
reads the config files named in NOVALITE_CONFIG_FILES (a comma-separated list) unless
the configuration was already parsed in this process.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterable

from oslo_config import cfg

from novalite.api import deploy
from novalite.conf import CONF

LOG = logging.getLogger(__name__)

CONFIG_FILES_ENV = "NOVALITE_CONFIG_FILES"
PROG = "novalite-api"

_APP: Callable | None = None
_APP_LOCK = threading.Lock()


def _conf_parsed(conf: cfg.ConfigOpts) -> bool:
    try:
        conf.find_file("novalite.conf")
    except cfg.NotInitializedError:
        return False
    return True


def _init_from_environment() -> None:
    """Parse the configuration the way novalite-api does, from the environment."""
    from novalite import rpc
    from novalite.cmd import common

    files = [f.strip() for f in os.environ.get(CONFIG_FILES_ENV, "").split(",") if f.strip()]
    argv: list[str] = []
    for path in files:
        argv += ["--config-file", path]
    common.parse_args(argv, PROG)
    rpc.init(CONF)


def _get_app() -> Callable:
    global _APP
    with _APP_LOCK:
        if _APP is None:
            if not _conf_parsed(CONF):
                _init_from_environment()
            _APP = deploy.build_app(CONF)
        return _APP


def application(environ: dict, start_response: Callable) -> Iterable[bytes]:
    """The WSGI entry point for external servers; builds the app on first use."""
    return _get_app()(environ, start_response)


class APIServer:
    """A waitress server that can be stopped from another thread.

    run() serves until close() is called, then shuts the worker threads down and
    returns; effective_host/effective_port are the bound address (port 0 picks one).
    """

    def __init__(self, app: Callable, host: str, port: int, threads: int,
                 max_body: int) -> None:
        import waitress.server

        self._stopping = threading.Event()
        self._running = False
        # waitress refuses far larger bodies itself (plain text) before buffering
        # them; BodySizeLimit answers the rest in Nova's shape.
        self._server = waitress.server.create_server(
            app, host=host, port=port, threads=threads,
            max_request_body_size=max(max_body * 10, 1 << 20),
            ident="novalite-api", clear_untrusted_proxy_headers=True)

    @property
    def effective_host(self) -> str:
        return self._server.effective_host

    @property
    def effective_port(self) -> int:
        return int(self._server.effective_port)

    def run(self) -> None:
        server = self._server
        self._running = True
        try:
            while not self._stopping.is_set():
                server.asyncore.loop(timeout=server.adj.asyncore_loop_timeout,
                                     map=server._map, use_poll=server.adj.asyncore_use_poll,
                                     count=1)
        finally:
            server.task_dispatcher.shutdown(cancel_pending=True, timeout=5)
            server.asyncore.close_all(server._map)

    def close(self) -> None:
        """Stop serving; run() returns once in-flight requests have finished (5 s max)."""
        self._stopping.set()
        if not self._running:
            self._server.task_dispatcher.shutdown(cancel_pending=True, timeout=5)
            self._server.asyncore.close_all(self._server._map)
            return
        try:
            self._server.pull_trigger()
        except OSError:  # already closed
            pass


def serve(conf: cfg.ConfigOpts = CONF) -> APIServer:
    """Bind the API on [api] listen/port with [api] threads; call run() to serve."""
    server = APIServer(deploy.build_app(conf), conf.api.listen, conf.api.port,
                       conf.api.threads, conf.api.max_request_body_size)
    LOG.info("novalite API bound to %s:%s", server.effective_host, server.effective_port)
    return server
