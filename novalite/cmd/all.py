"""novalite-all: every service in one process — the embedded default for a quick look.

API, conductor, scheduler and N fake compute hosts share one process, an in-process
transport (fake://) and the embedded SQLite database, unless the config files say
otherwise. `--demo` runs against a throwaway state directory, shows the control plane
at work through the REST API (with the client library, novalite.client), and exits.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
import time

from oslo_config import cfg

from novalite import rpc, service
from novalite.client import Client, exceptions
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
    endpoint = f"http://127.0.0.1:{api_server.port}/v2.1"
    nova = Client(endpoint, token="admin:admin")
    print(f"novalite all-in-one: API at {endpoint}")
    print(f"  state and logs in {CONF.state_path} (log: {CONF.log_file})")
    print(f"compute API {nova.min_version}..{nova.max_version}")

    expected = 3 + len(compute.host_names())

    def all_up() -> bool:
        services = nova.services.list()
        return len(services) >= expected and all(s.state == "up" for s in services)

    _wait_until(all_up, 30)
    print("\nservices (GET /v2.1/os-services)")
    print(f"  {'binary':<20} {'host':<16} {'zone':<10} {'status':<9} state")
    for svc in nova.services.list():
        print(f"  {svc.binary:<20} {svc.host:<16} {svc.zone:<10} {svc.status:<9} {svc.state}")
    _wait_until(lambda: len(nova.hypervisors.list()) >= len(compute.host_names()), 30)
    # 2.88 dropped the resource fields from hypervisors; ask at 2.87 to show them.
    body = nova.request("GET", "/os-hypervisors/detail", version="2.87")
    print("\nhypervisors (GET /v2.1/os-hypervisors/detail)")
    print(f"  {'hypervisor':<16} {'type':<6} {'vcpus':>5} {'memory_mb':>10} {'local_gb':>9} state")
    for hyp in body.get("hypervisors", []):
        print(
            f"  {hyp['hypervisor_hostname']:<16} {hyp.get('hypervisor_type', ''):<6} "
            f"{hyp.get('vcpus', ''):>5} {hyp.get('memory_mb', ''):>10} "
            f"{hyp.get('local_gb', ''):>9} {hyp['state']}"
        )
    try:
        ok = all_up() and _server_lifecycle(nova)
    except exceptions.ClientException as exc:
        print(f"  failed: {exc}")
        ok = False
    print("\ndemo " + ("passed" if ok else "FAILED"))
    return 0 if ok else 1


def _server_lifecycle(nova: Client) -> bool:
    """Create a flavor, an image and a server, then move it around and delete it."""
    from novalite.image import api as image_api

    disk = os.path.join(CONF.state_path, "tiny.raw")
    with open(disk, "wb") as f:
        f.truncate(1024 * 1024)
    image = image_api.add(disk, "tiny", disk_format="raw")
    nova.flavors.create("m1.tiny", ram=512, vcpus=1, disk=1)
    nova.flavors.create("m1.small", ram=1024, vcpus=2, disk=1)
    print("\nServer lifecycle (each step: the request, then until the server is stable)")
    started = time.monotonic()
    server = nova.servers.create("demo-1", flavor="m1.tiny", image=image["id"])
    steps = [("create", None, "ACTIVE"), ("stop", nova.servers.stop, "SHUTOFF"),
             ("start", nova.servers.start, "ACTIVE"),
             ("reboot", nova.servers.reboot, "ACTIVE"),
             ("resize", lambda s: nova.servers.resize(s, "m1.small"), "VERIFY_RESIZE"),
             ("confirm", nova.servers.confirm_resize, "ACTIVE"),
             ("migrate", nova.servers.migrate, "VERIFY_RESIZE"),
             ("revert", nova.servers.revert_resize, "ACTIVE"),
             ("live-migrate", nova.servers.live_migrate, "ACTIVE")]
    for name, action, target in steps:
        if action is not None:
            started = time.monotonic()
            action(server.id)
        server = nova.servers.wait_for(server.id, target, timeout=30, interval=0.01)
        elapsed = (time.monotonic() - started) * 1000
        print(f"  {name:<12} -> {server.status:<13} on {server.host:<6}"
              f" flavor {server.flavor['original_name']:<9}"
              f" power_state {server.power_state}  {elapsed:6.1f} ms")
    started = time.monotonic()
    nova.servers.delete(server.id)
    nova.servers.wait_for(server.id, "DELETED", timeout=30, interval=0.01)
    print(f"  {'delete':<12} -> {'gone':<13}{'':<47}{(time.monotonic() - started) * 1000:6.1f} ms")
    return True


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
