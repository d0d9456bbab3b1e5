"""A deployment of separate novalite processes against RabbitMQ and a real database.

Each deployment isolates itself: its own database (tests/conftest.py's db_url), its own
RabbitMQ virtual host, its own state directories and API port, so two runs on one
machine cannot see each other's messages.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

RABBIT = os.environ.get("NOVALITE_TEST_RABBIT", "guest:guest@127.0.0.1:5672")
ADMIN_TOKEN = "admin-token"
MEMBER_TOKEN = "member-token"
OTHER_PROJECT_TOKEN = "other-project-token"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(
    predicate: Callable[[], Any], timeout: float, interval: float = 0.2, what: str = "condition"
) -> Any:
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            result = predicate()
            if result:
                return result
        except (requests.RequestException, KeyError, ValueError) as exc:
            last_error = exc
        time.sleep(interval)
    raise AssertionError(
        f"timed out after {timeout}s waiting for {what} (last error: {last_error})"
    )


class RabbitVhost:
    """A throwaway RabbitMQ virtual host, made and removed with rabbitmqctl."""

    def __init__(self) -> None:
        self.name = f"novalite-test-{uuid.uuid4().hex[:12]}"
        self.ctl = shutil.which("rabbitmqctl")
        if self.ctl is None:
            raise RuntimeError(
                "rabbitmqctl is needed to isolate functional test runs; "
                "install rabbitmq-server (see README)"
            )

    def _ctl(self, *args: str) -> None:
        subprocess.run([self.ctl, *args], check=True, capture_output=True, timeout=60)

    def create(self) -> str:
        user = RABBIT.split(":", 1)[0]
        self._ctl("add_vhost", self.name)
        self._ctl("set_permissions", "-p", self.name, user, ".*", ".*", ".*")
        return f"rabbit://{RABBIT}/{self.name}"

    def delete(self) -> None:
        try:
            self._ctl("delete_vhost", self.name)
        except subprocess.SubprocessError:
            pass


class Deployment:
    """Config files, processes and a REST client for one functional test."""

    def __init__(self, workdir: Path, db_url: str, transport_url: str) -> None:
        self.workdir = workdir
        self.db_url = db_url
        self.transport_url = transport_url
        self.api_port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.api_port}/v2.1"
        self.processes: dict[str, subprocess.Popen] = {}
        self.token_file = workdir / "tokens.json"
        self.token_file.write_text(
            json.dumps(
                {
                    ADMIN_TOKEN: {
                        "user_id": "admin",
                        "project_id": "admin-project",
                        "roles": ["admin", "member", "reader"],
                    },
                    MEMBER_TOKEN: {
                        "user_id": "alice",
                        "project_id": "demo",
                        "roles": ["member", "reader"],
                    },
            OTHER_PROJECT_TOKEN: {"user_id": "bob", "project_id": "other",
                                  "roles": ["member", "reader"]},
                }
            )
        )

    # -- configuration ------------------------------------------------------
    def write_config(self, name: str, sections: dict[str, dict[str, Any]]) -> Path:
        lines = []
        for section, values in sections.items():
            lines.append(f"[{section}]")
            lines += [f"{key} = {value}" for key, value in values.items()]
            lines.append("")
        path = self.workdir / f"{name}.conf"
        path.write_text("\n".join(lines))
        return path

    def controller_config(self, **default_overrides: Any) -> Path:
        defaults = {
            "transport_url": self.transport_url,
            "state_path": self.workdir / "controller",
            "host": "controller",
            "report_interval": 1,
            "service_down_time": 5,
            "debug": True,
        }
        defaults.update(default_overrides)
        return self.write_config(
            "controller",
            {
                "DEFAULT": defaults,
                "database": {"connection": self.db_url},
                "image": {"local_dir": self.workdir / "images"},
                # Room for the tests' own load; quota itself is tested in the unit tests.
                "quota": {"instances": 100, "cores": 400, "ram": 10**7},
                "api": {
                    "listen": "127.0.0.1",
                    "port": self.api_port,
                    "auth_strategy": "token",
                    "token_file": self.token_file,
                },
            },
        )

    def compute_config(self, host: str, compute: dict[str, Any] | None = None,
                       libvirt: dict[str, Any] | None = None, driver: str = "fake",
                       **fake_driver: Any) -> Path:
        """A compute node's config: RabbitMQ only, deliberately no [database] section.
        Its image store is the controller's directory (one machine)."""
        state = self.workdir / host
        state.mkdir(exist_ok=True)
        return self.write_config(host, {
            "DEFAULT": {"transport_url": self.transport_url, "host": host,
                        "state_path": state, "report_interval": 1, "service_down_time": 5,
                        "compute_driver": driver, "debug": True},
            "compute": {"reserved_host_memory_mb": 0, **(compute or {})},
            "image": {"local_dir": self.workdir / "images"},
            "fake_driver": fake_driver,
            "libvirt": libvirt or {},
        })

    def add_image(self, name: str = "cirros", min_disk: int = 0, min_ram: int = 0,
                  path: Path | None = None, properties: dict | None = None) -> str:
        """Register an image in the controller's image store — a tiny raw file, or the
        file at `path` (left where it is) — and return its id."""
        store = self.workdir / "images"
        store.mkdir(exist_ok=True)
        index = store / "images.json"
        images = json.loads(index.read_text()) if index.exists() else []
        image_id = str(uuid.uuid4())
        if path is None:
            path = store / f"{image_id}.raw"
            path.write_bytes(b"\0" * 4096)
        images.append({"id": image_id, "name": name, "file": str(path),
                       "disk_format": "raw", "container_format": "bare",
                       "min_disk": min_disk, "min_ram": min_ram, "size": path.stat().st_size,
                       "properties": properties or {}})
        index.write_text(json.dumps(images))
        return image_id

    # -- processes ----------------------------------------------------------
    def manage(self, config: Path, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "novalite.cmd.manage", "--config-file", str(config), *args],
            capture_output=True,
            text=True,
            timeout=120,
        )

    def start(self, name: str, module: str, config: Path) -> subprocess.Popen:
        log = open(self.workdir / f"{name}.log", "ab")
        proc = subprocess.Popen(
            [sys.executable, "-m", f"novalite.cmd.{module}", "--config-file", str(config)],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.workdir / name if (self.workdir / name).is_dir() else self.workdir,
        )
        self.processes[name] = proc
        return proc

    def signal(self, name: str, sig: int) -> None:
        self.processes[name].send_signal(sig)

    def stop(self, name: str, timeout: float = 30) -> int:
        proc = self.processes[name]
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        return proc.wait(timeout)

    def log(self, name: str) -> str:
        return (self.workdir / f"{name}.log").read_text(errors="replace")

    def stop_all(self) -> dict[str, int | None]:
        codes: dict[str, int | None] = {}
        for proc in self.processes.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for name, proc in self.processes.items():
            try:
                codes[name] = proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                codes[name] = None
        return codes

    def start_controller(self, **default_overrides: Any) -> Path:
        """db sync, then api, conductor and scheduler as separate processes."""
        config = self.controller_config(**default_overrides)
        result = self.manage(config, "db", "sync")
        assert result.returncode == 0, result.stderr
        for name in ("api", "conductor", "scheduler"):
            self.start(name, name, config)
        return config

    def wait_computes_up(self, hosts: list[str], timeout: float = 20) -> None:
        def ready() -> bool:
            resp = self.api("GET", "/os-hypervisors/detail")
            states = {h["hypervisor_hostname"]: h["state"]
                      for h in resp.json().get("hypervisors", [])}
            return all(states.get(h) == "up" for h in hosts)

        wait_for(ready, timeout, what=f"compute hosts {hosts} up")

    # -- REST ---------------------------------------------------------------
    def add_flavor(self, name: str, ram: int, vcpus: int = 1, disk: int = 1) -> str:
        """Create a flavor as the admin; returns its id."""
        resp = self.api("POST", "/flavors", json={"flavor": {
            "name": name, "ram": ram, "vcpus": vcpus, "disk": disk, "id": None}})
        assert resp.status_code == 200, resp.text
        return resp.json()["flavor"]["id"]

    def boot(self, flavor: str, image: str, name: str = "vm",
             token: str = MEMBER_TOKEN) -> dict:
        """Create a server and wait until it is ACTIVE."""
        resp = self.api("POST", "/servers", token=token, version="2.90", json={"server": {
            "name": name, "flavorRef": flavor, "imageRef": image, "networks": "none"}})
        assert resp.status_code == 202, resp.text
        return self.wait_server(resp.json()["server"]["id"], "ACTIVE")

    def memory_used(self) -> dict[str, int]:
        """memory_mb_used of each hypervisor that uses any (computes reserve none)."""
        resp = self.api("GET", "/os-hypervisors/detail", version="2.87")
        return {h["hypervisor_hostname"]: h["memory_mb_used"]
                for h in resp.json()["hypervisors"] if h["memory_mb_used"]}

    def server(self, server_id: str, token: str = ADMIN_TOKEN) -> dict:
        resp = self.api("GET", f"/servers/{server_id}", token=token, version="2.90")
        assert resp.status_code == 200, resp.text
        return resp.json()["server"]

    def wait_server(self, server_id: str, status: str, timeout: float = 30) -> dict:
        def reached() -> dict | None:
            server = self.server(server_id)
            if server["status"] == "ERROR" and status != "ERROR":
                raise AssertionError(f"server {server_id} went to ERROR: {server.get('fault')}")
            return server if server["status"] == status else None

        return wait_for(reached, timeout, what=f"server {server_id} {status}")

    def api(
        self,
        method: str,
        path: str,
        token: str = ADMIN_TOKEN,
        version: str | None = None,
        **kwargs: Any,
    ) -> requests.Response:
        headers = {"X-Auth-Token": token, **kwargs.pop("headers", {})}
        if version:
            headers["OpenStack-API-Version"] = f"compute {version}"
        return requests.request(method, self.endpoint + path, headers=headers, timeout=30, **kwargs)


