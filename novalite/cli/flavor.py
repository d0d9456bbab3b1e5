"""``novalite flavor ...``: list, show, create and delete flavors."""

from __future__ import annotations

import argparse

from novalite.cli import common
from novalite.client import exceptions

COLUMNS = ("ID", "Name", "RAM", "Disk", "Ephemeral", "VCPUs", "Is Public")


def _row(flavor: object) -> tuple:
    data = common.raw(flavor)
    return (data.get("id"), data.get("name"), data.get("ram"), data.get("disk"),
            data.get("OS-FLV-EXT-DATA:ephemeral"), data.get("vcpus"),
            data.get("os-flavor-access:is_public"))


class ListFlavor(common.Lister):
    """List flavors."""

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = super().get_parser(prog_name)
        group = parser.add_mutually_exclusive_group()
        group.add_argument("--public", dest="is_public", action="store_const", const=True,
                           help="Only public flavors (the default)")
        group.add_argument("--private", dest="is_public", action="store_const", const=False,
                           help="Only private flavors (admin only)")
        group.add_argument("--all", dest="is_public", action="store_const", const="none",
                           help="Public and private flavors (admin only)")
        return parser

    def take_action(self, parsed_args: argparse.Namespace) -> tuple:
        flavors = self.client.flavors.list(detailed=True, is_public=parsed_args.is_public)
        return COLUMNS, [_row(f) for f in flavors]


class ShowFlavor(common.ShowOne):
    """Show every field of a flavor."""

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = super().get_parser(prog_name)
        parser.add_argument("flavor", metavar="<flavor>", help="Flavor (name or ID)")
        return parser

    def take_action(self, parsed_args: argparse.Namespace) -> tuple:
        flavor = self.client.flavors.find(parsed_args.flavor)
        return common.show_dict(flavor.fields())


class CreateFlavor(common.ShowOne):
    """Create a flavor (admin only)."""

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = super().get_parser(prog_name)
        parser.add_argument("name", metavar="<name>", help="Name of the new flavor")
        parser.add_argument("--ram", metavar="<mb>", type=int, required=True,
                            help="Memory in MiB")
        parser.add_argument("--vcpus", metavar="<count>", type=int, required=True,
                            help="Number of virtual CPUs")
        parser.add_argument("--disk", metavar="<gb>", type=int, required=True,
                            help="Root disk size in GiB (0: the image's size)")
        parser.add_argument("--ephemeral", metavar="<gb>", type=int, default=0,
                            help="Ephemeral disk size in GiB (default 0)")
        parser.add_argument("--swap", metavar="<mb>", type=int, default=0,
                            help="Swap disk size in MiB (default 0)")
        parser.add_argument("--id", metavar="<id>", dest="flavorid",
                            help="Flavor ID (default: a generated UUID)")
        parser.add_argument("--private", action="store_true",
                            help="Make the flavor private (default: public)")
        return parser

    def take_action(self, parsed_args: argparse.Namespace) -> tuple:
        flavor = self.client.flavors.create(
            parsed_args.name, parsed_args.ram, parsed_args.vcpus, parsed_args.disk,
            flavorid=parsed_args.flavorid, ephemeral=parsed_args.ephemeral,
            swap=parsed_args.swap, is_public=not parsed_args.private)
        return common.show_dict(flavor.fields())


class DeleteFlavor(common.Command):
    """Delete one or more flavors (admin only)."""

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = super().get_parser(prog_name)
        parser.add_argument("flavor", metavar="<flavor>", nargs="+",
                            help="Flavor (name or ID), one or more")
        return parser

    def take_action(self, parsed_args: argparse.Namespace) -> int:
        failures = 0
        for name in parsed_args.flavor:
            try:
                self.client.flavors.delete(self.client.flavors.find(name))
            except exceptions.ClientException as exc:
                if len(parsed_args.flavor) == 1:
                    raise
                self.app.report_error(exc)
                failures += 1
        return 1 if failures else 0


COMMANDS = {
    "flavor list": ListFlavor,
    "flavor show": ShowFlavor,
    "flavor create": CreateFlavor,
    "flavor delete": DeleteFlavor,
}
