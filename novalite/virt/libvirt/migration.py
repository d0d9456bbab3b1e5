"""One live migration job on the source host: libvirt flags and parameters from the
migrate data, migrateToURI3 on a connection of its own, and a monitor on the shared
connection that reads jobStats into progress, raises the allowed downtime in steps, and
carries out abort and force-complete requests.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from novalite import exception
from novalite.conf import CONF
from novalite.utils import concurrency
from novalite.virt.libvirt import config
from novalite.virt.libvirt.host import Host, is_error, libvirt

LOG = logging.getLogger(__name__)

POLL_INTERVAL = 0.5  # seconds between two jobStats reads
PROGRESS_KEYS = ("memory_total", "memory_processed", "memory_remaining",
                 "disk_total", "disk_processed", "disk_remaining")
SAFE_CACHE_MODES = ("none", "directsync")


def flags_and_params(domain_xml: str, migrate_data: dict, cache_mode: str) -> tuple[int, dict]:
    """migrateToURI3's flags and parameters for this migration."""
    flags = (libvirt.VIR_MIGRATE_LIVE | libvirt.VIR_MIGRATE_PEER2PEER
             | libvirt.VIR_MIGRATE_PERSIST_DEST | libvirt.VIR_MIGRATE_UNDEFINE_SOURCE)
    source_dir = migrate_data.get("source_instances_path")
    dest_dir = migrate_data.get("dest_instances_path")
    dest_xml = domain_xml
    if source_dir and dest_dir:
        dest_xml = config.rewrite_paths(domain_xml, source_dir, dest_dir)
    address = migrate_data["migration_address"]
    params = {
        # Memory (and NBD disk) traffic goes to the address the destination advertised,
        # not to whatever its host name resolves to on the source.
        libvirt.VIR_MIGRATE_PARAM_URI: f"tcp://{_bracketed(address)}",
        libvirt.VIR_MIGRATE_PARAM_LISTEN_ADDRESS: address,
        libvirt.VIR_MIGRATE_PARAM_DEST_XML: dest_xml,
        libvirt.VIR_MIGRATE_PARAM_PERSIST_XML: dest_xml,
    }
    if migrate_data.get("block_migration"):
        flags |= libvirt.VIR_MIGRATE_NON_SHARED_INC
        params[libvirt.VIR_MIGRATE_PARAM_MIGRATE_DISKS] = config.disk_targets(domain_xml)
    elif migrate_data.get("shared_storage") and cache_mode in SAFE_CACHE_MODES:
        # libvirt trusts only the network filesystems it knows to be shared; novalite
        # proved both hosts see one directory (the probe file), and with the host page
        # cache bypassed nothing of the disk is left behind on the source. With another
        # cache mode libvirt's refusal stands: it names the cache mode to change.
        flags |= libvirt.VIR_MIGRATE_UNSAFE
    if CONF.libvirt.live_migration_permit_post_copy:
        flags |= libvirt.VIR_MIGRATE_POSTCOPY
    if CONF.libvirt.live_migration_bandwidth:
        params[libvirt.VIR_MIGRATE_PARAM_BANDWIDTH] = CONF.libvirt.live_migration_bandwidth
    return flags, params


def _bracketed(address: str) -> str:
    return f"[{address}]" if ":" in address else address