class Recorder:
    """Samples (status, vm_state, task_state, migration status) through the API while a
    flow runs, so the test can compare the sequence it saw with DESIGN §4."""

    def __init__(self, dep, server_id: str) -> None:
        self.dep, self.server_id = dep, server_id
        self.seen: list[tuple] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _states(self) -> tuple:
        server = self.dep.server(self.server_id)
        return server["OS-EXT-STS:vm_state"], server["OS-EXT-STS:task_state"]

    def _sample(self) -> tuple:
        """A consistent sample: the migration read while the server's state held still
        (two reads of it, equal, around the migration's)."""
        while True:
            before = self._states()
            migs = self.dep.api("GET", f"/os-migrations?instance_uuid={self.server_id}",
                                version="2.80").json()["migrations"]
            if self._states() == before:
                newest = max(migs, key=lambda m: m["id"])["status"] if migs else None
                return (*before, newest)

    def _run(self) -> None:
        while not self._stop.is_set():
            sample = self._sample()
            if not self.seen or self.seen[-1] != sample:
                self.seen.append(sample)
            time.sleep(0.005)

    def __enter__(self) -> Recorder:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(5)
        self.seen.append(self._sample())


def is_subsequence(observed: list[tuple], allowed: list[tuple]) -> bool:
    """Every observed sample is in `allowed`, in that order (samples may be skipped)."""
    position = 0
    for sample in observed:
        while position < len(allowed) and allowed[position] != sample:
            position += 1
        if position == len(allowed):
            return False
    return True
