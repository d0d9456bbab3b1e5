"""RPC over oslo.messaging: one transport per process, versioned clients, servers.

RabbitMQ (rabbit://) in production, fake:// in unit tests and in novalite-all.
The serializer carries the request context (request id, user, project, roles) and
novalite objects across every message.
"""

from __future__ import annotations

import logging
from typing import Any

import oslo_messaging as messaging
from oslo_config import cfg

from novalite import context as nl_context
from novalite.objects import base as obj_base

LOG = logging.getLogger(__name__)

TRANSPORT: messaging.Transport | None = None
ALLOWED_EXMODS = ["novalite.exception"]


def register_opts(conf: cfg.ConfigOpts) -> None:
    """Register oslo.messaging's [DEFAULT] transport_url so commands can read and default it.

    Queue names are the topic names (conductor, scheduler, compute), so deployments that
    share a RabbitMQ must use separate virtual hosts (the path of transport_url).
    """
    try:
        # TransportURL.parse(conf) is the public way to get [DEFAULT] transport_url registered.
        messaging.TransportURL.parse(conf)
    except messaging.InvalidTransportURL:
        pass  # oslo.messaging's default "rabbit://" means guest:guest@localhost:5672


def init(conf: cfg.ConfigOpts) -> messaging.Transport:
    global TRANSPORT
    if TRANSPORT is None:
        # Peers re-raise novalite's own exceptions (Conflict, NoValidHost...) as such.
        TRANSPORT = messaging.get_rpc_transport(conf, allowed_remote_exmods=ALLOWED_EXMODS)
    return TRANSPORT


def cleanup() -> None:
    global TRANSPORT
    if TRANSPORT is not None:
        _wake_reply_poller(TRANSPORT)
        TRANSPORT.cleanup()
        TRANSPORT = None


def _wake_reply_poller(transport: messaging.Transport) -> None:
    """Send one empty reply to this process's own reply queue (the rabbit driver's): its
    poller, idle, sits in a poll of up to 5 s that cleanup() waits for; a message ends
    the poll, so cleanup() returns in milliseconds. oslo.messaging has no public API for
    this: best effort, and without it cleanup() is only slower."""
    driver = getattr(transport, "_driver", None)
    reply_q = getattr(driver, "_reply_q", None)
    if reply_q is None:  # fake://, or no call made yet: no reply poller
        return
    try:
        from oslo_messaging._drivers import common as driver_common

        # The poller logs it as a reply nobody waits for, under this id.
        msg = {"_msg_id": "novalite-cleanup", "result": None, "failure": None, "ending": True}
        with driver._get_connection(driver_common.PURPOSE_SEND, retry=0) as conn:
            conn.direct_send(reply_q, driver_common.serialize_msg(msg))
    except Exception as exc:  # noqa: BLE001 - any failure only means a slower cleanup
        LOG.debug("Could not wake the RPC reply poller: %s", exc)


def get_transport() -> messaging.Transport:
    if TRANSPORT is None:
        raise RuntimeError("novalite.rpc.init() has not been called")
    return TRANSPORT


class RequestContextSerializer(messaging.Serializer):
    """Context as a dict; novalite objects as tagged primitives, recursively."""

    def serialize_entity(self, ctxt: Any, entity: Any) -> Any:
        return obj_base.to_primitive(entity)

    def deserialize_entity(self, ctxt: Any, entity: Any) -> Any:
        return obj_base.from_primitive(entity)

    def serialize_context(self, ctxt: nl_context.RequestContext) -> dict:
        return ctxt.to_dict()

    def deserialize_context(self, ctxt: dict) -> nl_context.RequestContext:
        # Building the context stores it thread-locally, so log lines carry its request id.
        return nl_context.RequestContext.from_dict(ctxt)


def get_client(
    topic: str, version: str, version_cap: str | None = None, server: str | None = None
) -> messaging.RPCClient:
    target = messaging.Target(topic=topic, version=version, server=server)
    return messaging.get_rpc_client(
        get_transport(), target, version_cap=version_cap, serializer=RequestContextSerializer()
    )


# Only methods marked @rpc.expose can be called remotely; a manager's other methods
# (init_host, periodic tasks) are not part of its RPC API.
expose = messaging.expose


def get_server(topic: str, server: str, version: str, endpoints: list) -> messaging.RPCServer:
    target = messaging.Target(topic=topic, server=server, version=version)
    return messaging.get_rpc_server(
        get_transport(),
        target,
        endpoints,
        serializer=RequestContextSerializer(),
        access_policy=messaging.ExplicitRPCAccessPolicy,
    )
