"""The benchmark's own RabbitMQ node (the fleet row's broker): it starts beside the
machine's, takes guest logins on its own port, and leaves nothing behind. Skipped where
rabbitmq-server is not installed (the fleet row then falls back to the shared broker)."""

from __future__ import annotations

import kombu
import pytest

from bench.deploy import PrivateRabbit


def test_private_node_starts_serves_and_is_removed(tmp_path):
    broker = PrivateRabbit(tmp_path / "rabbit")
    if broker.server is None or broker.ctl_script is None:
        pytest.skip("rabbitmq-server not installed")
    broker.start()
    try:
        conn = kombu.Connection(broker.url.replace("rabbit://", "amqp://", 1))
        conn.connect()
        assert conn.connected
        used, limit = broker.sockets()
        assert used >= 1
        assert limit > used
        conn.release()
        assert broker.node.endswith("@localhost") and broker.node != "rabbit@localhost"
    finally:
        broker.stop()
    assert broker.proc is not None and broker.proc.poll() is not None
    assert not (tmp_path / "rabbit").exists()
