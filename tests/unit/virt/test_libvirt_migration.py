"""The libvirt live-migration job: flags and parameters, downtime steps, and the job
itself against a mocked host and domain (libvirt's test driver cannot migrate)."""

from __future__ import annotations

import threading
import xml.etree.ElementTree as ET
from unittest import mock

import pytest

from novalite import exception
from novalite.virt.libvirt import config

libvirt = pytest.importorskip("libvirt")

from novalite.virt.libvirt import migration  # noqa: E402

UUID = "0b6f1d9a-5c2e-4f3b-8a77-fedcba987654"
SRC = f"/srv/src/instances/{UUID}"
DST = f"/srv/dst/instances/{UUID}"
DEST_URI = "qemu+tcp://192.0.2.20/system"
BASE_FLAGS = (libvirt.VIR_MIGRATE_LIVE | libvirt.VIR_MIGRATE_PEER2PEER
              | libvirt.VIR_MIGRATE_PERSIST_DEST | libvirt.VIR_MIGRATE_UNDEFINE_SOURCE)
OPTIONAL_FLAGS = (libvirt.VIR_MIGRATE_NON_SHARED_INC | libvirt.VIR_MIGRATE_NON_SHARED_DISK
                  | libvirt.VIR_MIGRATE_UNSAFE | libvirt.VIR_MIGRATE_POSTCOPY)


@pytest.fixture(autouse=True)
def fast_poll(monkeypatch):
    monkeypatch.setattr(migration, "POLL_INTERVAL", 0.005)


def domain_xml(directory: str = SRC) -> str:
    return config.GuestConfig(
        virt_type="qemu", uuid=UUID, name=f"instance-{UUID}", memory_mib=128, vcpus=1,
        console_log=f"{directory}/console.log",
        disks=[config.GuestDisk(f"{directory}/disk", "vda"),
               config.GuestDisk(f"{directory}/disk.eph0", "vdb")],
        kernel=f"{directory}/kernel", initrd=f"{directory}/ramdisk").to_xml()


def migrate_data(**overrides) -> dict:
    data = {"migration_address": "192.0.2.20", "libvirt_uri": DEST_URI,
            "source_instances_path": SRC, "dest_instances_path": DST,
            "block_migration": True, "shared_storage": False}
    data.update(overrides)
    return data


# -- flags_and_params ----------------------------------------------------------------------

def test_block_migration_flags_and_params() -> None:
    flags, params = migration.flags_and_params(domain_xml(), migrate_data(), "none")
    assert flags == BASE_FLAGS | libvirt.VIR_MIGRATE_NON_SHARED_INC
    assert params[libvirt.VIR_MIGRATE_PARAM_MIGRATE_DISKS] == ["vda", "vdb"]
    assert params[libvirt.VIR_MIGRATE_PARAM_URI] == "tcp://192.0.2.20"
    assert params[libvirt.VIR_MIGRATE_PARAM_LISTEN_ADDRESS] == "192.0.2.20"
    assert libvirt.VIR_MIGRATE_PARAM_BANDWIDTH not in params
    dest = ET.fromstring(params[libvirt.VIR_MIGRATE_PARAM_DEST_XML])
    assert [d.find("source").get("file") for d in dest.iter("disk")] == [
        f"{DST}/disk", f"{DST}/disk.eph0"]
    assert dest.findtext("os/kernel") == f"{DST}/kernel"
    assert dest.findtext("os/initrd") == f"{DST}/ramdisk"
    assert {s.get("path") for s in dest.iter("source") if s.get("path")} == {
        f"{DST}/console.log"}
    assert params[libvirt.VIR_MIGRATE_PARAM_PERSIST_XML] == \
        params[libvirt.VIR_MIGRATE_PARAM_DEST_XML]


@pytest.mark.parametrize("cache_mode", ["writeback", "writethrough", "unsafe", "none",
                                        "directsync"])
def test_block_migration_is_never_unsafe(cache_mode) -> None:
    flags, _ = migration.flags_and_params(domain_xml(), migrate_data(), cache_mode)
    assert not flags & libvirt.VIR_MIGRATE_UNSAFE


