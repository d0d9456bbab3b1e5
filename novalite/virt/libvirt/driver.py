"""Placeholder: the libvirt driver is not written yet.

Choosing compute_driver = libvirt fails at start with a clear message instead of
pretending to work.
"""

from novalite import exception
from novalite.virt import driver


class LibvirtDriver(driver.ComputeDriver):
    def __init__(self, host: str) -> None:
        raise exception.ConfigError(
            reason="compute_driver = libvirt is not implemented yet; use compute_driver = fake"
        )
