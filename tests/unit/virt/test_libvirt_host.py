"""The libvirt connection wrapper against libvirt's in-process test driver."""

from __future__ import annotations

import pytest

from novalite import exception
from novalite.states import PowerState
from novalite.virt.libvirt import host as libvirt_host

libvirt = pytest.importorskip("libvirt")

URI = "test:///default"


def test_the_connection_is_shared_and_reopened_when_it_drops() -> None:
    host = libvirt_host.Host(URI)
    first = host.get_connection()
    assert host.get_connection() is first
    first.close()  # as if libvirtd had restarted
    second = host.get_connection()
    assert second is not first and second.isAlive()
    host.close()


def test_an_unreachable_daemon_is_a_clear_driver_error() -> None:
    host = libvirt_host.Host("qemu+tcp://127.0.0.1:1/system")
    with pytest.raises(exception.VirtDriverError, match="cannot connect to libvirt"):
        host.get_connection()


def test_private_connections_are_separate() -> None:
    host = libvirt_host.Host(URI)
    private = host.open_connection()
    assert private is not host.get_connection()
    private.close()
    host.close()


def test_get_domain_of_an_unknown_uuid_is_none() -> None:
    host = libvirt_host.Host(URI)
    assert host.get_domain("11111111-2222-3333-4444-555555555555") is None
    # test:///default always has its sample domain "test".
    sample = host.get_connection().lookupByName("test")
    assert host.get_domain(sample.UUIDString()).name() == "test"
    host.close()


@pytest.mark.parametrize("state, expected", [
    ("VIR_DOMAIN_RUNNING", PowerState.RUNNING), ("VIR_DOMAIN_BLOCKED", PowerState.RUNNING),
    ("VIR_DOMAIN_PAUSED", PowerState.PAUSED), ("VIR_DOMAIN_SHUTOFF", PowerState.SHUTDOWN),
    ("VIR_DOMAIN_SHUTDOWN", PowerState.SHUTDOWN), ("VIR_DOMAIN_CRASHED", PowerState.CRASHED),
    ("VIR_DOMAIN_PMSUSPENDED", PowerState.SUSPENDED), ("VIR_DOMAIN_NOSTATE", PowerState.NOSTATE),
])
def test_power_states(state: str, expected: PowerState) -> None:
    assert libvirt_host.power_state(getattr(libvirt, state)) is expected
