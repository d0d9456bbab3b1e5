"""``novalite server ...``: list, show, create, delete, power, resize, migrate, live
migrate, lock, a server's migrations and its instance actions."""

from __future__ import annotations

import argparse
from typing import Any

from cliff import columns as cliff_columns

from novalite.cli import common, progress
from novalite.client import exceptions

LIST_COLUMNS = ("ID", "Name", "Status", "Task State", "Power State", "Host")
LONG_COLUMNS = ("Flavor", "Image", "AZ", "Created")


def add_server_argument(parser: argparse.ArgumentParser, nargs: str | None = None) -> None:
    """The positional ``<server>`` (a name or an ID)."""
    parser.add_argument("server", metavar="<server>", nargs=nargs,
                        help="Server (name or ID)" + (", one or more" if nargs else ""))


def add_wait_argument(parser: argparse.ArgumentParser, what: str) -> None:
    """``--wait``: poll until `what`, drawing a progress line on stderr."""
    parser.add_argument("--wait", action="store_true",
                        help=f"Wait until {what}, showing progress on stderr; exit 1 if "
                             "the server goes to ERROR or the wait times out")


def parse_properties(values: list[str] | None) -> dict[str, str] | None:
    """``KEY=VALUE`` pairs as a dict."""
    if not values:
        return None
    result: dict[str, str] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise common.CommandError(f"--property expects KEY=VALUE, not {item!r}.")
        result[key] = value
    return result


def server_fields(server: Any) -> dict[str, Any]:
    """Every field of a server (raw and readable names) for ``show``."""
    fields = dict(server.fields()) if hasattr(server, "fields") else common.raw(server)
    if "power_state" in fields:
        fields["power_state"] = common.power_state_name(fields["power_state"])
    return fields


def _flavor_text(flavor: Any) -> Any:
    if isinstance(flavor, dict):
        return flavor.get("original_name") or flavor.get("name") or flavor.get("id")
    return flavor


def _image_id(image: Any) -> Any:
    if isinstance(image, dict):
        return image.get("id")
    return image or None


class _ServerCommand(common.Command):
    """Shared helpers of the server action commands."""

    def find(self, name_or_id: str) -> Any:
        """The server called or identified by `name_or_id`."""
        return self.client.servers.find(name_or_id)

    def wait(self, server: Any, statuses: str | tuple[str, ...],
             describe: Any = None, prefix: str = "") -> Any:
        """Wait for `server` to reach `statuses`, with a progress line on stderr."""
        return progress.wait_for_server(
            self.client, server, statuses, self.app.stderr, describe=describe,
            timeout=self.app.options.wait_timeout, prefix=prefix)


class ListServer(common.Lister):
    """List servers."""

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = super().get_parser(prog_name)
        parser.add_argument("--all-projects", action="store_true",
                            help="Include the servers of every project (admin only)")
        parser.add_argument("--status", metavar="<status>",
                            help="Only servers in this status (ACTIVE, SHUTOFF, ERROR, ...)")
        parser.add_argument("--host", metavar="<host>",
                            help="Only servers on this compute host (admin only)")
        parser.add_argument("--name", metavar="<name-regex>",
                            help="Only servers whose name matches this regular expression")
        parser.add_argument("--limit", metavar="<num>", type=int,
                            help="Return at most this many servers")
        parser.add_argument("--long", action="store_true",
                            help="Also show flavor, image, availability zone and creation time")
        return parser

    def take_action(self, parsed_args: argparse.Namespace) -> tuple:
        filters = {key: getattr(parsed_args, key) for key in ("status", "host", "name")
                   if getattr(parsed_args, key)}
        servers = self.client.servers.list(detailed=True, all_projects=parsed_args.all_projects,
                                           limit=parsed_args.limit, **filters)
        columns = LIST_COLUMNS + (LONG_COLUMNS if parsed_args.long else ())
        images = self._image_names() if parsed_args.long else {}
        data = []
        for server in servers:
            row = [server.id, server.name, server.status, server.task_state,
                   common.power_state_name(server.power_state), server.host]
            if parsed_args.long:
                fields = common.raw(server)
                image_id = _image_id(fields.get("image"))
                row += [_flavor_text(fields.get("flavor")),
                        images.get(image_id, image_id) if image_id else "",
                        server.availability_zone, fields.get("created")]
            data.append(tuple(row))
        return columns, data

    def _image_names(self) -> dict[str, str]:
        try:
            return {image.id: getattr(image, "name", None) or image.id
                    for image in self.client.images.list()}
        except exceptions.ClientException:
            return {}