@pytest.mark.parametrize("cache_mode, unsafe", [
    ("none", True), ("directsync", True),
    ("writeback", False), ("writethrough", False), ("unsafe", False)])
def test_shared_storage_flags(cache_mode, unsafe) -> None:
    """libvirt calls any local filesystem unsafe to share; novalite's probe proved the
    directory is shared, so it overrides that, but only with the host cache bypassed
    (with another cache mode libvirt's refusal, naming the cache mode, stands)."""
    data = migrate_data(block_migration=False, shared_storage=True, dest_instances_path=SRC)
    flags, params = migration.flags_and_params(domain_xml(), data, cache_mode)
    assert flags == BASE_FLAGS | (libvirt.VIR_MIGRATE_UNSAFE if unsafe else 0)
    assert libvirt.VIR_MIGRATE_PARAM_MIGRATE_DISKS not in params
    assert params[libvirt.VIR_MIGRATE_PARAM_DEST_XML] == domain_xml()  # same paths


def test_neither_shared_nor_block() -> None:
    data = migrate_data(block_migration=False, shared_storage=False)
    flags, params = migration.flags_and_params(domain_xml(), data, "writeback")
    assert flags == BASE_FLAGS
    assert libvirt.VIR_MIGRATE_PARAM_MIGRATE_DISKS not in params


def test_without_instance_paths_the_xml_is_sent_as_is() -> None:
    data = migrate_data()
    del data["source_instances_path"], data["dest_instances_path"]
    _, params = migration.flags_and_params(domain_xml(), data, "none")
    assert params[libvirt.VIR_MIGRATE_PARAM_DEST_XML] == domain_xml()


def test_post_copy_when_permitted(flags) -> None:
    flags("live_migration_permit_post_copy", True)
    for data in (migrate_data(), migrate_data(block_migration=False, shared_storage=True)):
        value, _ = migration.flags_and_params(domain_xml(), data, "none")
        assert value & libvirt.VIR_MIGRATE_POSTCOPY
        assert value & BASE_FLAGS == BASE_FLAGS


def test_bandwidth_when_configured(flags) -> None:
    flags("live_migration_bandwidth", 32)
    value, params = migration.flags_and_params(domain_xml(), migrate_data(), "none")
    assert params[libvirt.VIR_MIGRATE_PARAM_BANDWIDTH] == 32
    assert not value & libvirt.VIR_MIGRATE_POSTCOPY


def test_ipv6_migration_address() -> None:
    _, params = migration.flags_and_params(
        domain_xml(), migrate_data(migration_address="2001:db8::20"), "none")
    assert params[libvirt.VIR_MIGRATE_PARAM_URI] == "tcp://[2001:db8::20]"
    assert params[libvirt.VIR_MIGRATE_PARAM_LISTEN_ADDRESS] == "2001:db8::20"


def test_flags_never_include_full_disk_copy() -> None:
    value, _ = migration.flags_and_params(domain_xml(), migrate_data(), "writeback")
    assert not value & libvirt.VIR_MIGRATE_NON_SHARED_DISK
    assert value & ~(BASE_FLAGS | OPTIONAL_FLAGS) == 0


# -- downtime_steps ------------------------------------------------------------------------

def test_downtime_steps_defaults() -> None:
    steps = migration.downtime_steps(2**30)  # 1 GiB: one step every 75 s
    assert steps == [(75.0 * i, 50 * (i + 1)) for i in range(10)]


def test_downtime_steps_scale_with_memory(flags) -> None:
    flags("live_migration_downtime", 400)
    flags("live_migration_downtime_steps", 4)
    flags("live_migration_downtime_delay", 10)
    steps = migration.downtime_steps(3 * 2**30)
    assert [t for t, _ in steps] == [0, 30, 60, 90]
    assert [d for _, d in steps] == [100, 200, 300, 400]
    # Tiny guests count as 1/16 GiB.
    assert [t for t, _ in migration.downtime_steps(2**20)] == [0, 0.625, 1.25, 1.875]


