"""The deployment under test: PostgreSQL, a RabbitMQ virtual host, and novalite's API,
conductor, scheduler and fake compute agents as separate processes (and, for a fleet of
many fake hosts, a RabbitMQ node of the benchmark's own: PrivateRabbit).

It reuses tests.functional.fixtures (config files, process start/stop, the REST
helper) with benchmark settings: no debug logging, Nova's default heartbeat cadence,
no quota in the way, and compute agents that each run N fake hosts.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import requests
import sqlalchemy as sa

from novalite.db import models
from tests.functional.fixtures import ADMIN_TOKEN, RABBIT, Deployment, RabbitVhost, free_port

PG = os.environ.get("NOVALITE_TEST_PG", "postgres@127.0.0.1:5432")
COMPUTE_BINARY = "novalite-compute"


def _pg_parts() -> tuple[str, str, int]:
    user, _, hostport = PG.rpartition("@")
    host, _, port = hostport.partition(":")
    return user or "postgres", host or "127.0.0.1", int(port or 5432)


def _pg_admin():
    import psycopg2

    user, host, port = _pg_parts()
    conn = psycopg2.connect(host=host, port=port, user=user, dbname="postgres",
                            connect_timeout=5)
    conn.autocommit = True
    return conn


def unreachable() -> str | None:
    """Why the benchmark cannot run here (None: PostgreSQL and RabbitMQ answer)."""
    try:
        _pg_admin().close()
    except Exception as exc:  # noqa: BLE001 - any driver error means "not reachable"
        return f"PostgreSQL ({PG}) unreachable: {exc}"
    if shutil.which("rabbitmqctl") is None:
        return "rabbitmqctl not found (RabbitMQ is needed)"
    host, _, port = RABBIT.rpartition("@")[2].partition(":")
    try:
        socket.create_connection((host, int(port or 5672)), timeout=5).close()
    except OSError as exc:
        return f"RabbitMQ ({host}:{port}) unreachable: {exc}"
    return None


class Database:
    """A throwaway PostgreSQL database, like tests/conftest.py's db_url."""

    def __init__(self) -> None:
        self.name = f"novalite_bench_{uuid.uuid4().hex[:12]}"
        user, host, port = _pg_parts()
        self.url = f"postgresql+psycopg2://{user}@{host}:{port}/{self.name}"

    def create(self) -> str:
        conn = _pg_admin()
        try:
            with conn.cursor() as cur:
                cur.execute(f'CREATE DATABASE "{self.name}" ENCODING \'UTF8\' '
                            f"TEMPLATE template0")
        finally:
            conn.close()
        return self.url

    def drop(self) -> None:
        conn = _pg_admin()
        try:
            with conn.cursor() as cur:
                cur.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        finally:
            conn.close()