class ShowServer(common.ShowOne):
    """Show every field of a server (raw API fields and readable names)."""

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = super().get_parser(prog_name)
        add_server_argument(parser)
        return parser

    def take_action(self, parsed_args: argparse.Namespace) -> tuple:
        server = self.client.servers.find(parsed_args.server)
        return common.show_dict(server_fields(server))


class CreateServer(common.ShowOne):
    """Create a server (or several with --min/--max)."""

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = super().get_parser(prog_name)
        parser.add_argument("name", metavar="<name>", help="Name of the new server")
        parser.add_argument("--flavor", metavar="<flavor>", required=True,
                            help="Flavor (name or ID)")
        parser.add_argument("--image", metavar="<image>", required=True,
                            help="Image (name or ID)")
        parser.add_argument("--availability-zone", metavar="<zone>",
                            help="Availability zone to boot in")
        parser.add_argument("--host", metavar="<host>",
                            help="Compute host to boot on (admin only; API 2.74+)")
        parser.add_argument("--min", metavar="<count>", type=int, default=1,
                            help="Minimum number of servers to create (default 1)")
        parser.add_argument("--max", metavar="<count>", type=int,
                            help="Maximum number of servers to create (default: --min)")
        parser.add_argument("--property", metavar="<key=value>", action="append",
                            help="Metadata to set on the server (repeat for more)")
        add_wait_argument(parser, "the server is ACTIVE")
        return parser

    def take_action(self, parsed_args: argparse.Namespace) -> tuple:
        max_count = parsed_args.max if parsed_args.max is not None else parsed_args.min
        if parsed_args.min < 1 or max_count < parsed_args.min:
            raise common.CommandError("--min must be at least 1 and --max at least --min.")
        server = self.client.servers.create(
            parsed_args.name, parsed_args.flavor, parsed_args.image,
            min_count=parsed_args.min, max_count=max_count,
            availability_zone=parsed_args.availability_zone, host=parsed_args.host,
            metadata=parse_properties(parsed_args.property))
        if parsed_args.wait:
            server = progress.wait_for_server(self.client, server, "ACTIVE", self.app.stderr,
                                              timeout=self.app.options.wait_timeout)
        return common.show_dict(server_fields(server))


class DeleteServer(_ServerCommand):
    """Delete one or more servers."""

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = super().get_parser(prog_name)
        add_server_argument(parser, nargs="+")
        add_wait_argument(parser, "the servers are gone")
        return parser

    def take_action(self, parsed_args: argparse.Namespace) -> int:
        deleted, failures = [], 0
        for name in parsed_args.server:
            try:
                server = self.find(name)
                self.client.servers.delete(server)
                deleted.append(server)
            except exceptions.ClientException as exc:
                if len(parsed_args.server) == 1:
                    raise
                self.app.report_error(exc)
                failures += 1
        if parsed_args.wait:
            for server in deleted:
                prefix = f"{server.name}: " if len(deleted) > 1 else ""
                try:
                    self.wait(server, "DELETED", prefix=prefix)
                except exceptions.ClientException as exc:
                    if len(deleted) == 1 and not failures:
                        raise
                    self.app.report_error(exc)
                    failures += 1
        return 1 if failures else 0


