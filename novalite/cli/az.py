"""``novalite az list``: availability zones (with their hosts and services, --long)."""

from __future__ import annotations

import argparse

from novalite.cli import common


def _zone_state(zone: dict) -> str:
    state = zone.get("zoneState") or {}
    return "available" if state.get("available") else "not available"


class ListAvailabilityZone(common.Lister):
    """List availability zones."""

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = super().get_parser(prog_name)
        parser.add_argument("--long", action="store_true",
                            help="One row per host and service of each zone (admin only)")
        return parser

    def take_action(self, parsed_args: argparse.Namespace) -> tuple:
        zones = [common.raw(z)
                 for z in self.client.availability_zones.list(detailed=parsed_args.long)]
        if not parsed_args.long:
            return ("Zone Name", "Zone Status"), [(z.get("zoneName"), _zone_state(z))
                                                  for z in zones]
        columns = ("Zone Name", "Zone Status", "Host Name", "Service Name", "Service Status",
                   "Service State", "Updated At")
        data = []
        for zone in zones:
            hosts = zone.get("hosts") or {}
            if not hosts:
                data.append((zone.get("zoneName"), _zone_state(zone), "", "", "", "", ""))
            for host, services in sorted(hosts.items()):
                for binary, info in sorted((services or {}).items()):
                    data.append((zone.get("zoneName"), _zone_state(zone), host, binary,
                                 "enabled" if info.get("active") else "disabled",
                                 "up" if info.get("available") else "down",
                                 info.get("updated_at")))
        return columns, data


COMMANDS = {
    "az list": ListAvailabilityZone,
}
