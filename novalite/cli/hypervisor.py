"""``novalite hypervisor ...``: list and show compute nodes (admin only)."""

from __future__ import annotations

import argparse

from novalite.cli import common

COLUMNS = ("ID", "Hypervisor Hostname", "Hypervisor Type", "Host IP", "State", "Status")
LONG_COLUMNS = ("Host", "Hypervisor Version", "Disabled Reason")


class ListHypervisor(common.Lister):
    """List hypervisors (compute nodes)."""

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = super().get_parser(prog_name)
        parser.add_argument("--long", action="store_true",
                            help="Also show the service host, version and disabled reason")
        return parser

    def take_action(self, parsed_args: argparse.Namespace) -> tuple:
        data = []
        for hypervisor in self.client.hypervisors.list(detailed=True):
            fields = common.raw(hypervisor)
            row = [fields.get("id"), fields.get("hypervisor_hostname"),
                   fields.get("hypervisor_type"), fields.get("host_ip"),
                   fields.get("state"), fields.get("status")]
            if parsed_args.long:
                service = fields.get("service") or {}
                row += [service.get("host"), fields.get("hypervisor_version"),
                        service.get("disabled_reason")]
            data.append(tuple(row))
        return COLUMNS + (LONG_COLUMNS if parsed_args.long else ()), data


class ShowHypervisor(common.ShowOne):
    """Show every field of a hypervisor."""

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = super().get_parser(prog_name)
        parser.add_argument("hypervisor", metavar="<hypervisor>",
                            help="Hypervisor (hostname or ID)")
        return parser

    def take_action(self, parsed_args: argparse.Namespace) -> tuple:
        hypervisor = self.client.hypervisors.find(parsed_args.hypervisor)
        return common.show_dict(hypervisor.fields())


COMMANDS = {
    "hypervisor list": ListHypervisor,
    "hypervisor show": ShowHypervisor,
}