class _SimpleAction(_ServerCommand):
    """A server action with an optional --wait for one status."""

    action = ""
    target: tuple[str, ...] = ("ACTIVE",)
    target_text = "the server is ACTIVE"
    # The action creates a migration (resize, migrate): progress ignores older ones.
    new_migration = False

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = super().get_parser(prog_name)
        add_server_argument(parser)
        add_wait_argument(parser, self.target_text)
        self.add_arguments(parser)
        return parser

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        """Extra options of one action."""

    def call(self, server: Any, parsed_args: argparse.Namespace) -> None:
        """Ask the API for the action."""
        getattr(self.client.servers, self.action)(server)

    def describe(self) -> Any:
        """The progress text of --wait (None: status and task)."""
        return None

    def take_action(self, parsed_args: argparse.Namespace) -> int:
        server = self.find(parsed_args.server)
        describe = self.describe() if parsed_args.wait else None
        if isinstance(describe, progress.MoveProgress) and self.new_migration:
            describe.ignore_existing(server)
        self.call(server, parsed_args)
        if parsed_args.wait:
            self.wait(server, self.target, describe=describe)
        return 0


class StartServer(_SimpleAction):
    """Start (power on) a stopped server."""

    action = "start"


class StopServer(_SimpleAction):
    """Stop (power off) a server."""

    action = "stop"
    target = ("SHUTOFF",)
    target_text = "the server is SHUTOFF"


class RebootServer(_SimpleAction):
    """Reboot a server (soft by default)."""

    action = "reboot"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        group = parser.add_mutually_exclusive_group()
        group.add_argument("--hard", action="store_true",
                           help="Hard reboot (power cycle the guest)")
        group.add_argument("--soft", dest="hard", action="store_false",
                           help="Soft reboot (ask the guest to restart; the default)")

    def call(self, server: Any, parsed_args: argparse.Namespace) -> None:
        self.client.servers.reboot(server, hard=parsed_args.hard)


class ResizeServer(_SimpleAction):
    """Resize a server to another flavor (then resize-confirm or resize-revert)."""

    action = "resize"
    target = ("VERIFY_RESIZE",)
    target_text = "the server is VERIFY_RESIZE"
    new_migration = True

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--flavor", metavar="<flavor>", required=True,
                            help="New flavor (name or ID)")

    def call(self, server: Any, parsed_args: argparse.Namespace) -> None:
        self.client.servers.resize(server, self.client.flavors.find(parsed_args.flavor))

    def describe(self) -> Any:
        return progress.MoveProgress(self.client, "resize", "resize")


class ConfirmResizeServer(_SimpleAction):
    """Confirm a resize or cold migration (the server is VERIFY_RESIZE)."""

    action = "confirm_resize"
    target = ("ACTIVE", "SHUTOFF")
    target_text = "the server is ACTIVE (or SHUTOFF)"


class RevertResizeServer(_SimpleAction):
    """Revert a resize or cold migration (back to the old flavor and host)."""

    action = "revert_resize"
    target = ("ACTIVE", "SHUTOFF")
    target_text = "the server is ACTIVE (or SHUTOFF) again"

    def describe(self) -> Any:
        return progress.MoveProgress(self.client, "revert")


class MigrateServer(_SimpleAction):
    """Cold-migrate a server to another host (then resize-confirm or resize-revert)."""

    action = "migrate"
    target = ("VERIFY_RESIZE",)
    target_text = "the server is VERIFY_RESIZE"
    new_migration = True

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--host", metavar="<host>",
                            help="Destination host (default: the scheduler picks one)")

    def call(self, server: Any, parsed_args: argparse.Namespace) -> None:
        self.client.servers.migrate(server, host=parsed_args.host)

    def describe(self) -> Any:
        return progress.MoveProgress(self.client, "migrate", "migration")


