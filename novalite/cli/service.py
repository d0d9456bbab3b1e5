"""``novalite service ...``: list services, enable, disable or force down a compute
service (admin only)."""

from __future__ import annotations

import argparse

from novalite.cli import common

COMPUTE_BINARY = "novalite-compute"
COLUMNS = ("ID", "Binary", "Host", "Zone", "Status", "State", "Updated At",
           "Disabled Reason", "Forced Down")
FIELDS = ("id", "binary", "host", "zone", "status", "state", "updated_at",
          "disabled_reason", "forced_down")


def _add_host_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("host", metavar="<host>", help="Host of the service")
    parser.add_argument("--binary", metavar="<binary>", default=COMPUTE_BINARY,
                        help=f"Service binary (default {COMPUTE_BINARY})")


class ListService(common.Lister):
    """List services and whether each is enabled and up."""

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = super().get_parser(prog_name)
        parser.add_argument("--host", metavar="<host>", help="Only services on this host")
        parser.add_argument("--binary", metavar="<binary>",
                            help="Only services of this binary (e.g. novalite-compute)")
        return parser

    def take_action(self, parsed_args: argparse.Namespace) -> tuple:
        services = self.client.services.list(binary=parsed_args.binary, host=parsed_args.host)
        return COLUMNS, common.rows(services, FIELDS)


class EnableService(common.Command):
    """Enable a service: the scheduler may place servers on its host again."""

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = super().get_parser(prog_name)
        _add_host_arguments(parser)
        return parser

    def take_action(self, parsed_args: argparse.Namespace) -> int:
        self.client.services.enable(parsed_args.host, binary=parsed_args.binary)
        return 0


class DisableService(common.Command):
    """Disable a service: the scheduler stops placing servers on its host."""

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = super().get_parser(prog_name)
        _add_host_arguments(parser)
        parser.add_argument("--reason", metavar="<reason>",
                            help="Why the service is disabled (shown in service list)")
        return parser

    def take_action(self, parsed_args: argparse.Namespace) -> int:
        self.client.services.disable(parsed_args.host, binary=parsed_args.binary,
                                     reason=parsed_args.reason)
        return 0


class ForceDownService(common.Command):
    """Mark a service down at once (to evacuate its host), or clear that mark."""

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = super().get_parser(prog_name)
        _add_host_arguments(parser)
        parser.add_argument("--unset", action="store_true",
                            help="Clear the forced-down mark instead of setting it")
        return parser

    def take_action(self, parsed_args: argparse.Namespace) -> int:
        self.client.services.force_down(parsed_args.host, binary=parsed_args.binary,
                                        down=not parsed_args.unset)
        return 0


COMMANDS = {
    "service list": ListService,
    "service enable": EnableService,
    "service disable": DisableService,
    "service force-down": ForceDownService,
}
