"""Real libvirt for functional tests: a tiny guest, libvirt "hosts" and console helpers.

* ``build_guest()`` builds (once, cached under ``.cache/libvirt-guest``) a Debian cloud
  kernel, a busybox initramfs and a 64 MiB raw root disk with tools/libvirt/build-guest.sh.
  The guest prints one ``GUEST-BOOTED boot=.. cpus=.. mem_kb=.. vda_bytes=.. marker=..``
  line, then ``tick <i> up=<uptime> boot=<boot id>`` every second on its serial console,
  and powers off on an ACPI power-button press. ``novalite_fill_mb=N`` on the kernel
  command line makes it fill N MiB of memory with random data first (``FILLED N``).
* ``LibvirtHost`` is one root libvirtd (QEMU/TCG) in its own mount and UTS namespace, all
  state under ``state_dir/name``, reached at ``qemu+tcp://127.0.0.1:<port>/system``
  (tools/libvirt/host.sh). Several hosts on one machine can live-migrate between each
  other; pass ``tcp://127.0.0.1`` as the migration URI and listen address per call.
* ``require_libvirt()`` skips a test when the machine cannot run them (not root, packages
  missing), or fails it when ``NOVALITE_TEST_REQUIRE_LIBVIRT=1`` (CI).
Domains must be ``type='qemu'`` (TCG) with a ``qemu64`` CPU: KVM is not usable here.
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
import socket
import subprocess
import time
import uuid as uuidlib
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.functional.fixtures import free_port

try:
    import libvirt
except ImportError:  # the tests that need it skip (or fail) through require_libvirt()
    libvirt = None
else:
    # libvirt prints every error to stderr by default, even the ones callers handle.
    libvirt.registerErrorHandler(lambda *args: None, None)

REPO = Path(__file__).resolve().parents[2]
TOOLS = REPO / "tools" / "libvirt"
GUEST_CACHE = REPO / ".cache" / "libvirt-guest"
# QEMU capabilities probed by one libvirtd, reused by the next (a start takes 0.2 s, not 8).
CAPS_CACHE = REPO / ".cache" / "libvirt-qemu-caps"

# Incoming-migration port ranges (MIN..MIN+20) handed to hosts of this process.
_MIGRATION_PORTS = itertools.count(49400, 25)


def libvirt_unavailable() -> str | None:
    """Why real libvirt tests cannot run on this machine, or None when they can."""
    if os.geteuid() != 0:
        return "real libvirt tests need root (libvirtd runs in private mount namespaces)"
    for tool in ("libvirtd", "virsh", "qemu-system-x86_64", "qemu-img", "unshare"):
        if shutil.which(tool) is None:
            return f"{tool} not found (run tools/libvirt/install.sh)"
    if libvirt is None:
        return "the libvirt Python module (libvirt-python) is not installed"
    return None


def require_libvirt() -> None:
    """Skip the calling test when libvirt is unavailable; fail it when it is required."""
    reason = libvirt_unavailable()
    if reason is None:
        return
    if os.environ.get("NOVALITE_TEST_REQUIRE_LIBVIRT") == "1":
        pytest.fail(f"{reason} (NOVALITE_TEST_REQUIRE_LIBVIRT=1)", pytrace=False)
    pytest.skip(reason)


@dataclass
class Guest:
    kernel: Path
    initrd: Path
    root: Path


def build_guest(cache_dir: Path = GUEST_CACHE) -> Guest:
    """The test guest, built into cache_dir unless it is there and up to date."""
    cache_dir = Path(cache_dir)
    _run([str(TOOLS / "build-guest.sh"), str(cache_dir)], "build-guest.sh")
    return Guest(cache_dir / "vmlinuz", cache_dir / "initrd.gz", cache_dir / "root.raw")


def _run(cmd: list[str], what: str, env: dict[str, str] | None = None) -> str:
    proc = subprocess.run(["bash", *cmd], capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"{what} failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}")
    return proc.stdout


def _ports_free(first: int, count: int) -> bool:
    for port in range(first, first + count):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                return False
    return True


def _migration_port_min() -> int:
    for first in _MIGRATION_PORTS:
        if first + 20 > 65535:
            break
        if _ports_free(first, 21):
            return first
    raise RuntimeError("no free migration port range left")


class LibvirtHost:
    """One libvirtd "host" on this machine (tools/libvirt/host.sh); state in state_dir/name."""

    def __init__(
        self,
        name: str,
        state_dir: Path,
        tcp_port: int | None = None,
        migration_port_min: int | None = None,
        host_uuid: str | None = None,
    ) -> None:
        self.name = name
        self.state_dir = Path(state_dir)
        self.path = self.state_dir / name
        self.tcp_port = tcp_port or free_port()
        self.migration_port_min = migration_port_min or _migration_port_min()
        self.host_uuid = host_uuid or str(uuidlib.uuid4())
        self.uri = f"qemu+tcp://127.0.0.1:{self.tcp_port}/system"

    def __repr__(self) -> str:
        return f"LibvirtHost({self.name!r}, {self.uri})"

    @property
    def log_path(self) -> Path:
        """libvirtd's log (warnings and errors)."""
        return self.path / "log" / "libvirtd.log"

    def start(self) -> None:
        env = dict(os.environ, NOVALITE_LIBVIRT_CAPS_CACHE=str(CAPS_CACHE))
        _run(
            [str(TOOLS / "host.sh"), "start", self.name, str(self.state_dir),
             str(self.tcp_port), str(self.migration_port_min), self.host_uuid],
            f"starting libvirt host {self.name}", env=env,
        )

    def stop(self) -> None:
        """Destroy the host's domains and stop its libvirtd; nothing when not running."""
        _run([str(TOOLS / "host.sh"), "stop", self.name, str(self.state_dir)],
             f"stopping libvirt host {self.name}")

    def __enter__(self) -> LibvirtHost:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def connection(self) -> libvirt.virConnect:
        """A new connection to this host (the caller closes it)."""
        return libvirt.open(self.uri)

    def domain_names(self) -> list[str]:
        """Every domain this host knows, running or only defined."""
        conn = self.connection()
        try:
            return sorted(dom.name() for dom in conn.listAllDomains(0))
        finally:
            conn.close()

    def running(self, uuid: str) -> bool:
        """Whether a domain with this uuid exists here and is running."""
        conn = self.connection()
        try:
            try:
                dom = conn.lookupByUUIDString(uuid)
            except libvirt.libvirtError:
                return False
            return dom.state()[0] == libvirt.VIR_DOMAIN_RUNNING
        finally:
            conn.close()


