"""A scriptable stand-in for the compute API: a real HTTP server on 127.0.0.1.

Tests script answers per (method, path) and read back what the client sent, so the
client's wire behaviour (headers, bodies, query strings, retries) is checked over real
sockets without the API stack.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import threading
import urllib.parse
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from novalite.client import Client


@dataclasses.dataclass
class Recorded:
    """One request as the stub saw it."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any

    @property
    def version(self) -> str | None:
        """The compute microversion asked for ("2.X"), if any."""
        value = self.headers.get("openstack-api-version")
        return value.split()[-1] if value else None

    def param(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else None


Reply = tuple  # (status, body) or (status, body, headers)
Handler = Callable[[Recorded], Reply]


def fault(status: int, message: str, name: str = "badRequest") -> dict[str, Any]:
    """A Nova error body."""
    return {name: {"code": status, "message": message}}


class Stub:
    """Routes and the requests received; see reply() and route()."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.min_version = "2.1"
        self.max_version = "2.90"
        self._routes: dict[tuple[str, str], list[Reply] | Handler] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self.url = ""

    # -- scripting ----------------------------------------------------------------------

    def reply(self, method: str, path: str, status: int = 200, body: Any = None,
              headers: dict[str, str] | None = None) -> None:
        """Queue an answer for METHOD /v2.1<path>; the last one queued repeats."""
        key = (method, self._full(path))
        queue = self._routes.get(key)
        if not isinstance(queue, list):
            queue = self._routes[key] = []
        queue.append((status, body, headers or {}))

    def route(self, method: str, path: str, handler: Handler) -> None:
        """Answer METHOD /v2.1<path> with handler(request) -> (status, body[, headers])."""
        self._routes[(method, self._full(path))] = handler

    @staticmethod
    def _full(path: str) -> str:
        return path if path.startswith("/v2.1") or path == "/" else f"/v2.1{path}"

    def api_requests(self) -> list[Recorded]:
        """Requests other than the version document's."""
        return [r for r in self.requests if r.path not in ("/v2.1", "/")]

    def last(self) -> Recorded:
        return self.api_requests()[-1]

    # -- serving ------------------------------------------------------------------------

    def _version_doc(self, _req: Recorded) -> Reply:
        return 200, {"version": {"id": "v2.1", "status": "CURRENT",
                                 "version": self.max_version,
                                 "min_version": self.min_version,
                                 "links": [{"rel": "self", "href": f"{self.url}/v2.1/"}]}}

    def handle(self, req: Recorded) -> tuple[int, Any, dict[str, str]]:
        """The scripted answer to a request, with a request id header."""
        with self._lock:
            self.requests.append(req)
            request_id = f"req-stub-{next(self._ids)}"
            route = self._routes.get((req.method, req.path))
            if route is None and req.method == "GET" and req.path == "/v2.1":
                route = self._version_doc
            if isinstance(route, list):
                reply: Reply = route.pop(0) if len(route) > 1 else route[0]
        if route is None:
            reply = (404, fault(404, f"stub: no route for {req.method} {req.path}",
                                "itemNotFound"))
        elif not isinstance(route, list):
            reply = route(req)
        status, body, *rest = reply
        headers = {"x-openstack-request-id": request_id, **(rest[0] if rest else {})}
        return status, body, headers


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes: without this, Nagle and delayed ACKs
    # add 40 ms to every request.
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        """Quiet: pytest shows failures, not access logs."""

    def _serve(self) -> None:
        parts = urllib.parse.urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        req = Recorded(method=self.command, path=parts.path,
                       query=urllib.parse.parse_qs(parts.query, keep_blank_values=True),
                       headers={k.lower(): v for k, v in self.headers.items()}, body=body)
        status, out, headers = self.server.stub.handle(req)
        if out is None or status == 204:
            data = b""
        elif isinstance(out, bytes | str):
            data = out.encode() if isinstance(out, str) else out
            headers.setdefault("Content-Type", "text/plain")
        else:
            data = json.dumps(out).encode()
            headers.setdefault("Content-Type", "application/json")
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = _serve


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    stub: Stub


@pytest.fixture
def stub() -> Iterator[Stub]:
    """The stub API, serving on a free port for the test's duration."""
    server = _Server(("127.0.0.1", 0), _Handler)
    server.stub = Stub()
    server.stub.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01},
                              daemon=True)
    thread.start()
    yield server.stub
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No configuration leaks in from the developer's environment or files: HOME and
    the working directory are empty temporary directories."""
    for name in ("NOVALITE_URL", "NOVALITE_TOKEN", "OS_CLOUD", "OS_CLIENT_CONFIG_FILE"):
        monkeypatch.delenv(name, raising=False)
    home = tmp_path / "home"
    cwd = tmp_path / "cwd"
    home.mkdir()
    cwd.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(cwd)
    return tmp_path


def make_client(stub: Stub, **kwargs: Any) -> Client:
    """A client of the stub with retries that do not slow the suite down."""
    kwargs.setdefault("token", "tok")
    client = Client(stub.url, **kwargs)
    client.backoff = 0.001
    return client


@pytest.fixture
def client(stub: Stub) -> Iterator[Client]:
    """A client at the stub's latest version (2.90)."""
    with make_client(stub) as c:
        yield c


def server_body(server_id: str, name: str = "vm", status: str = "ACTIVE",
                task_state: str | None = None, **extra: Any) -> dict[str, Any]:
    """A server as GET /servers/{id} shows it (the fields the client reads)."""
    body = {"id": server_id, "name": name, "status": status,
            "OS-EXT-STS:task_state": task_state, "OS-EXT-STS:vm_state": status.lower(),
            "OS-EXT-STS:power_state": 1, "OS-EXT-SRV-ATTR:host": "c1",
            "OS-EXT-SRV-ATTR:hypervisor_hostname": "c1",
            "OS-EXT-SRV-ATTR:instance_name": "instance-00000001",
            "OS-EXT-AZ:availability_zone": "nova"}
    body.update(extra)
    return body
