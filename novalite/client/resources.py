"""Resources: the API's JSON objects with attribute access and readable field names.

Nova's extension fields ("OS-EXT-STS:vm_state") are not Python identifiers, so each
resource class names the useful ones (`vm_state`); the raw dict stays available
unchanged through to_dict(), and fields() gives both for printing.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from novalite.client.base import Manager


class _Alias:
    """A read-only attribute that reads one raw API key (None when absent)."""

    def __init__(self, key: str) -> None:
        self.key = key

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, instance: Resource | None, owner: type) -> Any:
        if instance is None:
            return self
        return instance._info.get(self.key)


class Resource:
    """One API object; every key of its dict reads as an attribute."""

    # Keys shown in repr(), when present.
    _repr_keys: tuple[str, ...] = ("id", "name")
    # Properties computed from nested fields that fields() also shows.
    _computed: tuple[str, ...] = ()

    def __init__(self, manager: Manager | None, info: dict) -> None:
        self.manager = manager
        self._info: dict[str, Any] = dict(info)

    def __getattr__(self, name: str) -> Any:
        # Only called when normal lookup fails; guard against recursion before
        # _info exists (copy, pickle).
        info = self.__dict__.get("_info")
        if info is None or name.startswith("__"):
            raise AttributeError(name)
        try:
            return info[name]
        except KeyError:
            raise AttributeError(
                f"{type(self).__name__} has no attribute {name!r}") from None

    def __getitem__(self, key: str) -> Any:
        return self._info[key]

    def __contains__(self, key: object) -> bool:
        return key in self._info

    def __dir__(self) -> list[str]:
        keys = [k for k in self._info if k.isidentifier()]
        return sorted(set(super().__dir__()) | set(keys))

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={self._info[k]!r}" for k in self._repr_keys
                          if k in self._info)
        return f"<{type(self).__name__} {shown}>"

    @property
    def id(self) -> Any:
        """The resource's id (None for partial answers that carry none)."""
        return self._info.get("id")

    def get(self, key: str, default: Any = None) -> Any:
        """A raw field by its API name, for names that are not identifiers."""
        return self._info.get(key, default)

    def to_dict(self) -> dict[str, Any]:
        """A deep copy of the raw API dict, safe for the caller to change."""
        return copy.deepcopy(self._info)

    def _aliases(self) -> dict[str, Any]:
        """Readable name -> value, for every _Alias declared on the class."""
        names: dict[str, Any] = {}
        for cls in reversed(type(self).__mro__):
            for name, attr in vars(cls).items():
                if isinstance(attr, _Alias):
                    names[name] = getattr(self, name)
        for name in self._computed:
            names[name] = getattr(self, name)
        return names

    def fields(self) -> dict[str, Any]:
        """Every raw field plus the readable names (what `show -f json` prints)."""
        out = self.to_dict()
        for name, value in self._aliases().items():
            out.setdefault(name, value)
        return out

    def _update(self, info: dict) -> None:
        self._info = dict(info)


class Server(Resource):
    """A server; `status` plus the OS-EXT-* fields under readable names."""

    _repr_keys = ("id", "name", "status")
    _computed = ("fault_message",)

    vm_state = _Alias("OS-EXT-STS:vm_state")
    task_state = _Alias("OS-EXT-STS:task_state")
    power_state = _Alias("OS-EXT-STS:power_state")
    host = _Alias("OS-EXT-SRV-ATTR:host")
    hypervisor_hostname = _Alias("OS-EXT-SRV-ATTR:hypervisor_hostname")
    instance_name = _Alias("OS-EXT-SRV-ATTR:instance_name")
    availability_zone = _Alias("OS-EXT-AZ:availability_zone")

    @property
    def fault_message(self) -> str | None:
        """Why the server is in ERROR, when the API says (fault.message)."""
        fault = self._info.get("fault")
        if isinstance(fault, dict):
            return fault.get("message") or None
        return None

    def refresh(self) -> Server:
        """Re-read the server in place (and return it, for chaining)."""
        fresh = self.manager.get(self.id)
        self._update(fresh.to_dict())
        return self

    def wait_for(self, status: str, timeout: float = 300, interval: float = 1.0,
                 callback: Callable[[Server], None] | None = None) -> Server:
        """ServerManager.wait_for on this server; this object is refreshed too."""
        last = self.manager.wait_for(self, status, timeout=timeout, interval=interval,
                                     callback=callback)
        self._update(last.to_dict())
        return self


class Flavor(Resource):
    """A flavor; its extension fields under readable names."""

    ephemeral = _Alias("OS-FLV-EXT-DATA:ephemeral")
    is_public = _Alias("os-flavor-access:is_public")
    disabled = _Alias("OS-FLV-DISABLED:disabled")


class Image(Resource):
    """An image as Nova's /images proxy shows it."""

    _repr_keys = ("id", "name", "status")
    size = _Alias("OS-EXT-IMG-SIZE:size")


class ServerMigration(Resource):
    """A live migration in progress, under /servers/{id}/migrations."""

    _repr_keys = ("id", "server_uuid", "status")


class Migration(Resource):
    """Any migration, as /os-migrations lists it."""

    _repr_keys = ("id", "instance_uuid", "migration_type", "status")


class InstanceAction(Resource):
    """Something done to a server, keyed by its request id."""

    _repr_keys = ("request_id", "action", "message")

    @property
    def id(self) -> Any:
        """Actions are addressed by request id."""
        return self._info.get("request_id")

    @property
    def events(self) -> list[dict[str, Any]]:
        """The action's events (only in a show answer; empty otherwise)."""
        return list(self._info.get("events") or [])


class Hypervisor(Resource):
    """A compute node."""

    _repr_keys = ("id", "hypervisor_hostname", "state", "status")


class Service(Resource):
    """A service (compute, conductor, ...) on a host."""

    _repr_keys = ("id", "binary", "host", "status", "state")


class AvailabilityZone(Resource):
    """An availability zone; `name`, `available` and `hosts` read its nested fields."""

    _repr_keys = ("zoneName",)
    _computed = ("name", "available")

    @property
    def id(self) -> Any:
        """Zones are known by name."""
        return self._info.get("zoneName")

    @property
    def name(self) -> str | None:
        """zoneName."""
        return self._info.get("zoneName")

    @property
    def available(self) -> bool | None:
        """zoneState.available."""
        state = self._info.get("zoneState")
        return state.get("available") if isinstance(state, dict) else None