def test_downtime_steps_floor_and_single_step(flags) -> None:
    flags("live_migration_downtime", 100)
    flags("live_migration_downtime_steps", 10)
    steps = migration.downtime_steps(2**30)
    assert steps[0][1] == 50 and steps[-1][1] == 100  # never below 50 ms
    assert [d for _, d in steps] == sorted(d for _, d in steps)
    flags("live_migration_downtime_steps", 1)
    assert migration.downtime_steps(2**30) == [(0.0, 100)]


@pytest.mark.parametrize("downtime, steps_count", [(500, 10), (333, 7), (101, 3), (1000, 2)])
def test_downtime_steps_end_at_the_maximum(flags, downtime, steps_count) -> None:
    flags("live_migration_downtime", downtime)
    flags("live_migration_downtime_steps", steps_count)
    steps = migration.downtime_steps(2**30)
    assert len(steps) == steps_count and steps[0][0] == 0
    assert steps[-1][1] == downtime
    assert all(a[0] < b[0] and a[1] <= b[1] for a, b in zip(steps, steps[1:], strict=False))


# -- LiveMigrationJob ----------------------------------------------------------------------

def running_stats(processed: int, total: int = 1000) -> dict:
    return {"type": libvirt.VIR_DOMAIN_JOB_UNBOUNDED, "memory_total": total,
            "memory_processed": processed, "memory_remaining": total - processed,
            "disk_total": 0, "disk_processed": 0, "disk_remaining": 0,
            "memory_bps": 12345, "time_elapsed": 10}


class FakeMigration:
    """A mocked Host whose shared domain reports `stats` from jobStats (then "no job"),
    and whose private connection's migrateToURI3 blocks until release()."""

    def __init__(self, stats: list[dict] | None = None, memory_kib: int = 1024 * 1024):
        self.stats = list(stats or [])
        self.drained = threading.Event()   # every stats record was read
        self.started = threading.Event()   # migrateToURI3 was entered
        self._release = threading.Event()
        self.error: Exception | None = None

        self.domain = mock.Mock(name="shared-domain")
        self.domain.info.return_value = [1, memory_kib, memory_kib, 1, 0]
        self.domain.jobStats.side_effect = self._job_stats
        self.job_domain = mock.Mock(name="job-domain")
        self.job_domain.migrateToURI3.side_effect = self._migrate
        self.job_conn = mock.Mock(name="job-connection")
        self.job_conn.lookupByUUIDString.return_value = self.job_domain
        self.shared_conn = mock.Mock(name="shared-connection")
        self.shared_conn.lookupByUUIDString.return_value = self.domain

        self.host = mock.Mock(name="host")
        self.host.get_domain.return_value = self.domain
        self.host.get_connection.return_value = self.shared_conn
        self.host.open_connection.return_value = self.job_conn

    def _job_stats(self, flags):
        if self.stats:
            return self.stats.pop(0)
        self.drained.set()
        return {"type": libvirt.VIR_DOMAIN_JOB_NONE}

    def _migrate(self, uri, params, flags):
        self.started.set()
        assert self._release.wait(5), "the test never released the migration"
        if self.error is not None:
            raise self.error

    def release(self, error: Exception | None = None) -> None:
        self.error = error
        self._release.set()

    def job(self, flags: int = BASE_FLAGS, params: dict | None = None):
        return migration.LiveMigrationJob(self.host, UUID, DEST_URI, flags,
                                          params or {"p": 1})


class Runner:
    """Run job.run(progress) in a thread; join() re-raises what it raised."""

    def __init__(self, job) -> None:
        self.progress: list[dict] = []
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(job,))
        self.thread.start()

    def _run(self, job) -> None:
        try:
            job.run(self.progress.append)
        except BaseException as err:
            self.error = err

    def join(self) -> None:
        self.thread.join(5)
        assert not self.thread.is_alive(), "run() did not return"
        if self.error is not None:
            raise self.error


