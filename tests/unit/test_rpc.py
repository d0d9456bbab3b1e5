"""RPC plumbing over the in-process fake:// transport: versioned clients, the context
serializer (request id, user, project, roles) and novalite objects."""

from __future__ import annotations

import datetime

import oslo_messaging as messaging
import pytest
from oslo_context import context as oslo_context

from novalite import rpc
from novalite.conf import CONF
from novalite.context import RequestContext
from novalite.manager import Manager
from novalite.objects import base as obj_base
from novalite.objects.compute_node import HostResources
from novalite.states import PowerState


@pytest.fixture
def fake_transport():
    rpc.register_opts(CONF)
    CONF.set_override("transport_url", "fake://")
    rpc.cleanup()
    rpc.init(CONF)
    yield
    rpc.cleanup()
    CONF.clear_override("transport_url")


class EchoManager(Manager):
    RPC_API_VERSION = "1.1"

    def __init__(self, host):
        super().__init__(host)
        self.seen = []

    @rpc.expose
    def echo(self, ctxt, value):
        # The context the server sees is the caller's, and it is the thread's current one.
        self.seen.append((ctxt, oslo_context.get_current()))
        return value


def _serve(manager, topic="echo", host="h1"):
    server = rpc.get_server(topic, host, manager.RPC_API_VERSION, [manager])
    server.start()
    return server


def test_call_carries_context_and_objects(fake_transport):
    manager = EchoManager("h1")
    server = _serve(manager)
    try:
        ctxt = RequestContext(
            user_id="u1", project_id="p1", roles=["member"], request_id="req-1234"
        )
        resources = HostResources(
            hypervisor_hostname="h1",
            hypervisor_type="fake",
            hypervisor_version=1,
            vcpus=4,
            memory_mb=1024,
            local_gb=10,
            cpu_info={"arch": "x86_64"},
        )
        stamp = datetime.datetime(2026, 11, 23, 1, 2, 3)
        client = rpc.get_client("echo", "1.0")
        result = client.prepare(server="h1", timeout=5).call(
            ctxt, "echo", value={"r": resources, "when": stamp, "power": PowerState.RUNNING}
        )
        assert result == {"r": resources, "when": stamp, "power": 1}
        server_ctxt, current = manager.seen[0]
        assert isinstance(server_ctxt, RequestContext)
        assert (
            server_ctxt.request_id,
            server_ctxt.user_id,
            server_ctxt.project_id,
            server_ctxt.roles,
        ) == ("req-1234", "u1", "p1", ["member"])
        assert current.request_id == "req-1234"
    finally:
        server.stop()
        server.wait()


def test_version_cap_blocks_newer_calls(fake_transport):
    client = rpc.get_client("echo", "1.0", version_cap="1.0")
    assert client.can_send_version("1.0")
    assert not client.can_send_version("1.1")
    with pytest.raises(messaging.RPCVersionCapError):
        client.prepare(version="1.1").cast(RequestContext(), "echo", value=1)


def test_server_refuses_incompatible_major_version(fake_transport):
    server = _serve(EchoManager("h1"))
    try:
        client = rpc.get_client("echo", "2.0")
        with pytest.raises(messaging.UnsupportedVersion):
            client.prepare(server="h1", timeout=5).call(RequestContext(), "echo", value=1)
    finally:
        server.stop()
        server.wait()


def test_only_exposed_methods_can_be_called(fake_transport):
    server = _serve(EchoManager("h1"))
    try:
        client = rpc.get_client("echo", "1.0").prepare(server="h1", timeout=5)
        assert client.call(RequestContext(), "ping") == "pong"
        with pytest.raises(messaging.NoSuchMethod):
            client.call(RequestContext(), "init_host")
    finally:
        server.stop()
        server.wait()


def test_object_round_trip_ignores_unknown_fields():
    resources = HostResources(
        hypervisor_hostname="h",
        hypervisor_type="fake",
        hypervisor_version=1,
        vcpus=1,
        memory_mb=1,
        local_gb=1,
    )
    primitive = obj_base.to_primitive(resources)
    primitive[obj_base.DATA_KEY]["added_by_a_newer_peer"] = 42
    assert obj_base.from_primitive(primitive) == resources


@pytest.mark.parametrize("cap, version, sends_target", [
    (None, "1.4", True), ("1.3", "1.2", False)])
def test_resize_instance_sends_the_disk_target_only_to_agents_that_take_it(
        fake_transport, cap, version, sends_target):
    """A 1.3 agent (pinned by [upgrade_levels] compute) gets resize_instance without the
    disk_target argument it would refuse; newer ones get it at 1.4."""
    from unittest import mock

    from novalite.compute import rpcapi as compute_rpcapi

    CONF.set_override("compute", cap, group="upgrade_levels")
    try:
        api = compute_rpcapi.ComputeAPI()
        with mock.patch.object(api, "_to") as to:
            api.resize_instance(RequestContext(), "src", "inst", "mig", {"name": "f"},
                                disk_target={"instances_path": "/x"})
        to.assert_called_once_with("src", version)
        kwargs = to.return_value.cast.call_args.kwargs
        assert ("disk_target" in kwargs) is sends_target
    finally:
        CONF.clear_override("compute", group="upgrade_levels")