def downtime_steps(memory_bytes: int) -> list[tuple[float, int]]:
    """(seconds after the start, max downtime in ms): live_migration_downtime reached in
    live_migration_downtime_steps equal steps, one every downtime_delay per GiB."""
    opts = CONF.libvirt
    steps = opts.live_migration_downtime_steps
    delay = opts.live_migration_downtime_delay * max(memory_bytes / 2**30, 1 / 16)
    base = max(opts.live_migration_downtime // steps, 50)
    increment = (opts.live_migration_downtime - base) / max(steps - 1, 1)
    return [(delay * i, int(base + increment * i)) for i in range(steps)]


class LiveMigrationJob:
    """Run one migration to completion; abort() and force_complete() may be called from
    any thread while run() is in progress."""

    def __init__(self, host: Host, uuid: str, dest_uri: str, flags: int, params: dict) -> None:
        self.host, self.uuid, self.dest_uri = host, uuid, dest_uri
        self.flags, self.params = flags, params
        self.aborted = False
        self.paused = False
        self._abort_sent = False
        self._done = concurrency.Event()
        self._error: Exception | None = None

    def run(self, progress: Callable[[dict], None]) -> None:
        domain = self.host.get_domain(self.uuid)
        if domain is None:
            raise exception.VirtDriverError(reason=f"no domain {self.uuid} on this host")
        memory = domain.info()[1] * 1024
        steps = downtime_steps(memory)
        concurrency.spawn(self._migrate, name=f"migrate-{self.uuid[:8]}")
        started = time.monotonic()
        last: dict = {}
        while not self._done.wait(POLL_INTERVAL):
            stats = self._job_stats(domain)
            if not stats:  # the job has not started yet (or has just ended)
                continue
            elapsed = time.monotonic() - started
            while steps and steps[0][0] <= elapsed:
                _, downtime = steps.pop(0)
                self._call(domain.migrateSetMaxDowntime, downtime, 0)
            if self.aborted and not self._abort_sent:
                self._send_abort(domain)  # asked before libvirt had a job to abort
            last = stats
            progress(stats)
        if self._error is not None:
            if self.paused:
                self._call(domain.resume)  # the guest stays on the source: let it run
            if self.aborted:
                raise exception.LiveMigrationAborted(instance_uuid=self.uuid)
            raise exception.VirtDriverError(
                reason=f"live migration to {self.dest_uri} failed: {self._error}")
        final = {key: last.get(key, 0) for key in PROGRESS_KEYS}
        final["memory_processed"] = max(final["memory_processed"], final["memory_total"])
        final["disk_processed"] = max(final["disk_processed"], final["disk_total"])
        final["memory_remaining"] = final["disk_remaining"] = 0
        progress(final)

    def _migrate(self) -> None:
        conn = None
        try:
            conn = self.host.open_connection()
            conn.lookupByUUIDString(self.uuid).migrateToURI3(self.dest_uri, self.params,
                                                             self.flags)
        except Exception as err:
            self._error = err
        finally:
            if conn is not None:
                try:
                    conn.close()
                except Exception:
                    pass
            self._done.set()

    @staticmethod
    def _job_stats(domain) -> dict:
        try:
            stats = domain.jobStats(0)
        except libvirt.libvirtError:
            return {}
        if (stats.get("type", libvirt.VIR_DOMAIN_JOB_NONE) == libvirt.VIR_DOMAIN_JOB_NONE
                or not stats.get("memory_total")):  # not started, or already torn down
            return {}
        return {key: int(stats.get(key, 0)) for key in PROGRESS_KEYS}

    def _call(self, method, *args) -> None:
        try:
            method(*args)
        except libvirt.libvirtError as err:
            if not is_error(err, libvirt.VIR_ERR_OPERATION_INVALID):
                LOG.warning("%s on the migration of %s failed: %s", method.__name__,
                            self.uuid, err)

    def abort(self) -> None:
        self.aborted = True
        domain = self.host.get_domain(self.uuid)
        if domain is not None:
            self._send_abort(domain)

    def _send_abort(self, domain) -> None:
        try:
            domain.abortJob()
            self._abort_sent = True
        except libvirt.libvirtError as err:
            # No job yet: the monitor sends it again once the job shows up.
            LOG.info("Abort of the migration of %s not taken yet: %s", self.uuid, err)

    def force_complete(self) -> None:
        domain = self.host.get_domain(self.uuid)
        if domain is None:
            return
        if self.flags & libvirt.VIR_MIGRATE_POSTCOPY:
            self._call(domain.migrateStartPostCopy, 0)
        else:
            self.paused = True
            self._call(domain.suspend)