# --- the guest's serial console (a file written by QEMU) ----------------------------------

_TICK = re.compile(r"(?m)^tick (\d+) up=\S+ boot=([0-9a-f]+)")
_BOOTED = re.compile(
    r"GUEST-BOOTED boot=(\S+) cpus=(\d+) mem_kb=(\d+) vda_bytes=(\d+) marker=([^\r\n]*)"
)


def read_console(path: Path) -> str:
    """The console log so far ('' before QEMU created it)."""
    try:
        return Path(path).read_bytes().decode("utf-8", "replace")
    except FileNotFoundError:
        return ""


def console_ticks(path: Path) -> list[tuple[int, str]]:
    """Every ``tick`` line as (tick number, boot id), in order."""
    return [(int(n), boot) for n, boot in _TICK.findall(read_console(path))]


def wait_for_console(path: Path, needle: str, timeout: float = 90, after: int = 0) -> str:
    """Wait until ``needle`` appears in the console after character offset ``after``; the
    whole console text then. AssertionError with the console's tail on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        text = read_console(path)
        if needle in text[after:]:
            return text
        if time.monotonic() >= deadline:
            raise AssertionError(
                f"{needle!r} not on console {path} after {timeout}s (offset {after}); "
                f"its tail:\n{text[-2000:]}"
            )
        time.sleep(0.05)


def booted_lines(path: Path) -> list[dict]:
    """Every GUEST-BOOTED line, parsed: boot, cpus, mem_kb, vda_bytes, marker."""
    return [
        {"boot": boot, "cpus": int(cpus), "mem_kb": int(mem), "vda_bytes": int(vda),
         "marker": marker.strip()}
        for boot, cpus, mem, vda, marker in _BOOTED.findall(read_console(path))
    ]