def test_job_reports_progress_and_a_final_record() -> None:
    fake = FakeMigration([running_stats(100), running_stats(600)])
    runner = Runner(fake.job())
    assert fake.started.wait(5) and fake.drained.wait(5)
    fake.release()
    runner.join()
    keys = set(migration.PROGRESS_KEYS)
    assert runner.progress[:2] == [
        {k: v for k, v in running_stats(100).items() if k in keys},
        {k: v for k, v in running_stats(600).items() if k in keys}]
    assert runner.progress[2:] == [{"memory_total": 1000, "memory_processed": 1000,
                                    "memory_remaining": 0, "disk_total": 0,
                                    "disk_processed": 0, "disk_remaining": 0}]


def test_job_final_record_without_stats() -> None:
    fake = FakeMigration()
    runner = Runner(fake.job())
    assert fake.started.wait(5)
    fake.release()
    runner.join()
    assert runner.progress == [dict.fromkeys(migration.PROGRESS_KEYS, 0)]


def test_job_ignores_job_stats_errors() -> None:
    fake = FakeMigration()
    fake.domain.jobStats.side_effect = libvirt.libvirtError("no job")
    runner = Runner(fake.job())
    assert fake.started.wait(5)
    fake.release()
    runner.join()
    assert len(runner.progress) == 1


def test_job_migrates_on_its_own_connection() -> None:
    fake = FakeMigration()
    params = {libvirt.VIR_MIGRATE_PARAM_URI: "tcp://192.0.2.20"}
    runner = Runner(fake.job(BASE_FLAGS | libvirt.VIR_MIGRATE_NON_SHARED_INC, params))
    assert fake.started.wait(5) and fake.drained.wait(5)
    fake.host.open_connection.assert_called_once_with()
    fake.job_conn.lookupByUUIDString.assert_called_once_with(UUID)
    fake.job_domain.migrateToURI3.assert_called_once_with(
        DEST_URI, params, BASE_FLAGS | libvirt.VIR_MIGRATE_NON_SHARED_INC)
    fake.release()
    runner.join()
    fake.domain.migrateToURI3.assert_not_called()
    fake.shared_conn.lookupByUUIDString.assert_not_called()
    fake.job_conn.close.assert_called_once_with()
    fake.shared_conn.close.assert_not_called()
    # The monitor reads the shared connection's domain, never the job's.
    assert fake.domain.jobStats.called and not fake.job_domain.jobStats.called


def test_job_sets_the_first_downtime_step() -> None:
    fake = FakeMigration([running_stats(1)])
    runner = Runner(fake.job())
    assert fake.drained.wait(5)
    fake.release()
    runner.join()
    fake.domain.migrateSetMaxDowntime.assert_called_once_with(50, 0)


def test_job_raises_the_downtime_in_steps(flags) -> None:
    flags("live_migration_downtime_delay", 1)  # 64 MiB guest: a step every 62.5 ms
    fake = FakeMigration(memory_kib=64 * 1024)
    fake.domain.jobStats.side_effect = lambda flags: running_stats(1)
    runner = Runner(fake.job())
    set_downtime = fake.domain.migrateSetMaxDowntime

    def reached_the_maximum() -> bool:
        return mock.call(500, 0) in set_downtime.call_args_list

    deadline = threading.Event()
    for _ in range(200):
        if reached_the_maximum():
            break
        deadline.wait(0.01)
    fake.release()
    runner.join()
    assert [c.args for c in set_downtime.call_args_list] == [(50 * i, 0) for i in range(1, 11)]


def test_job_without_a_domain() -> None:
    fake = FakeMigration()
    fake.host.get_domain.return_value = None
    with pytest.raises(exception.VirtDriverError, match="no domain"):
        fake.job().run(mock.Mock())
    fake.host.open_connection.assert_not_called()


def test_abort() -> None:
    fake = FakeMigration()
    job = fake.job()
    runner = Runner(job)
    assert fake.started.wait(5)
    job.abort()
    fake.domain.abortJob.assert_called_once_with()
    fake.job_domain.abortJob.assert_not_called()
    fake.release(libvirt.libvirtError("operation aborted: migration out job"))
    with pytest.raises(exception.LiveMigrationAborted) as caught:
        runner.join()
    assert UUID in str(caught.value)
    fake.domain.resume.assert_not_called()


