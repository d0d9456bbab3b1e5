"""devstack/stack.sh for real: a controller and three compute nodes, each compute node in
its own network namespace with its own address, talking to the controller's RabbitMQ over
a bridge; driven through the `novalite` CLI as an operator would.

Every name this test makes is its own (database, RabbitMQ vhost and user, namespaces,
veths, bridge, subnet, API port, directories under tmp_path), so it can run while other
stacks or test runs use the same machine. It needs root and iproute2: it is skipped
otherwise, or fails when NOVALITE_TEST_REQUIRE_DEVSTACK=1.

If RabbitMQ listens on loopback only, stack.sh makes it listen on every interface and
restarts it (once: the setting stays in /etc/rabbitmq/rabbitmq.conf).
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import database_backends
from tests.functional.fixtures import free_port, wait_for
from tests.functional.libvirt_hosts import (
    GUEST_CACHE,
    console_ticks,
    require_libvirt,
    wait_for_console,
)

REPO = Path(__file__).resolve().parents[2]
DEVSTACK = REPO / "devstack"
NUM_COMPUTES = 3
SERVICE_DOWN_TIME = 10  # devstack's default (report_interval 2)


def devstack_unavailable() -> str | None:
    """Why stack.sh cannot run here, or None when it can."""
    if os.geteuid() != 0:
        return "devstack needs root (network namespaces, rabbitmqctl)"
    for tool in ("ip", "rabbitmqctl", "ss"):
        if shutil.which(tool) is None:
            return f"{tool} not found"
    if not (Path(sys.prefix) / "bin" / "novalite-compute").exists():
        return f"novalite is not installed in {sys.prefix} (run the tests from its venv)"
    return None


def require_devstack() -> None:
    reason = devstack_unavailable()
    if reason is None:
        return
    if os.environ.get("NOVALITE_TEST_REQUIRE_DEVSTACK") == "1":
        pytest.fail(f"{reason} (NOVALITE_TEST_REQUIRE_DEVSTACK=1)", pytrace=False)
    pytest.skip(reason)


def _database_type() -> str:
    """PostgreSQL, unless NOVALITE_TEST_DATABASES leaves it out (tests/conftest.py)."""
    backends = database_backends()
    return "postgresql" if "postgresql" in backends else backends[0]


def _database_exists(backend: str, name: str) -> bool:
    if backend == "postgresql":
        cmd = ["psql", "-h", "127.0.0.1", "-U", "postgres", "-tAc",
               f"SELECT 1 FROM pg_database WHERE datname = '{name}'"]
    elif backend == "mysql":
        cmd = ["mariadb", "-h", "127.0.0.1", "-u", "root", "-N", "-e",
               f"SHOW DATABASES LIKE '{name}'"]
    else:
        return False  # a file in DATA_DIR
    return subprocess.run(cmd, capture_output=True, text=True).stdout.strip() != ""


def _free_subnet() -> str:
    """10.42.X with X not used by any address or route on this machine."""
    used = subprocess.run(["ip", "-o", "-4", "route", "show", "table", "all"],
                          capture_output=True, text=True).stdout
    used += subprocess.run(["ip", "-o", "-4", "addr"], capture_output=True, text=True).stdout
    choices = [x for x in range(64, 255) if f"10.42.{x}." not in used]
    return f"10.42.{random.choice(choices)}"


class Stack:
    """devstack's scripts with this test's settings, and the CLI against the result."""

    def __init__(self, tmp_path: Path, **settings: str) -> None:
        tag = uuid.uuid4().hex[:6]
        self.tag = tag
        self.data_dir = tmp_path / "data"
        self.log_dir = tmp_path / "logs"
        self.subnet = _free_subnet()
        self.api_port = free_port()
        self.admin_token = f"admin-{uuid.uuid4().hex}"
        self.netns_prefix = f"nl{tag}-"
        self.veth_prefix = f"nlv{tag}-"
        self.bridge = f"nlbr{tag}"
        self.database = f"novalite_devstack_{tag}"
        self.settings = {
            "LOCAL_CONF": str(tmp_path / "no-local.conf"),  # the checkout's local.conf: ignored
            "VENV": sys.prefix,
            "NUM_COMPUTE_NODES": str(NUM_COMPUTES),
            "VIRT_DRIVER": "fake",
            "NETNS": "yes",
            "DATABASE_TYPE": _database_type(),
            "DATABASE_NAME": self.database,
            "DATA_DIR": str(self.data_dir),
            "LOG_DIR": str(self.log_dir),
            "API_PORT": str(self.api_port),
            "RABBIT_USER": f"novalite-devstack-{tag}",
            "RABBIT_PASSWORD": uuid.uuid4().hex,
            "RABBIT_VHOST": f"novalite-devstack-{tag}",
            "NETNS_SUBNET": self.subnet,
            "NETNS_PREFIX": self.netns_prefix,
            "VETH_PREFIX": self.veth_prefix,
            "BRIDGE_NAME": self.bridge,
            "ADMIN_TOKEN": self.admin_token,
            "MEMBER_TOKEN": f"demo-{uuid.uuid4().hex}",
            "SERVICE_DOWN_TIME": str(SERVICE_DOWN_TIME),
            "REPORT_INTERVAL": "2",
            "STOP_TIMEOUT": "15",
            **settings,
        }
        self.endpoint = f"http://{self.subnet}.1:{self.api_port}/v2.1"

    def netns(self, k: int) -> str:
        return f"{self.netns_prefix}cpu-{k}"

    def veth(self, k: int) -> str:
        return f"{self.veth_prefix}{k}"

    def address(self, k: int) -> str:
        return f"{self.subnet}.{10 + k}"

    # -- scripts ------------------------------------------------------------------------
    def run(self, script: str, timeout: float = 240) -> subprocess.CompletedProcess:
        env = {key: value for key, value in os.environ.items()
               if not key.startswith(("NOVALITE_URL", "NOVALITE_TOKEN", "OS_CLOUD"))}
        env.update(self.settings)
        started = time.monotonic()
        proc = subprocess.run(["bash", str(DEVSTACK / script)], env=env, capture_output=True,
                              text=True, timeout=timeout)
        print(f"--- {script}: exit {proc.returncode} in {time.monotonic() - started:.1f}s\n"
              f"{proc.stdout[-6000:]}{proc.stderr[-6000:]}")
        assert proc.returncode == 0, f"{script} failed:\n{proc.stdout[-3000:]}{proc.stderr}"
        return proc

    # -- the CLI ------------------------------------------------------------------------
    def cli(self, *args: str, timeout: float = 120) -> str:
        env = dict(os.environ, NOVALITE_URL=self.endpoint, NOVALITE_TOKEN=self.admin_token)
        env.pop("OS_CLOUD", None)
        proc = subprocess.run([sys.executable, "-m", "novalite.cli.main", *args], env=env,
                              capture_output=True, text=True, timeout=timeout)
        assert proc.returncode == 0, f"novalite {' '.join(args)}: {proc.stderr}{proc.stdout}"
        return proc.stdout

    def cli_json(self, *args: str) -> object:
        return json.loads(self.cli(*args, "-f", "json"))

    def service_states(self) -> dict[tuple[str, str], str]:
        return {(s["Binary"], s["Host"]): s["State"]
                for s in self.cli_json("service", "list")}

    def server(self, name: str) -> dict:
        return self.cli_json("server", "show", name)

    # -- what exists on the machine -------------------------------------------------------
    def processes(self) -> list[str]:
        """Command lines of live processes that belong to this stack."""
        found = []
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            try:
                cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
                status = (proc / "status").read_text()
            except OSError:
                continue
            if str(self.data_dir) in cmdline and "\nState:\tZ" not in status:
                found.append(f"{proc.name}: {cmdline}")
        return found

    def pids(self) -> dict[str, str]:
        run_dir = self.data_dir / "run"
        return {p.stem: p.read_text().strip() for p in sorted(run_dir.glob("*.pid"))}

    def namespaces(self) -> list[str]:
        out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
        return [line.split()[0] for line in out.splitlines()
                if line.startswith(self.netns_prefix)]

    def links(self) -> list[str]:
        out = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
        names = [line.split(":")[1].strip().split("@")[0] for line in out.splitlines()]
        return [n for n in names if n.startswith((self.veth_prefix, self.bridge))]

    def qemu_netns(self, k: int, server_id: str) -> str:
        """The network namespace of the QEMU running this server on compute node k."""
        pid_file = (self.data_dir / "libvirt" / f"cpu-{k}" / "run" / "qemu"
                    / f"instance-{server_id}.pid")
        return _ip("netns", "identify", pid_file.read_text().strip()).strip()

    def logs_tail(self) -> str:
        parts = []
        for log in sorted(self.log_dir.glob("*.log")):
            parts.append(f"--- {log.name}\n" + log.read_text(errors="replace")[-3000:])
        return "\n".join(parts)


@contextlib.contextmanager
def cleaned_up(stack: Stack, timings: dict[str, float]) -> Iterator[None]:
    """clean.sh afterwards whatever happened (it runs unstack.sh first); the services'
    logs when the test failed."""
    passed = False
    try:
        yield
        passed = True
    finally:
        if not passed:
            print(stack.logs_tail())
        stack.run("clean.sh")
        print("timings: " + ", ".join(f"{k} {v:.1f}s" for k, v in timings.items()))


def _ip(*args: str) -> str:
    proc = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_devstack_fake_computes_in_namespaces(tmp_path):
    """stack.sh (twice), every service up, a server created, live-migrated, resized and
    confirmed; a compute node whose link is cut goes down and comes back up by itself;
    unstack.sh leaves nothing behind; clean.sh removes the data."""
    require_devstack()
    stack = Stack(tmp_path)
    computes = [f"cpu-{k}" for k in range(1, NUM_COMPUTES + 1)]
    timings: dict[str, float] = {}
    with cleaned_up(stack, timings):
        started = time.monotonic()
        stack.run("stack.sh")
        timings["stack.sh"] = time.monotonic() - started

        # Re-running changes nothing: the same processes keep running.
        pids = stack.pids()
        assert set(pids) == {"api", "conductor", "scheduler", *computes}, pids
        started = time.monotonic()
        stack.run("stack.sh")
        timings["stack.sh again"] = time.monotonic() - started
        assert stack.pids() == pids

        states = stack.service_states()
        for key in [("novalite-api", "controller"), ("novalite-conductor", "controller"),
                    ("novalite-scheduler", "controller"),
                    *[("novalite-compute", host) for host in computes]]:
            assert states.get(key) == "up", states
        # One flavor set and one image, not two.
        flavors = [f["Name"] for f in stack.cli_json("flavor", "list")]
        assert sorted(flavors) == ["m1.medium", "m1.small", "m1.tiny"], flavors
        images = json.loads((stack.data_dir / "images" / "images.json").read_text())
        assert [i["name"] for i in images] == ["cirros"], images

        # Each compute agent runs in its namespace, connected from its own address to
        # RabbitMQ at the bridge address.
        for k in range(1, NUM_COMPUTES + 1):
            pid = pids[f"cpu-{k}"]
            assert _ip("netns", "identify", pid).strip() == stack.netns(k)
            sockets = _ip("netns", "exec", stack.netns(k), "ss", "-tnH", "state", "established")
            assert f"{stack.address(k)}:" in sockets and f"{stack.subnet}.1:5672" in sockets, \
                sockets
        status = subprocess.run(["bash", str(DEVSTACK / "status.sh")], capture_output=True,
                                text=True, env={**os.environ, **stack.settings}, timeout=60)
        assert status.returncode == 0, status.stderr
        assert f"{stack.netns(2)}/{stack.address(2)}" in status.stdout, status.stdout

        # A server: created, live-migrated to another node, resized and confirmed.
        started = time.monotonic()
        stack.cli("server", "create", "--flavor", "m1.tiny", "--image", "cirros", "--wait",
                  "vm1")
        server = stack.server("vm1")
        assert server["status"] == "ACTIVE", server
        source = server["host"]
        assert source in computes
        stack.cli("server", "live-migrate", "--wait", "vm1")
        server = stack.server("vm1")
        assert server["status"] == "ACTIVE" and server["host"] not in (source, None), server
        stack.cli("server", "resize", "--flavor", "m1.small", "--wait", "vm1")
        assert stack.server("vm1")["status"] == "VERIFY_RESIZE"
        stack.cli("server", "resize-confirm", "--wait", "vm1")
        server = stack.server("vm1")
        assert server["status"] == "ACTIVE", server
        assert server["flavor"]["original_name"] == "m1.small", server["flavor"]
        timings["server create, live-migrate, resize"] = time.monotonic() - started

        # Cut compute 2's link: it goes down (after service_down_time), the others stay up;
        # restored, it comes back with no operator action.
        started = time.monotonic()
        _ip("link", "set", stack.veth(2), "down")
        wait_for(lambda: stack.service_states()[("novalite-compute", "cpu-2")] == "down",
                 timeout=SERVICE_DOWN_TIME + 20, interval=1, what="cpu-2 down")
        timings["cpu-2 down after the cut"] = time.monotonic() - started
        states = stack.service_states()
        assert states[("novalite-compute", "cpu-1")] == "up", states
        assert states[("novalite-compute", "cpu-3")] == "up", states
        started = time.monotonic()
        _ip("link", "set", stack.veth(2), "up")
        wait_for(lambda: stack.service_states()[("novalite-compute", "cpu-2")] == "up",
                 timeout=60, interval=1, what="cpu-2 up again")
        timings["cpu-2 up after the repair"] = time.monotonic() - started
        assert stack.pids()["cpu-2"] == pids["cpu-2"]  # the same process, reconnected

        # unstack.sh: no process, namespace, veth or bridge of this stack is left.
        started = time.monotonic()
        stack.run("unstack.sh")
        timings["unstack.sh"] = time.monotonic() - started
        assert stack.processes() == []
        assert stack.namespaces() == []
        assert stack.links() == []

    # clean.sh dropped the database and the RabbitMQ vhost and user, and the directories.
    assert not stack.data_dir.exists() and not stack.log_dir.exists()
    assert not _database_exists(stack.settings["DATABASE_TYPE"], stack.database)
    vhosts = subprocess.run(["rabbitmqctl", "-q", "list_vhosts"], capture_output=True,
                            text=True).stdout.split()
    assert stack.settings["RABBIT_VHOST"] not in vhosts


def test_devstack_libvirt_live_migration_between_namespaces(tmp_path):
    """VIRT_DRIVER=libvirt: a libvirtd per compute namespace; the tick guest boots on one
    node and live-migrates to the other (block migration, over the nodes' addresses),
    and keeps ticking there; unstack.sh leaves no QEMU or libvirtd behind."""
    require_devstack()
    require_libvirt()
    stack = Stack(tmp_path, VIRT_DRIVER="libvirt", NUM_COMPUTE_NODES="2",
                  DATABASE_TYPE="sqlite", GUEST_DIR=str(GUEST_CACHE))
    timings: dict[str, float] = {}
    with cleaned_up(stack, timings):
        started = time.monotonic()
        stack.run("stack.sh", timeout=600)  # the first run may build the guest
        timings["stack.sh"] = time.monotonic() - started
        images = json.loads((stack.data_dir / "images" / "images.json").read_text())
        assert sorted(i["name"] for i in images) == ["tick", "tick-kernel", "tick-ramdisk"]
        hypervisors = {h["Hypervisor Hostname"]: h
                       for h in stack.cli_json("hypervisor", "list")}
        assert {name: h["Host IP"] for name, h in hypervisors.items()} == \
            {"cpu-1": stack.address(1), "cpu-2": stack.address(2)}

        started = time.monotonic()
        stack.cli("server", "create", "--flavor", "m1.tiny", "--image", "tick", "--wait", "vm1")
        server = stack.server("vm1")
        sid, source = server["id"], server["host"]
        console = stack.data_dir / source / "instances" / sid / "console.log"
        wait_for_console(console, "tick 2 ", timeout=120)
        timings["boot"] = time.monotonic() - started
        source_k = int(source.rsplit("-", 1)[1])
        assert stack.qemu_netns(source_k, sid) == stack.netns(source_k)

        before = console_ticks(console)  # the source's directory goes with the guest

        started = time.monotonic()
        stack.cli("server", "live-migrate", "--wait", "vm1")
        server = stack.server("vm1")
        dest = server["host"]
        assert server["status"] == "ACTIVE" and dest != source, server
        timings["live migration"] = time.monotonic() - started
        dest_k = int(dest.rsplit("-", 1)[1])
        # The guest runs in the destination node's namespace now, the same boot going on.
        assert stack.qemu_netns(dest_k, sid) == stack.netns(dest_k)
        dest_console = stack.data_dir / dest / "instances" / sid / "console.log"
        wait_for_console(dest_console, "tick ", timeout=30)
        after = console_ticks(dest_console)
        assert after and after[-1][1] == before[-1][1], (before[-3:], after[-3:])
        assert after[-1][0] > before[-1][0]
        migrations = stack.cli_json("migration", "list", "--server", "vm1")
        assert [m["Status"] for m in migrations] == ["completed"], migrations

        started = time.monotonic()
        stack.run("unstack.sh")
        timings["unstack.sh"] = time.monotonic() - started
        assert stack.processes() == []
        assert stack.namespaces() == []
        assert stack.links() == []
