"""Servers: list, find, create, delete, the actions, migrations, instance actions, waits.

Bodies follow the negotiated microversion the way Nova reads them, so the same call
works against any server version; an argument the version cannot carry (a host on
create before 2.74, ...) is refused before anything is sent.
"""

from __future__ import annotations

import base64
import re
import time
import uuid
from collections.abc import Callable
from typing import Any

from novalite.client import exceptions
from novalite.client.base import Manager, quote
from novalite.client.resources import InstanceAction, Resource, Server, ServerMigration

DELETED = "DELETED"
ERROR = "ERROR"
# Python-friendly spellings of Nova's dashed filter names.
_FILTER_ALIASES = {"changes_since": "changes-since", "changes_before": "changes-before"}


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


def _name_pattern(name: str) -> str:
    """The `name` filter for an exact name: Nova reads it as a regular expression."""
    return f"^{re.escape(name)}$"


class ServerManager(Manager[Server]):
    """/servers and everything under it."""

    resource_class = Server

    # -- reading ----------------------------------------------------------------------

    def list(self, detailed: bool = True, all_projects: bool = False,
             limit: int | None = None, **filters: Any) -> list[Server]:
        """Servers matching `filters` (Nova's query parameters: status, host, name,
        flavor, image, changes-since as changes_since, ...), every page, at most
        `limit` of them."""
        params = {_FILTER_ALIASES.get(k, k): v for k, v in filters.items()}
        if all_projects:
            params["all_tenants"] = True
        path = "/servers/detail" if detailed else "/servers"
        return self._list(path, "servers", params, limit=limit)

    def get(self, server_id: str) -> Server:
        """One server by id."""
        return self._get(f"/servers/{quote(server_id)}", "server")

    def find(self, name_or_id: Any) -> Server:
        """A server by id, else by exact name: the caller's project first, then every
        project when the caller may list them (a 403 there means no match)."""
        def own(name: str) -> list[Server]:
            return self.list(name=_name_pattern(name))

        def every_project(name: str) -> list[Server]:
            try:
                return self.list(all_projects=True, name=_name_pattern(name))
            except exceptions.Forbidden:
                return []

        return self._find(name_or_id, "server", self.get, [own, every_project])

    def _server_id(self, server: Any) -> str:
        """An id without a lookup when it already is one (also reaches deleted servers'
        actions); a name through find()."""
        if isinstance(server, Resource):
            return str(server.id)
        if _is_uuid(str(server)):
            return str(server)
        return str(self.find(server).id)

    # -- create and delete -------------------------------------------------------------

    def create(self, name: str, flavor: Any, image: Any, min_count: int = 1,
               max_count: int = 1, availability_zone: str | None = None,
               host: str | None = None, networks: str | list = "none",
               metadata: dict | None = None, user_data: str | None = None) -> Server:
        """Boot a server (the first one when max_count > 1); answers the full server
        with adminPass. `user_data` is the raw content: it is base64-encoded here."""
        if host is not None:
            self._require("2.74", "Creating a server on a requested host")
        body: dict[str, Any] = {
            "name": name,
            "flavorRef": self.client.flavors._id(flavor),
            "imageRef": self.client.images._id(image),
            "min_count": min_count,
            "max_count": max_count,
        }
        nets = self._networks(networks)
        if nets is not None:
            body["networks"] = nets
        if availability_zone:
            body["availability_zone"] = availability_zone
        if host is not None:
            body["host"] = host
        if metadata:
            body["metadata"] = dict(metadata)
        if user_data is not None:
            body["user_data"] = base64.b64encode(user_data.encode("utf-8")).decode("ascii")
        answer = self.client.request("POST", "/servers", json={"server": body}) or {}
        created = answer.get("server") or {}
        try:
            server = self.get(created["id"])
        except (KeyError, exceptions.NotFound):
            return self._wrap(created)
        if "adminPass" in created:
            server._info["adminPass"] = created["adminPass"]
        return server

    def _networks(self, networks: str | list) -> Any:
        """The networks value for the version: "none"/"auto" only exist from 2.37
        (before, leaving the key out means the same); a list of ids becomes uuids."""
        if isinstance(networks, str):
            if self._at_least("2.37"):
                return networks
            return None
        return [n if isinstance(n, dict) else {"uuid": str(n)} for n in networks]

    def delete(self, server: Any) -> None:
        """Delete a server (asynchronous: wait_for(server, "DELETED") to see it gone)."""
        self.client.request("DELETE", f"/servers/{quote(self._server_id(server))}")

    # -- actions ----------------------------------------------------------------------

    def _action(self, server: Any, name: str, value: Any = None) -> None:
        self.client.request("POST", f"/servers/{quote(self._server_id(server))}/action",
                            json={name: value})

    def start(self, server: Any) -> None:
        """Power a stopped server on."""
        self._action(server, "os-start")

    def stop(self, server: Any) -> None:
        """Power a server off."""
        self._action(server, "os-stop")

    def reboot(self, server: Any, hard: bool = False) -> None:
        """Reboot: SOFT asks the guest, HARD power-cycles it."""
        self._action(server, "reboot", {"type": "HARD" if hard else "SOFT"})

    def resize(self, server: Any, flavor: Any) -> None:
        """Move to another flavor; confirm_resize or revert_resize once VERIFY_RESIZE."""
        self._action(server, "resize", {"flavorRef": self.client.flavors._id(flavor)})

    def confirm_resize(self, server: Any) -> None:
        """Keep the resized server (frees the source host)."""
        self._action(server, "confirmResize")

    def revert_resize(self, server: Any) -> None:
        """Go back to the old flavor and host."""
        self._action(server, "revertResize")

    def migrate(self, server: Any, host: str | None = None) -> None:
        """Cold-migrate; naming the destination needs 2.56."""
        if host is None:
            self._action(server, "migrate")
            return
        self._require("2.56", "Cold migration to a named host")
        self._action(server, "migrate", {"host": host})

    def live_migrate(self, server: Any, host: str | None = None,
                     block_migration: bool | str = "auto", force: bool | None = None) -> None:
        """Live-migrate, with the body Nova expects at the negotiated version:
        before 2.25 block_migration is a boolean ("auto" means False, the old default)
        and disk_over_commit is required; `force` exists only in 2.30-2.67 (before,
        naming a host always forces; from 2.68 the scheduler always checks)."""
        body = self._live_migrate_body(host, block_migration, force)
        self._action(server, "os-migrateLive", body)

    def _live_migrate_body(self, host: str | None, block_migration: bool | str,
                           force: bool | None) -> dict[str, Any]:
        version = self.client.api_version
        if not self._at_least("2.25"):
            block = False if block_migration == "auto" else bool(block_migration)
            body: dict[str, Any] = {"host": host, "block_migration": block,
                                    "disk_over_commit": False}
        else:
            body = {"host": host, "block_migration": block_migration}
        if force is None:
            return body
        if self._at_least("2.30") and not self._at_least("2.68"):
            body["force"] = bool(force)
        elif self._at_least("2.68"):
            if force:
                raise exceptions.UnsupportedVersion(
                    f"Forcing a live migration was removed in API microversion 2.68; this "
                    f"client negotiated {version}.")
        elif force and host is None:
            raise exceptions.UnsupportedVersion(
                f"Before API microversion 2.30 only a named host can be forced; this client "
                f"negotiated {version}.")
        elif not force and host is not None:
            raise exceptions.UnsupportedVersion(
                f"Before API microversion 2.30 a named host is always forced (no scheduler "
                f"check); this client negotiated {version}.")
        return body

    def lock(self, server: Any, reason: str | None = None) -> None:
        """Lock against changes by non-admins; a reason needs 2.73."""
        if reason is None:
            self._action(server, "lock")
            return
        self._require("2.73", "Locking with a reason")
        self._action(server, "lock", {"locked_reason": reason})

    def unlock(self, server: Any) -> None:
        """Lift a lock."""
        self._action(server, "unlock")

    # -- live migrations of a server ----------------------------------------------------

    def _migrations_path(self, server: Any) -> str:
        return f"/servers/{quote(self._server_id(server))}/migrations"

    def migrations(self, server: Any) -> list[ServerMigration]:
        """The server's live migrations in progress (2.23)."""
        self._require("2.23", "Listing a server's migrations")
        body = self.client.request("GET", self._migrations_path(server)) or {}
        return [ServerMigration(self, m) for m in body.get("migrations") or []]

    def get_migration(self, server: Any, migration_id: Any) -> ServerMigration:
        """One live migration in progress (2.23)."""
        self._require("2.23", "Showing a server migration")
        body = self.client.request(
            "GET", f"{self._migrations_path(server)}/{quote(migration_id)}") or {}
        return ServerMigration(self, body.get("migration") or {})

    def abort_migration(self, server: Any, migration_id: Any) -> None:
        """Abort a running live migration (2.24; queued ones from 2.65)."""
        self._require("2.24", "Aborting a live migration")
        self.client.request("DELETE",
                            f"{self._migrations_path(server)}/{quote(migration_id)}")

    def force_complete_migration(self, server: Any, migration_id: Any) -> None:
        """Pause the guest so a live migration that cannot converge completes (2.22)."""
        self._require("2.22", "Forcing a live migration to complete")
        self.client.request(
            "POST", f"{self._migrations_path(server)}/{quote(migration_id)}/action",
            json={"force_complete": None})

    # -- instance actions -------------------------------------------------------------

    def actions(self, server: Any) -> list[InstanceAction]:
        """What was done to the server, newest first (every page)."""
        path = f"/servers/{quote(self._server_id(server))}/os-instance-actions"
        items = self._list(path, "instanceActions", links_key="instance_actions_links")
        return [InstanceAction(self, a.to_dict()) for a in items]

    def get_action(self, server: Any, request_id: str) -> InstanceAction:
        """One action with its events."""
        path = (f"/servers/{quote(self._server_id(server))}/os-instance-actions/"
                f"{quote(request_id)}")
        body = self.client.request("GET", path) or {}
        return InstanceAction(self, body.get("instanceAction") or {})

    # -- waiting ----------------------------------------------------------------------

    def wait_for(self, server: Any, status: str, timeout: float = 300,
                 interval: float = 1.0,
                 callback: Callable[[Server], None] | None = None) -> Server:
        """Poll until the server shows `status` with no task in progress.

        "DELETED" waits for the 404 and answers the last server seen. A server that
        settles in ERROR while something else is awaited raises ResourceInErrorState
        with its fault message; running out of time raises WaitTimeout.
        """
        wanted = status.upper()
        server_id = self._server_id(server)
        last: Server | None = server if isinstance(server, Server) else None
        deadline = time.monotonic() + timeout
        while True:
            try:
                current = self.get(server_id)
            except exceptions.NotFound:
                if wanted != DELETED:
                    raise
                return last if last is not None else self._wrap(
                    {"id": server_id, "status": DELETED})
            last = current
            if callback is not None:
                callback(current)
            current_status = str(current.get("status") or "").upper()
            if current_status == wanted and current.task_state is None:
                return current
            if (current_status == ERROR and wanted not in (ERROR, DELETED)
                    and current.task_state is None):
                raise exceptions.ResourceInErrorState(
                    current.fault_message or f"Server {server_id} went to ERROR",
                    resource=current)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                task = current.task_state
                state = current_status + (f" (task_state {task})" if task else "")
                raise exceptions.WaitTimeout(
                    f"Timed out after {timeout:g}s waiting for server {server_id} to "
                    f"become {wanted}; it is {state}.", resource=current)
            time.sleep(min(interval, remaining))