class LiveMigrateServer(_ServerCommand):
    """Live-migrate a running server to another host."""

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = super().get_parser(prog_name)
        add_server_argument(parser)
        parser.add_argument("--host", metavar="<host>",
                            help="Destination host (default: the scheduler picks one)")
        group = parser.add_mutually_exclusive_group()
        group.add_argument("--block-migration", dest="block_migration", action="store_const",
                           const=True, default="auto",
                           help="Copy the disks too (hosts without shared storage)")
        group.add_argument("--shared-migration", dest="block_migration", action="store_const",
                           const=False,
                           help="The hosts share storage: copy memory only")
        parser.add_argument("--force", action="store_true",
                            help="Skip the scheduler's check of --host (older microversions)")
        add_wait_argument(parser, "the migration completed and the server is ACTIVE again")
        return parser

    def take_action(self, parsed_args: argparse.Namespace) -> int:
        server = self.find(parsed_args.server)
        before_status = server.status if server.status in ("ACTIVE", "PAUSED") else "ACTIVE"
        before_host = server.host
        self.client.servers.live_migrate(server, host=parsed_args.host,
                                         block_migration=parsed_args.block_migration,
                                         force=True if parsed_args.force else None)
        if not parsed_args.wait:
            return 0
        started = progress.final_migration(self.client, server.id, progress.LIVE_MIGRATION)
        migration_id = common.raw(started).get("id") if started is not None else None
        after = self.wait(server, (before_status,),
                          describe=progress.LiveMigrationProgress(self.client, migration_id))
        final = progress.wait_migration_final(
            self.client, server.id, progress.LIVE_MIGRATION, migration_id, self.app.stderr,
            timeout=min(60.0, self.app.options.wait_timeout))
        status = common.raw(final).get("status") if final is not None else None
        where = getattr(after, "host", None) or before_host
        if status in progress.FAILED_MIGRATION_STATUSES:
            raise common.CommandError(
                f"Live migration of server {server.name} {status}; the server is "
                f"{after.status} on host {where}.")
        if final is None and before_host and getattr(after, "host", None) == before_host:
            raise common.CommandError(
                f"Server {server.name} is still on host {before_host}: the live migration "
                "did not complete.")
        if status is not None and status not in progress.FINAL_MIGRATION_STATUSES:
            raise common.CommandError(
                f"Live migration of server {server.name} is still {status}.")
        return 0


class LockServer(_ServerCommand):
    """Lock a server: only administrators (and the locker) may act on it."""

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = super().get_parser(prog_name)
        add_server_argument(parser)
        parser.add_argument("--reason", metavar="<reason>",
                            help="Why the server is locked (API 2.73+)")
        return parser

    def take_action(self, parsed_args: argparse.Namespace) -> int:
        self.client.servers.lock(self.find(parsed_args.server), reason=parsed_args.reason)
        return 0


class UnlockServer(_ServerCommand):
    """Unlock a server."""

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = super().get_parser(prog_name)
        add_server_argument(parser)
        return parser

    def take_action(self, parsed_args: argparse.Namespace) -> int:
        self.client.servers.unlock(self.find(parsed_args.server))
        return 0


class TransferColumn(cliff_columns.FormattableColumn):
    """Bytes of a live migration: ``54.0/128.0 MiB`` in tables, a dict in json/yaml."""

    def human_readable(self) -> str:
        value = self._value
        if not value.get("total"):
            return ""
        return f"{progress.mib_text(value.get('processed'), value.get('total'))} MiB"


def _transfer(data: dict[str, Any], kind: str) -> TransferColumn:
    return TransferColumn({
        "processed": data.get(f"{kind}_processed_bytes"),
        "total": data.get(f"{kind}_total_bytes"),
        "remaining": data.get(f"{kind}_remaining_bytes"),
    })


class ListServerMigration(common.Lister):
    """List a server's in-progress live migrations."""

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = super().get_parser(prog_name)
        add_server_argument(parser)
        return parser

    def take_action(self, parsed_args: argparse.Namespace) -> tuple:
        server = self.client.servers.find(parsed_args.server)
        columns = ("ID", "UUID", "Status", "Source Compute", "Dest Compute", "Dest Host",
                   "Memory", "Disk", "Created At", "Updated At")
        data = []
        for migration in self.client.servers.migrations(server):
            fields = common.raw(migration)
            data.append((fields.get("id"), fields.get("uuid"), fields.get("status"),
                         fields.get("source_compute"), fields.get("dest_compute"),
                         fields.get("dest_host"), _transfer(fields, "memory"),
                         _transfer(fields, "disk"), fields.get("created_at"),
                         fields.get("updated_at")))
        return columns, data


