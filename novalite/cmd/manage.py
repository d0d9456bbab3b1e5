"""novalite-manage: database and service administration for operators.

    novalite-manage [--config-file F ...] [--config-dir D] db sync [--version V]
    novalite-manage [--config-file F ...] db version
    novalite-manage [--config-file F ...] service list

Exit code 0 on success; 1 with a one-line message on stderr when the command fails
(database unreachable, unknown revision, ...).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from oslo_config import cfg

from novalite import context as nl_context
from novalite import exception, servicegroup
from novalite.conf import CONF

PROG = "novalite-manage"


def _add_command_parsers(subparsers: argparse._SubParsersAction) -> None:
    db = subparsers.add_parser("db", help="database schema")
    db_commands = db.add_subparsers(dest="action", metavar="{sync,version}")
    db_commands.required = True
    sync = db_commands.add_parser("sync", help="upgrade the schema (to the newest revision)")
    sync.add_argument("--version", dest="target_version", default="head",
                      help="revision to upgrade to (default: head)")
    db_commands.add_parser("version", help="print the schema revision of the database")

    service = subparsers.add_parser("service", help="services")
    service_commands = service.add_subparsers(dest="action", metavar="{list}")
    service_commands.required = True
    service_commands.add_parser("list", help="list services with their state")


category_opt = cfg.SubCommandOpt("category", title="Commands",
                                 help="db sync | db version | service list",
                                 handler=_add_command_parsers)


# -- commands ----------------------------------------------------------------

def db_sync() -> int:
    from novalite.db import migration

    migration.db_sync(CONF.category.target_version)
    print(f"Database is at revision {migration.db_version()}.")
    return 0


def db_version() -> int:
    from novalite.db import migration

    print(migration.db_version() or "None")
    return 0


def format_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain text table, columns padded to their widest cell."""
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in r]
                                           for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    rule = "+" + "+".join("-" * (w + 2) for w in widths) + "+"
    lines = [rule, _row(cells[0], widths), rule]
    lines += [_row(row, widths) for row in cells[1:]]
    lines.append(rule)
    return "\n".join(lines)


def _row(cells: Sequence[str], widths: Sequence[int]) -> str:
    return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"


def service_list() -> int:
    from novalite.db import api as db

    now = servicegroup.utcnow()
    rows = []
    for svc in db.service_get_all(nl_context.get_admin_context()):
        updated = svc.last_seen_up or svc.updated_at or svc.created_at
        rows.append((svc.id, svc.binary, svc.host,
                     "up" if servicegroup.is_up(svc, now) else "down",
                     "disabled" if svc.disabled else "enabled",
                     updated.isoformat(sep=" ", timespec="seconds") if updated else ""))
    print(format_table(("Id", "Binary", "Host", "State", "Status", "Updated At"), rows))
    return 0


COMMANDS: dict[tuple[str, str], Callable[[], int]] = {
    ("db", "sync"): db_sync,
    ("db", "version"): db_version,
    ("service", "list"): service_list,
}


def _register_cli() -> None:
    try:
        CONF.register_cli_opt(category_opt)
    except cfg.ArgsAlreadyParsedError:
        # main() ran before in this process (tests): forget the old command line.
        CONF.clear()
        CONF.register_cli_opt(category_opt)


def main(argv: list[str] | None = None) -> int:
    """Parse the command line (oslo.config sub-commands) and run the command."""
    _register_cli()
    args = sys.argv[1:] if argv is None else argv
    try:
        CONF(args, project="novalite", prog=PROG)
    except cfg.Error as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return 2
    command = COMMANDS[(CONF.category.name, CONF.category.action)]
    try:
        return command()
    except exception.NovaliteException as err:
        print(f"{PROG}: error: {err.format_message()}", file=sys.stderr)
        return 1
    except Exception as err:  # noqa: BLE001 - one readable line instead of a traceback
        print(f"{PROG}: error: {type(err).__name__}: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
