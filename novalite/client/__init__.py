"""A Python client for novalite's Nova-compatible compute API.

It exists so scripts and the novalite CLI can drive the API without openstacksdk or a
Keystone: a token and an endpoint are enough, the microversion is negotiated from the
server's version document, and errors come back as typed exceptions carrying the
server's message and request id.

Example::

    from novalite.client import Client, exceptions

    nova = Client("http://controller:8774", token="secret")   # or NOVALITE_URL/_TOKEN
    server = nova.servers.create("web1", flavor="m1.small", image="cirros")
    server = nova.servers.wait_for(server, "ACTIVE",
                                   callback=lambda s: print(s.status, s.task_state))
    nova.servers.live_migrate(server, host="c2")
    try:
        nova.servers.find("no-such-server")
    except exceptions.NotFound as exc:
        print(exc, exc.request_id)
"""

from novalite.client import exceptions
from novalite.client.client import Client

__all__ = ["Client", "exceptions"]