def _add_migration_arguments(parser: argparse.ArgumentParser) -> None:
    add_server_argument(parser)
    parser.add_argument("migration", metavar="<migration-id>",
                        help="Migration ID (see 'server migration-list')")


class ShowServerMigration(common.ShowOne):
    """Show one in-progress live migration of a server."""

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = super().get_parser(prog_name)
        _add_migration_arguments(parser)
        return parser

    def take_action(self, parsed_args: argparse.Namespace) -> tuple:
        server = self.client.servers.find(parsed_args.server)
        migration = self.client.servers.get_migration(server, parsed_args.migration)
        return common.show_dict(common.raw(migration))


class AbortServerMigration(_ServerCommand):
    """Abort a server's in-progress live migration."""

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = super().get_parser(prog_name)
        _add_migration_arguments(parser)
        return parser

    def take_action(self, parsed_args: argparse.Namespace) -> int:
        server = self.find(parsed_args.server)
        self.client.servers.abort_migration(server, parsed_args.migration)
        return 0


class ForceCompleteServerMigration(_ServerCommand):
    """Force a server's running live migration to complete (pauses the guest)."""

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = super().get_parser(prog_name)
        _add_migration_arguments(parser)
        return parser

    def take_action(self, parsed_args: argparse.Namespace) -> int:
        server = self.find(parsed_args.server)
        self.client.servers.force_complete_migration(server, parsed_args.migration)
        return 0


class ListServerAction(common.Lister):
    """List the actions (create, stop, resize, ...) taken on a server."""

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = super().get_parser(prog_name)
        add_server_argument(parser)
        return parser

    def take_action(self, parsed_args: argparse.Namespace) -> tuple:
        server = self.client.servers.find(parsed_args.server)
        columns = ("Request ID", "Action", "Start Time", "Updated At", "Message", "User ID")
        fields = ("request_id", "action", "start_time", "updated_at", "message", "user_id")
        return columns, common.rows(self.client.servers.actions(server), fields)


class ShowServerAction(common.ShowOne):
    """Show one action taken on a server, with its events."""

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = super().get_parser(prog_name)
        add_server_argument(parser)
        parser.add_argument("request_id", metavar="<request-id>",
                            help="Request ID of the action (see 'server action-list')")
        return parser

    def take_action(self, parsed_args: argparse.Namespace) -> tuple:
        server = self.client.servers.find(parsed_args.server)
        action = self.client.servers.get_action(server, parsed_args.request_id)
        data = common.raw(action)
        events = getattr(action, "events", None)
        data["events"] = list(events if events is not None else data.get("events") or [])
        columns, values = common.show_dict(data)
        values = tuple(common.EventsColumn(data["events"]) if name == "events" else value
                       for name, value in zip(columns, values, strict=True))
        return columns, values


COMMANDS = {
    "server list": ListServer,
    "server show": ShowServer,
    "server create": CreateServer,
    "server delete": DeleteServer,
    "server start": StartServer,
    "server stop": StopServer,
    "server reboot": RebootServer,
    "server resize": ResizeServer,
    "server resize-confirm": ConfirmResizeServer,
    "server resize-revert": RevertResizeServer,
    "server migrate": MigrateServer,
    "server live-migrate": LiveMigrateServer,
    "server lock": LockServer,
    "server unlock": UnlockServer,
    "server migration-list": ListServerMigration,
    "server migration-show": ShowServerMigration,
    "server migration-abort": AbortServerMigration,
    "server migration-force-complete": ForceCompleteServerMigration,
    "server action-list": ListServerAction,
    "server action-show": ShowServerAction,
}
