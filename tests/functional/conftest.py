"""Fixtures for functional tests: separate processes, RabbitMQ, a real database."""

from __future__ import annotations

import pytest

from tests.functional.fixtures import Deployment, RabbitVhost


@pytest.fixture
def rabbit_url():
    vhost = RabbitVhost()
    url = vhost.create()
    yield url
    vhost.delete()


@pytest.fixture
def deployment(tmp_path, db_url, rabbit_url):
    dep = Deployment(tmp_path, db_url, rabbit_url)
    yield dep
    codes = dep.stop_all()
    for name, code in codes.items():
        if code not in (0, -9):
            print(f"--- {name} exited {code}; its log:\n{dep.log(name)[-4000:]}")
