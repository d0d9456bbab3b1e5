"""Resources and fakes for the CLI unit tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from novalite.client import resources

SERVER_ID = "5f1c0bd2-3a4e-4d4f-9a57-0c1e2d3f4a5b"
OTHER_ID = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"


def server(server_id: str = SERVER_ID, name: str = "vm1", status: str = "ACTIVE",
           task_state: str | None = None, host: str | None = "c1",
           **extra: Any) -> resources.Server:
    """A Server resource shaped like the API's detailed view."""
    info = {
        "id": server_id,
        "name": name,
        "status": status,
        "OS-EXT-STS:vm_state": status.lower(),
        "OS-EXT-STS:task_state": task_state,
        "OS-EXT-STS:power_state": 1 if status == "ACTIVE" else 4,
        "OS-EXT-SRV-ATTR:host": host,
        "OS-EXT-SRV-ATTR:hypervisor_hostname": host,
        "OS-EXT-AZ:availability_zone": "nova",
        "flavor": {"original_name": "small", "vcpus": 1, "ram": 512, "disk": 1},
        "image": {"id": "img-1"},
        "created": "2024-05-01T10:00:00Z",
        "metadata": {},
    }
    info.update(extra)
    return resources.Server(None, info)


class Result:
    """Exit code and captured output of one run."""

    def __init__(self, code: int, out: str, err: str) -> None:
        self.code = code
        self.out = out
        self.err = err

    def __repr__(self) -> str:
        return f"<Result {self.code} out={self.out!r} err={self.err!r}>"


def fake_wait(states: list[Any]) -> Callable[..., Any]:
    """A servers.wait_for that hands `states` to the callback in turn and answers the
    last one (as the library does once the status is reached)."""

    def wait_for(srv: Any, status: str, timeout: float = 300, interval: float = 1.0,
                 callback: Callable[[Any], None] | None = None) -> Any:
        for state in states:
            if callback is not None:
                callback(state)
        return states[-1]

    return wait_for