class BenchDeployment(Deployment):
    """fixtures.Deployment with benchmark configs, an engine on its database and a few
    helpers to start, watch and retire fake compute hosts."""

    def __init__(self, workdir: Path, db_url: str, transport_url: str) -> None:
        super().__init__(workdir, db_url, transport_url)
        self.engine = sa.create_engine(db_url, pool_size=4, max_overflow=8)
        self._local = threading.local()
        self.compute_names: list[str] = []
        self.profile = False  # run every service under bench.profiled (yappi)
        # Extra controller options {section: {option: value}} (python -m bench --set).
        self.overrides: dict[str, dict[str, str]] = {}

    # -- configuration ------------------------------------------------------------
    def controller_config(self, config_name: str = "controller",
                          database: dict[str, Any] | None = None,
                          **default_overrides: Any) -> Path:
        """The controller's config (`config_name`.conf; another name for a second
        conductor, e.g. one on the fleet's own broker; `database`: extra [database]
        options)."""
        defaults = {"transport_url": self.transport_url,
                    "state_path": self.workdir / "controller", "host": "controller",
                    "report_interval": 10, "service_down_time": 60, "debug": False,
                    **default_overrides}
        sections: dict[str, dict[str, Any]] = {
            "DEFAULT": defaults,
            # novalite's pool defaults: 3 processes × 30 fit PostgreSQL's 100 connections.
            "database": {"connection": self.db_url, **(database or {})},
            "image": {"local_dir": self.workdir / "images"},
            "quota": {"instances": -1, "cores": -1, "ram": -1},
            "api": {"listen": "127.0.0.1", "port": self.api_port, "auth_strategy": "token",
                    "token_file": self.token_file, "threads": 16},
        }
        for section, values in self.overrides.items():
            sections.setdefault(section, {}).update(values)
        return self.write_config(config_name, sections)

    def compute_config(self, host: str, compute: dict[str, Any] | None = None,
                       libvirt: dict[str, Any] | None = None, driver: str = "fake",
                       transport_url: str | None = None, **fake_driver: Any) -> Path:
        state = self.workdir / host
        state.mkdir(exist_ok=True)
        return self.write_config(host, {
            "DEFAULT": {"transport_url": transport_url or self.transport_url, "host": host,
                        "state_path": state, "report_interval": 10,
                        "service_down_time": 60, "compute_driver": driver,
                        "debug": os.environ.get("BENCH_DEBUG") == "1"},
            "compute": {"reserved_host_memory_mb": 0, **(compute or {})},
            "image": {"local_dir": self.workdir / "images"},
            "fake_driver": fake_driver,
            "libvirt": libvirt or {},
        })

    def start(self, name: str, module: str, config: Path) -> subprocess.Popen:
        """fixtures.Deployment.start, or under bench.profiled when profiling."""
        if not self.profile:
            return super().start(name, module, config)
        log = open(self.workdir / f"{name}.log", "ab")
        cwd = self.workdir / name if (self.workdir / name).is_dir() else self.workdir
        proc = subprocess.Popen(
            [sys.executable, "-m", "bench.profiled", module,
             str(self.workdir / f"{name}.pstats"), "--config-file", str(config)],
            stdout=log, stderr=subprocess.STDOUT, cwd=cwd,
            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
        self.processes[name] = proc
        return proc

    # -- compute agents -----------------------------------------------------------
    def start_compute(self, name: str, hosts: int, zone: str,
                      transport_url: str | None = None, **fake_driver: Any) -> list[str]:
        """A compute agent process running `hosts` fake hosts (on the deployment's virtual
        host, or on `transport_url`); returns their names."""
        fake_driver.setdefault("live_migration_seconds", 0)
        config = self.compute_config(name, compute={"fake_hosts": hosts,
                                                    "availability_zone": zone},
                                     transport_url=transport_url, **fake_driver)
        self.start(name, "compute", config)
        self.compute_names.append(name)
        return [name] if hosts == 1 else [f"{name}-{i}" for i in range(1, hosts + 1)]

    def hosts_up(self, hosts: list[str]) -> int:
        """How many of `hosts` have a compute node and a service heartbeat recent enough
        (read from the database: cheaper than the API for a thousand hosts)."""
        svc, node = models.Service.__table__, models.ComputeNode.__table__
        query = (sa.select(sa.func.count()).select_from(svc.join(
            node, sa.and_(node.c.host == svc.c.host, node.c.deleted == 0)))
                 .where(svc.c.binary == COMPUTE_BINARY, svc.c.deleted == 0,
                        svc.c.host.in_(hosts),
                        svc.c.last_seen_up > sa.func.timezone("UTC", sa.func.now())
                        - sa.text("interval '60 seconds'")))
        with self.engine.connect() as conn:
            return int(conn.scalar(query))

    def wait_hosts(self, hosts: list[str], timeout: float) -> float:
        """Wait until every host is up; returns the seconds it took."""
        start = time.monotonic()
        while self.hosts_up(hosts) < len(hosts):
            for name in self.compute_names:
                proc = self.processes[name]
                if proc.poll() is not None:
                    raise RuntimeError(f"compute agent {name} exited {proc.returncode}:\n"
                                       f"{self.log(name)[-3000:]}")
            if time.monotonic() - start > timeout:
                raise RuntimeError(f"only {self.hosts_up(hosts)} of {len(hosts)} compute "
                                   f"hosts up after {timeout}s")
            time.sleep(0.2)
        return time.monotonic() - start

    def stop_agent(self, name: str, grace: float) -> tuple[float, bool]:
        """SIGTERM, then SIGKILL after `grace` seconds; (seconds, exited cleanly)."""
        proc = self.processes[name]
        if self.profile:
            grace = max(grace, 60.0)  # let the profiler write its stats
        start = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(grace)
            clean = True
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(30)
            clean = False
        if name in self.compute_names:
            self.compute_names.remove(name)
        return time.monotonic() - start, clean

    def stop_agents(self, names: list[str], grace: float) -> tuple[float, bool]:
        """stop_agent for several agents at once: SIGTERM to all, then wait; (seconds
        until the last exited, all exited cleanly)."""
        if self.profile:
            grace = max(grace, 60.0)  # let the profiler write its stats
        start = time.monotonic()
        for name in names:
            if self.processes[name].poll() is None:
                self.processes[name].send_signal(signal.SIGTERM)
        clean = True
        for name in names:
            proc = self.processes[name]
            try:
                proc.wait(max(0.1, grace - (time.monotonic() - start)))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(30)
            clean = clean and proc.returncode == 0
            if name in self.compute_names:
                self.compute_names.remove(name)
        return time.monotonic() - start, clean

    def retire(self, name: str, hosts: list[str], grace: float = 10.0) -> None:
        """Stop an agent (killed if not done after `grace` s; a clean stop takes a second
        or two, however many fake hosts) and remove its hosts (services, nodes,
        allocations) from the database, so the next section's scheduling never sees
        them."""
        if name in self.processes and self.processes[name].poll() is None:
            self.stop_agent(name, grace)
        svc, node = models.Service.__table__, models.ComputeNode.__table__
        alloc = models.Allocation.__table__
        with self.engine.begin() as conn:
            ids = sa.select(node.c.id).where(node.c.host.in_(hosts))
            conn.execute(alloc.delete().where(alloc.c.compute_node_id.in_(ids)))
            conn.execute(node.update().where(node.c.host.in_(hosts), node.c.deleted == 0)
                         .values(deleted=node.c.id))
            conn.execute(svc.update().where(svc.c.host.in_(hosts), svc.c.deleted == 0)
                         .values(deleted=svc.c.id))

    def terminate_all(self, grace: float = 5.0) -> None:
        """SIGTERM everything, SIGKILL what has not exited `grace` s later (a clean stop
        takes a second or two)."""
        for proc in self.processes.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace
        for proc in self.processes.values():
            try:
                proc.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(30)

    def wait_controller(self, timeout: float = 120) -> None:
        """Until the conductor and the scheduler answer a ping over RPC (this process
        must be an RPC peer already, see bench.floor.init_rpc) and the API answers."""
        from novalite import context as nl_context
        from novalite.conductor import rpcapi as conductor_rpcapi
        from novalite.scheduler import rpcapi as scheduler_rpcapi

        ctxt = nl_context.get_admin_context()
        deadline = time.monotonic() + timeout
        for api in (conductor_rpcapi.ConductorAPI(), scheduler_rpcapi.SchedulerAPI()):
            while True:
                try:
                    api.ping(ctxt, timeout=2)
                    break
                except Exception:
                    if time.monotonic() > deadline:
                        raise
        while True:
            try:
                self.api("GET", "/").raise_for_status()
                return
            except requests.RequestException:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    # -- REST -------------------------------------------------------------------------
    def session(self) -> requests.Session:
        """A keep-alive HTTP session per thread."""
        sess = getattr(self._local, "session", None)
        if sess is None:
            sess = self._local.session = requests.Session()
        return sess

    def api(self, method: str, path: str, token: str = ADMIN_TOKEN,
            version: str | None = None, **kwargs: Any) -> requests.Response:
        headers = {"X-Auth-Token": token, **kwargs.pop("headers", {})}
        if version:
            headers["OpenStack-API-Version"] = f"compute {version}"
        return self.session().request(method, self.endpoint + path, headers=headers,
                                      timeout=60, **kwargs)

    def create_server(self, flavor: str, image: str, zone: str, name: str = "bench"
                      ) -> str:
        resp = self.api("POST", "/servers", version="2.90", json={"server": {
            "name": name, "flavorRef": flavor, "imageRef": image, "networks": "none",
            "availability_zone": zone}})
        if resp.status_code != 202:
            raise RuntimeError(f"create: {resp.status_code} {resp.text[:300]}")
        return resp.json()["server"]["id"]

    def action(self, server_id: str, body: dict, version: str = "2.90") -> None:
        resp = self.api("POST", f"/servers/{server_id}/action", version=version, json=body)
        if resp.status_code not in (202, 204):
            raise RuntimeError(f"{next(iter(body))}: {resp.status_code} {resp.text[:300]}")

    def delete_server(self, server_id: str) -> None:
        resp = self.api("DELETE", f"/servers/{server_id}")
        if resp.status_code != 204:
            raise RuntimeError(f"delete: {resp.status_code} {resp.text[:300]}")

    # -- measurements of processes and of RabbitMQ ----
    @staticmethod
    def broker_sockets() -> tuple[int, int]:
        """(sockets used, socket limit) of the RabbitMQ node (shared by everyone)."""
        out = subprocess.run(["rabbitmqctl", "-q", "status", "--formatter", "json"],
                             capture_output=True, text=True, timeout=120, check=True).stdout
        fds = json.loads(out)["file_descriptors"]
        return int(fds["sockets_used"]), int(fds["sockets_limit"])

    def rss_kib(self, name: str) -> int:
        return proc_status(self.processes[name].pid, "VmRSS")

    def threads(self, name: str) -> int:
        return proc_status(self.processes[name].pid, "Threads")

    def rabbit_count(self, what: str) -> int:
        """Connections or queues in this deployment's virtual host."""
        vhost = self.transport_url.rsplit("/", 1)[1]
        if what == "connections":
            # list_connections ignores -p and lists the whole (shared) broker's: filter.
            out = subprocess.run(["rabbitmqctl", "-q", "list_connections", "vhost"],
                                 capture_output=True, text=True, timeout=120,
                                 check=True).stdout
            return sum(1 for line in out.splitlines() if line.strip() == vhost)
        out = subprocess.run(["rabbitmqctl", "-q", f"list_{what}", "-p", vhost, "name"],
                             capture_output=True, text=True, timeout=120, check=True).stdout
        lines = [line for line in out.splitlines() if line.strip()]
        return len(lines[1:] if lines and lines[0].strip() == "name" else lines)


# Debian/Ubuntu install RabbitMQ's scripts here; /usr/sbin's are a wrapper that re-runs
# them as the rabbitmq user, who could not write the benchmark's work directory.
RABBIT_BIN = Path("/usr/lib/rabbitmq/bin")


def _rabbit_script(name: str) -> str | None:
    for path in (str(RABBIT_BIN / name), shutil.which(name)):
        if path and os.path.exists(path) and Path(path).resolve().name == name:
            return path
    return None


class PrivateRabbit:
    """A RabbitMQ node of the benchmark's own, for the fleet of fake hosts: the
    machine's broker is shared and allows few sockets (one per fake host).

    Its own node name, AMQP and distribution ports (on 127.0.0.1), configuration, Mnesia
    and log directories, all under `root`; as many file descriptors as `ulimit -n 65536`
    (or the hard limit) gives. guest may log in from loopback (RabbitMQ's default). The
    machine's broker and its files are never touched. start() raises RuntimeError (with
    the reason) when the node cannot be started; stop() stops it and removes `root`.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.node = f"novalite-bench-{uuid.uuid4().hex[:8]}@localhost"
        self.port, self.dist_port = free_port(), free_port()
        self.url = f"rabbit://guest:guest@127.0.0.1:{self.port}/"
        self.proc: subprocess.Popen | None = None
        self.server, self.ctl_script = _rabbit_script("rabbitmq-server"), _rabbit_script(
            "rabbitmqctl")

    def _env(self) -> dict[str, str]:
        r = self.root
        return {**os.environ,
                "HOME": str(r / "home"),  # the Erlang cookie of this node and its rabbitmqctl
                "RABBITMQ_NODENAME": self.node,
                "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
                "RABBITMQ_NODE_PORT": str(self.port),
                "RABBITMQ_DIST_PORT": str(self.dist_port),
                "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS":
                    "-kernel inet_dist_use_interface {127,0,0,1}",
                "ERL_EPMD_ADDRESS": "127.0.0.1",
                # Our own files, so that none of the machine's (/etc/rabbitmq) is read.
                "RABBITMQ_CONF_ENV_FILE": str(r / "rabbitmq-env.conf"),
                "RABBITMQ_CONFIG_FILE": str(r / "rabbitmq.conf"),
                "RABBITMQ_ADVANCED_CONFIG_FILE": str(r / "advanced.config"),
                "RABBITMQ_ENABLED_PLUGINS_FILE": str(r / "enabled_plugins"),
                "RABBITMQ_MNESIA_BASE": str(r / "mnesia"),
                "RABBITMQ_LOG_BASE": str(r / "log")}

    def start(self, timeout: float = 90.0) -> None:
        if self.server is None or self.ctl_script is None:
            raise RuntimeError("rabbitmq-server not installed")
        for sub in ("home", "mnesia", "log"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        (self.root / "rabbitmq-env.conf").write_text("")
        (self.root / "rabbitmq.conf").write_text(
            f"listeners.tcp.1 = 127.0.0.1:{self.port}\n"
            "loopback_users.guest = true\n")
        (self.root / "enabled_plugins").write_text("[].\n")
        log = open(self.root / "server.log", "ab")
        # The fleet needs ~1 socket per fake host: raise the soft limit as far as allowed.
        script = 'ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"; exec "$0"'
        self.proc = subprocess.Popen(["sh", "-c", script, self.server], env=self._env(),
                                     stdout=log, stderr=subprocess.STDOUT, cwd=self.root,
                                     start_new_session=True)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                tail = (self.root / "server.log").read_text(errors="replace")[-800:]
                self.stop()
                raise RuntimeError(f"rabbitmq-server exited {self.proc.returncode}: {tail}")
            try:  # AMQP listens once the node has booted
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(
                        f"rabbitmq-server not listening after {timeout:.0f} s") from None
                time.sleep(0.2)

    def ctl(self, *args: str) -> str:
        return subprocess.run([self.ctl_script, "-n", self.node, "-q", *args],
                              env=self._env(), capture_output=True, text=True, timeout=120,
                              check=True).stdout

    def sockets(self) -> tuple[int, int]:
        """(sockets used, socket limit) of this node."""
        fds = json.loads(self.ctl("status", "--formatter", "json"))["file_descriptors"]
        return int(fds["sockets_used"]), int(fds["sockets_limit"])

    def stop(self, grace: float = 60.0) -> None:
        """SIGTERM (the script stops the node cleanly), SIGKILL after `grace` s; then
        remove its files."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                pass
        if self.proc is not None:
            try:  # the Erlang VM, should it have outlived its script
                os.killpg(self.proc.pid, signal.SIGKILL)
            except OSError:
                pass
            self.proc.wait(30)
        shutil.rmtree(self.root, ignore_errors=True)


def proc_status(pid: int, field: str) -> int:
    """A number from /proc/<pid>/status (VmRSS in KiB, Threads, ...)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _system_cpu() -> dict[str, float]:
    """CPU seconds of every PostgreSQL and RabbitMQ process on the machine, keyed
    "postgres:<pid>" / "rabbitmq:<pid>" (shared with anything else using them: read
    their sums as upper bounds)."""
    out: dict[str, float] = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            comm = (proc / "comm").read_text().strip()
            if comm in ("postgres", "beam.smp"):
                group = "postgres" if comm == "postgres" else "rabbitmq"
                out[f"{group}:{proc.name}"] = cpu_seconds(int(proc.name))
        except (OSError, ValueError, IndexError):
            continue
    return out


def cpu_snapshot(dep: BenchDeployment) -> dict[str, float]:
    """CPU seconds so far of each novalite process, of each PostgreSQL and RabbitMQ
    process, and of this process (the HTTP clients and the watcher)."""
    out = {name: cpu_seconds(proc.pid) for name, proc in dep.processes.items()
           if proc.poll() is None}
    out.update(_system_cpu())
    out["bench"] = cpu_seconds(os.getpid())
    return out


def cpu_used(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """CPU seconds spent between two snapshots, per process (PostgreSQL and RabbitMQ
    summed over their processes; one that exited in between is left out)."""
    used: dict[str, float] = {}
    for key, value in after.items():
        name = key.split(":", 1)[0]
        used[name] = used.get(name, 0.0) + value - before.get(key, 0.0)
    return {name: round(value, 3) for name, value in used.items()}


class Environment:
    """Database, virtual host, work directory and the controller: made on enter, all
    removed on exit."""

    def __init__(self, keep: bool = False, profile: bool = False,
                 overrides: dict[str, dict[str, str]] | None = None) -> None:
        self.keep, self.profile = keep or profile, profile
        self.overrides = overrides or {}
        self.database = Database()
        self.vhost = RabbitVhost()
        self.workdir = Path(tempfile.mkdtemp(prefix="novalite-bench-"))
        self.dep: BenchDeployment | None = None

    def __enter__(self) -> BenchDeployment:
        db_url = self.database.create()
        try:
            transport_url = self.vhost.create()
            self.dep = BenchDeployment(self.workdir, db_url, transport_url)
            self.dep.profile, self.dep.overrides = self.profile, self.overrides
            self.dep.start_controller()
        except BaseException:
            self.__exit__()
            raise
        return self.dep

    def __exit__(self, *exc: Any) -> None:
        if self.dep is not None:
            self.dep.terminate_all(grace=30 if self.profile else 5)
            self.dep.engine.dispose()
        self.vhost.delete()
        self.database.drop()
        if not self.keep:
            shutil.rmtree(self.workdir, ignore_errors=True)
        else:
            print(f"kept {self.workdir}")
