"""novalite-all: every service in one process — the embedded default for a quick look.

API, conductor, scheduler and N fake compute hosts share one process, an in-process
transport (fake://) and the embedded SQLite database, unless the config files say
otherwise. `--demo` runs against a throwaway state directory, shows the control plane
at work through the REST API, and exits.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import tempfile
import time
import urllib.request

from oslo_config import cfg

from novalite import rpc, service
from novalite.cmd import api as api_cmd
from novalite.cmd import common, compute, conductor, scheduler
from novalite.conf import CONF

LOG = logging.getLogger(__name__)

cli_opts = [
    cfg.BoolOpt(
        "demo",
        default=False,
        help="Start everything in a throwaway state directory, show the control "
        "plane at work through the REST API, then exit.",
    ),
]


def build(launcher: service.Launcher) -> api_cmd.APIServer:
    """Add every service of the control plane to the launcher, in start order."""
    launcher.add(conductor.make_service(CONF.host))
    launcher.add(scheduler.make_service(CONF.host))
    for host in compute.host_names():
        launcher.add(compute.make_service(host))
    api_server, api_heartbeat = api_cmd.make_services(CONF.host)
    launcher.add(api_server)
    launcher.add(api_heartbeat)
    return api_server


def main(argv: list[str] | None = None) -> int:
    CONF.register_cli_opts(cli_opts)
    argv = sys.argv[1:] if argv is None else argv
    demo_dir = None
    if "--demo" in argv:
        demo_dir = tempfile.mkdtemp(prefix="novalite-demo-")
    defaults: dict[str, object] = {"transport_url": "fake://"}
    if demo_dir:
        # Keep the terminal for the demo's own report; the services log to a file.
        defaults["log_file"] = os.path.join(demo_dir, "novalite-all.log")
    common.parse_args(argv, "novalite-all", defaults=defaults)
    CONF.set_default("fake_hosts", 2, group="compute")
    if demo_dir:
        CONF.set_override("state_path", demo_dir)
        CONF.set_override("auth_strategy", "noauth", group="api")
        CONF.set_override("port", 0, group="api")
        CONF.set_override("listen", "127.0.0.1", group="api")
        CONF.set_override("report_interval", 1)

    from novalite.db import migration

    migration.db_sync()  # the embedded database needs no separate step
    rpc.init(CONF)
    launcher = service.Launcher()
    api_server = build(launcher)
    if demo_dir:
        service_thread = _run_in_background(launcher)
        try:
            return run_demo(api_server)
        finally:
            launcher.request_stop()
            service_thread.join(60)
    return launcher.run()


def _run_in_background(launcher: service.Launcher):
    import threading

    # Signal handlers can only be installed from the main thread.
    launcher.install_signal_handlers()
    launcher.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    thread = threading.Thread(target=launcher.run, name="launcher", daemon=True)
    thread.start()
    return thread


class _Client:
    """Just enough HTTP for the demo (the real client library is novalite.client)."""

    def __init__(self, endpoint: str, token: str) -> None:
        self.endpoint, self.token = endpoint, token

    def request(
        self, method: str, path: str, body: dict | None = None, version: str = "latest"
    ) -> tuple[int, dict]:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(
            self.endpoint + path,
            data=data,
            method=method,
            headers={
                "X-Auth-Token": self.token,
                "Content-Type": "application/json",
                "OpenStack-API-Version": f"compute {version}",
            },
        )
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                payload = resp.read()
                return resp.status, json.loads(payload) if payload else {}
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read() or b"{}")


def _wait_until(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return False


def run_demo(api_server: api_cmd.APIServer) -> int:
    if not _wait_until(lambda: api_server._server is not None, 30):
        print("the API did not start", file=sys.stderr)
        return 1
    endpoint = f"http://127.0.0.1:{api_server.port}"
    client = _Client(endpoint, "admin:admin")
    print(f"novalite all-in-one: API at {endpoint}/v2.1")
    print(f"  state and logs in {CONF.state_path} (log: {CONF.log_file})")
    status, versions = client.request("GET", "/v2.1/")
    version = versions["version"]
    print(f"GET /v2.1/ -> {status}: compute API {version['min_version']}..{version['version']}")

    expected = 3 + len(compute.host_names())

    def all_up() -> bool:
        _, body = client.request("GET", "/v2.1/os-services")
        services = body.get("services", [])
        return len(services) >= expected and all(s["state"] == "up" for s in services)

    _wait_until(all_up, 30)
    _, body = client.request("GET", "/v2.1/os-services")
    print("\nGET /v2.1/os-services")
    print(f"  {'binary':<20} {'host':<16} {'zone':<10} {'status':<9} state")
    for svc in body["services"]:
        print(
            f"  {svc['binary']:<20} {svc['host']:<16} {svc['zone']:<10} "
            f"{svc['status']:<9} {svc['state']}"
        )
    _wait_until(
        lambda: (
            len(client.request("GET", "/v2.1/os-hypervisors")[1].get("hypervisors", []))
            >= len(compute.host_names())
        ),
        30,
    )
    # 2.88 dropped the resource fields from hypervisors; ask at 2.87 to show them.
    _, body = client.request("GET", "/v2.1/os-hypervisors/detail", version="2.87")
    print("\nGET /v2.1/os-hypervisors/detail")
    print(f"  {'hypervisor':<16} {'type':<6} {'vcpus':>5} {'memory_mb':>10} {'local_gb':>9} state")
    for hyp in body.get("hypervisors", []):
        print(
            f"  {hyp['hypervisor_hostname']:<16} {hyp.get('hypervisor_type', ''):<6} "
            f"{hyp.get('vcpus', ''):>5} {hyp.get('memory_mb', ''):>10} "
            f"{hyp.get('local_gb', ''):>9} {hyp['state']}"
        )
    ok = all_up() and _server_lifecycle(client)
    print("\ndemo " + ("passed" if ok else "FAILED"))
    return 0 if ok else 1


def _server_lifecycle(client: _Client) -> bool:
    """Create a flavor, an image and a server, then power-cycle and delete it."""
    from novalite.image import api as image_api

    disk = os.path.join(CONF.state_path, "tiny.raw")
    with open(disk, "wb") as f:
        f.truncate(1024 * 1024)
    image = image_api.add(disk, "tiny", disk_format="raw")
    _, body = client.request("POST", "/v2.1/flavors", {"flavor": {
        "name": "m1.tiny", "ram": 512, "vcpus": 1, "disk": 1, "id": None}})
    flavor = body["flavor"]["id"]
    _, body = client.request("POST", "/v2.1/flavors", {"flavor": {
        "name": "m1.small", "ram": 1024, "vcpus": 2, "disk": 1, "id": None}})
    bigger = body["flavor"]["id"]
    print("\nServer lifecycle (each step: the request, then until the server is stable)")
    started = time.monotonic()
    status, body = client.request("POST", "/v2.1/servers", {"server": {
        "name": "demo-1", "flavorRef": flavor, "imageRef": image["id"], "networks": "none"}})
    if status != 202:
        print(f"  create -> {status}: {body}")
        return False
    server_id = body["server"]["id"]
    steps = [("create", None, "ACTIVE"), ("stop", {"os-stop": None}, "SHUTOFF"),
             ("start", {"os-start": None}, "ACTIVE"),
             ("reboot", {"reboot": {"type": "SOFT"}}, "ACTIVE"),
             ("resize", {"resize": {"flavorRef": bigger}}, "VERIFY_RESIZE"),
             ("confirm", {"confirmResize": None}, "ACTIVE"),
             ("migrate", {"migrate": None}, "VERIFY_RESIZE"),
             ("revert", {"revertResize": None}, "ACTIVE"),
             ("live-migrate", {"os-migrateLive": {"host": None, "block_migration": "auto"}},
              "ACTIVE")]
    for name, action, target in steps:
        if action is not None:
            started = time.monotonic()
            status, body = client.request("POST", f"/v2.1/servers/{server_id}/action", action)
            if status not in (202, 204):
                print(f"  {name} -> {status}: {body}")
                return False
        server = _wait_stable(client, server_id, target)
        elapsed = (time.monotonic() - started) * 1000
        if server is None:
            print(f"  {name}: did not reach {target}")
            return False
        print(f"  {name:<12} -> {server['status']:<13} on {server['OS-EXT-SRV-ATTR:host']:<6}"
              f" flavor {server['flavor']['original_name']:<9}"
              f" power_state {server['OS-EXT-STS:power_state']}  {elapsed:6.1f} ms")
    started = time.monotonic()
    client.request("DELETE", f"/v2.1/servers/{server_id}")
    gone = _wait_until(lambda: client.request("GET", f"/v2.1/servers/{server_id}")[0] == 404,
                       30)
    print(f"  {'delete':<12} -> {'gone' if gone else 'STILL THERE':<13}"
          f"{'':<47}{(time.monotonic() - started) * 1000:6.1f} ms")
    return gone


def _wait_stable(client: _Client, server_id: str, status: str) -> dict | None:
    found: dict = {}

    def stable() -> bool:
        _, body = client.request("GET", f"/v2.1/servers/{server_id}")
        server = body.get("server", {})
        found.update(server)
        return server.get("status") == status and server.get("OS-EXT-STS:task_state") is None

    return found if _wait_until(stable, 30) else None


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
