"""Serving the app: waitress on an ephemeral port, stoppable; the lazy WSGI entry point."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request

from novalite.api import wsgi
from novalite.conf import CONF


def test_serve_binds_port_0_answers_and_stops() -> None:
    CONF.set_override("auth_strategy", "noauth", group="api")
    CONF.set_override("listen", "127.0.0.1", group="api")
    CONF.set_override("port", 0, group="api")
    try:
        server = wsgi.serve(CONF)
        assert server.effective_port > 0
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        base = f"http://127.0.0.1:{server.effective_port}"
        with urllib.request.urlopen(f"{base}/v2.1/", timeout=5) as resp:
            assert json.load(resp)["version"]["id"] == "v2.1"
            assert resp.headers["x-openstack-request-id"].startswith("req-")
        try:
            urllib.request.urlopen(f"{base}/v2.1/os-services", timeout=5)
        except urllib.error.HTTPError as err:
            assert err.code == 401
            assert json.load(err)["unauthorized"]["code"] == 401
        server.close()
        thread.join(10)
        assert not thread.is_alive()
    finally:
        for name in ("listen", "port"):
            CONF.clear_override(name, group="api")


def test_close_before_run_releases_the_socket() -> None:
    CONF.set_override("auth_strategy", "noauth", group="api")
    CONF.set_override("listen", "127.0.0.1", group="api")
    CONF.set_override("port", 0, group="api")
    try:
        server = wsgi.serve(CONF)
        server.close()
    finally:
        for name in ("listen", "port"):
            CONF.clear_override(name, group="api")


def test_module_application_is_built_lazily(monkeypatch) -> None:
    CONF.set_override("auth_strategy", "noauth", group="api")
    monkeypatch.setattr(wsgi, "_APP", None)
    # Configuration already parsed (or, here, overridden) means no re-parsing.
    monkeypatch.setattr(wsgi, "_conf_parsed", lambda conf: True)
    statuses = []
    body = wsgi.application({"REQUEST_METHOD": "GET", "PATH_INFO": "/", "SERVER_NAME": "x",
                             "SERVER_PORT": "80", "wsgi.url_scheme": "http",
                             "wsgi.input": None},
                            lambda status, headers, exc_info=None: statuses.append(status))
    assert statuses == ["200 OK"]
    assert json.loads(b"".join(body))["versions"][0]["id"] == "v2.1"
    assert wsgi._APP is not None
