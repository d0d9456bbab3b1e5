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
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

RABBIT = os.environ.get("NOVALITE_TEST_RABBIT", "guest:guest@127.0.0.1:5672")
ADMIN_TOKEN = "admin-token"
MEMBER_TOKEN = "member-token"


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
                "api": {
                    "listen": "127.0.0.1",
                    "port": self.api_port,
                    "auth_strategy": "token",
                    "token_file": self.token_file,
                },
            },
        )

    def compute_config(self, host: str, **fake_sizes: Any) -> Path:
        """A compute node's config: RabbitMQ only, deliberately no [database] section."""
        state = self.workdir / host
        state.mkdir(exist_ok=True)
        return self.write_config(
            host,
            {
                "DEFAULT": {
                    "transport_url": self.transport_url,
                    "host": host,
                    "state_path": state,
                    "report_interval": 1,
                    "service_down_time": 5,
                    "compute_driver": "fake",
                    "debug": True,
                },
                "fake_driver": fake_sizes,
            },
        )

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

    # -- REST ---------------------------------------------------------------
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
