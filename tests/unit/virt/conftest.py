"""Fixtures shared by the virt driver tests."""

from __future__ import annotations

import pytest

from novalite.conf import CONF


@pytest.fixture
def flags():
    """set(name, value, group="libvirt"): a CONF override undone at teardown."""
    overridden: list[tuple[str, str]] = []

    def set_flag(name: str, value, group: str = "libvirt") -> None:
        CONF.set_override(name, value, group=group)
        overridden.append((name, group))

    yield set_flag
    for name, group in reversed(overridden):
        CONF.clear_override(name, group=group)