def test_abort_of_a_job_that_completes_anyway() -> None:
    fake = FakeMigration()
    job = fake.job()
    runner = Runner(job)
    assert fake.started.wait(5)
    fake.domain.abortJob.side_effect = libvirt.libvirtError("no job")  # too late
    fake.domain.abortJob.__name__ = "abortJob"  # logged, as a bound method's would be
    job.abort()
    fake.release()
    runner.join()  # the migration finished: no error


def test_abort_before_the_job_exists_is_sent_again_once_it_does() -> None:
    fake = FakeMigration([running_stats(100), running_stats(200)])
    fake.domain.abortJob.side_effect = [libvirt.libvirtError("no job yet"), None]
    job = fake.job()
    job.abort()  # before run(): libvirt has nothing to abort
    runner = Runner(job)
    assert fake.started.wait(5) and fake.drained.wait(5)
    assert fake.domain.abortJob.call_count == 2
    fake.release(libvirt.libvirtError("operation aborted: migration out job"))
    with pytest.raises(exception.LiveMigrationAborted):
        runner.join()


def test_failure_without_abort() -> None:
    fake = FakeMigration()
    runner = Runner(fake.job())
    assert fake.started.wait(5)
    fake.release(libvirt.libvirtError("unable to connect to the destination"))
    with pytest.raises(exception.VirtDriverError) as caught:
        runner.join()
    assert not isinstance(caught.value, exception.LiveMigrationAborted)
    assert "unable to connect to the destination" in str(caught.value)
    assert DEST_URI in str(caught.value)
    fake.job_conn.close.assert_called_once_with()


def test_failure_to_open_the_job_connection() -> None:
    fake = FakeMigration()
    fake.host.open_connection.side_effect = exception.VirtDriverError(reason="no daemon")
    with pytest.raises(exception.VirtDriverError, match="no daemon"):
        fake.job().run(mock.Mock())


def test_force_complete_post_copy() -> None:
    fake = FakeMigration()
    job = fake.job(BASE_FLAGS | libvirt.VIR_MIGRATE_POSTCOPY)
    runner = Runner(job)
    assert fake.started.wait(5)
    job.force_complete()
    fake.domain.migrateStartPostCopy.assert_called_once_with(0)
    fake.domain.suspend.assert_not_called()
    fake.job_domain.migrateStartPostCopy.assert_not_called()
    fake.release()
    runner.join()
    assert not job.paused


def test_force_complete_pauses_without_post_copy() -> None:
    fake = FakeMigration()
    job = fake.job()
    runner = Runner(job)
    assert fake.started.wait(5)
    job.force_complete()
    fake.domain.suspend.assert_called_once_with()
    fake.domain.migrateStartPostCopy.assert_not_called()
    assert job.paused
    fake.release()
    runner.join()
    fake.domain.resume.assert_not_called()  # the destination resumes it


def test_failed_migration_after_a_pause_resumes_the_guest() -> None:
    fake = FakeMigration()
    job = fake.job()
    runner = Runner(job)
    assert fake.started.wait(5)
    job.force_complete()
    fake.release(libvirt.libvirtError("migration failed"))
    with pytest.raises(exception.VirtDriverError, match="migration failed"):
        runner.join()
    fake.domain.resume.assert_called_once_with()


def test_aborted_after_a_pause_resumes_the_guest() -> None:
    fake = FakeMigration()
    job = fake.job()
    runner = Runner(job)
    assert fake.started.wait(5)
    job.force_complete()
    job.abort()
    fake.release(libvirt.libvirtError("operation aborted"))
    with pytest.raises(exception.LiveMigrationAborted):
        runner.join()
    fake.domain.resume.assert_called_once_with()


def test_abort_and_force_complete_when_the_domain_is_gone() -> None:
    fake = FakeMigration()
    job = fake.job()
    fake.host.get_domain.return_value = None
    job.abort()
    job.force_complete()
    assert job.aborted and not job.paused
    fake.domain.abortJob.assert_not_called()
    fake.domain.suspend.assert_not_called()
