"""Assemble the API's WSGI application: one function, the whole stack in order.

Outermost first, and why that order:

1. RequestId     - every response, even a 401 or a 413, carries the request id.
2. BodySizeLimit - oversized bodies are refused before any work, unauthenticated or not.
3. auth          - the caller's identity from the token (version documents need none).
4. Context       - the RequestContext handlers and logs use (needs the identity).
5. FaultWrapper  - every exception below becomes a Nova-shaped error, no traceback.
6. Microversion  - negotiated inside the fault wrapper, so handler errors still echo it.
7. Router        - the one route table; calls the handler.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from oslo_config import cfg

from novalite.api import auth, middleware, router
from novalite.conf import CONF

WSGIApp = Callable[[dict, Callable], Iterable[bytes]]


def build_app(conf: cfg.ConfigOpts = CONF) -> WSGIApp:
    """The API application for `conf` (raises ConfigError for a bad auth setup)."""
    app: WSGIApp = router.Router()
    app = middleware.MicroversionMiddleware(app)
    app = middleware.FaultWrapper(app)
    app = middleware.ContextMiddleware(app)
    app = auth.make_auth(app, conf.api.auth_strategy, conf.api.token_file)
    app = middleware.BodySizeLimit(app, conf)
    app = middleware.RequestId(app)
    return app
