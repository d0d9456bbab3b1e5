"""``novalite migration list``: every migration (cold, resize, live) the API knows."""

from __future__ import annotations

import argparse

from novalite.cli import common

COLUMNS = ("ID", "UUID", "Server UUID", "Type", "Status", "Source Compute", "Dest Compute",
           "Dest Host", "Created At", "Updated At")
FIELDS = ("id", "uuid", "instance_uuid", "migration_type", "status", "source_compute",
          "dest_compute", "dest_host", "created_at", "updated_at")
TYPES = ("migration", "resize", "live-migration", "evacuation")


class ListMigration(common.Lister):
    """List migrations (admin only)."""

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = super().get_parser(prog_name)
        parser.add_argument("--server", metavar="<server>",
                            help="Only the migrations of this server (name or ID)")
        parser.add_argument("--status", metavar="<status>",
                            help="Only migrations in this status (running, completed, ...)")
        parser.add_argument("--host", metavar="<host>",
                            help="Only migrations from or to this host")
        parser.add_argument("--type", metavar="<type>", choices=TYPES,
                            help="Only migrations of this type: " + ", ".join(TYPES))
        parser.add_argument("--limit", metavar="<num>", type=int,
                            help="Return at most this many migrations")
        return parser

    def take_action(self, parsed_args: argparse.Namespace) -> tuple:
        instance_uuid = None
        if parsed_args.server:
            instance_uuid = self.client.servers.find(parsed_args.server).id
        migrations = self.client.migrations.list(
            instance_uuid=instance_uuid, status=parsed_args.status, host=parsed_args.host,
            migration_type=parsed_args.type, limit=parsed_args.limit)
        return COLUMNS, common.rows(migrations, FIELDS)


COMMANDS = {
    "migration list": ListMigration,
}
