"""The real-virtualisation row: novalite's end-to-end live migration of a real QEMU
(TCG) guest between two libvirtd "hosts" on this machine, against a bare
``virsh migrate`` of the same guest with the same flags (live, peer-to-peer, persist
on the destination, undefine on the source, and "unsafe" as novalite passes it for a
directory it proved shared; shared instances path, so memory only).

Uses the functional tests' helpers (tests/functional/libvirt_hosts.py); skipped with
a note when libvirt cannot run here. novalite's figure runs from the API request to
the migration's [completed]; virsh's from its start to its exit.
"""

from __future__ import annotations

import subprocess
import time
import uuid

from bench import watch
from bench.deploy import BenchDeployment
from bench.report import Row, percentile, skipped

WHAT = "libvirt: live migration vs virsh migrate"
CMDLINE = "console=ttyS0 quiet panic=-1"
ZONE = "bench-libvirt"


def unavailable() -> str | None:
    try:
        from tests.functional.libvirt_hosts import libvirt_unavailable
    except ImportError as exc:  # pytest or libvirt-python missing
        return str(exc)
    return libvirt_unavailable()


def _boot(dep: BenchDeployment, watcher: watch.Watcher, flavor: str, image: str,
          host: str) -> str:
    start = time.perf_counter()
    resp = dep.api("POST", "/servers", version="2.90", json={"server": {
        "name": "lv", "flavorRef": flavor, "imageRef": image, "networks": "none",
        "host": host}})
    if resp.status_code != 202:
        raise RuntimeError(f"create: {resp.status_code} {resp.text[:300]}")
    sid = resp.json()["server"]["id"]
    watcher.wait(sid, watch.instance_is("active"), start, timeout=180)
    return sid


def run(dep: BenchDeployment, watcher: watch.Watcher, runs: int) -> Row:
    why = unavailable()
    if why:
        return skipped("libvirt", WHAT, why)
    from tests.functional.libvirt_hosts import LibvirtHost, build_guest

    guest = build_guest()
    shared = dep.workdir / "libvirt-instances"
    hosts = {name: LibvirtHost(name, dep.workdir / "libvirt", host_uuid=str(uuid.uuid4()))
             for name in ("lva", "lvb")}
    try:
        for name, host in hosts.items():
            host.start()
            dep.start(name, "compute", dep.compute_config(name, compute={
                "availability_zone": ZONE}, driver="libvirt", libvirt={
                "connection_uri": host.uri, "virt_type": "qemu", "instances_path": shared,
                "live_migration_inbound_addr": "127.0.0.1",
                "live_migration_inbound_uri": host.uri}))
            dep.compute_names.append(name)
        dep.wait_hosts(list(hosts), timeout=120)
        boot = {"kernel_id": dep.add_image("lv-kernel", path=guest.kernel),
                "ramdisk_id": dep.add_image("lv-ramdisk", path=guest.initrd)}
        image = dep.add_image("lv-root", path=guest.root,
                              properties={**boot, "os_command_line": CMDLINE})
        flavor = dep.add_flavor("bench-libvirt", ram=128, vcpus=1, disk=1)
        sid = _boot(dep, watcher, flavor, image, "lva")
        time.sleep(3)  # let the guest's kernel settle

        order = ["lvb", "lva"]
        novalite, steps = [], []
        for index in range(runs):
            start = time.perf_counter()
            dep.action(sid, {"os-migrateLive": {"host": order[index % 2],
                                                "block_migration": "auto"}})
            end = watcher.wait(sid, watch.migration_is("completed"), start, timeout=300)
            novalite.append(end - start)
            steps.append({e[3]: round(e[0] - start, 3) for e in watcher.between(sid, start, end)
                          if e[1] == "m"})
            time.sleep(1)
        bare = []
        where = order[(runs - 1) % 2]
        for _ in range(runs):
            other = "lva" if where == "lvb" else "lvb"
            start = time.perf_counter()
            subprocess.run(["virsh", "-c", hosts[where].uri, "migrate", "--live", "--p2p",
                            "--persistent", "--undefinesource", "--unsafe", f"instance-{sid}",
                            hosts[other].uri, "--migrateuri", "tcp://127.0.0.1",
                            "--listen-address", "127.0.0.1"],
                           check=True, capture_output=True, timeout=300)
            bare.append(time.perf_counter() - start)
            where = other
            time.sleep(1)
    except subprocess.CalledProcessError as exc:
        return Row("libvirt", WHAT, f"FAILED: virsh: {exc.stderr.decode(errors='replace')}"
                   [:300])
    except Exception as exc:  # noqa: BLE001 - a row that says why beats no table
        return Row("libvirt", WHAT, f"FAILED: {type(exc).__name__}: {exc}"[:300])
    finally:
        for name, host in hosts.items():
            if name in dep.processes:
                dep.stop_agent(name, grace=10)
            host.stop()
    # Means over as many runs each way: one direction is ~1 s slower for both tools.
    mean_n, mean_b = sum(novalite) / len(novalite), sum(bare) / len(bare)
    before_copy = percentile([step.get("running", 0.0) for step in steps], 50)
    return Row("libvirt", WHAT,
               f"novalite mean {mean_n:.2f} s vs virsh {mean_b:.2f} s "
               f"({(mean_n - mean_b) * 1000:+.0f} ms; {runs} runs each, both directions, "
               f"128 MiB TCG guest, shared storage; novalite reaches [running] "
               f"{before_copy * 1000:.0f} ms after the request)", ratio=mean_n / mean_b,
               data={"novalite": novalite, "virsh": bare, "migration_steps_s": steps})
