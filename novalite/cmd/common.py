"""What every novalite command does first: options, config files, logging, RPC."""

from __future__ import annotations

import sys

from oslo_config import cfg
from oslo_log import log as logging

from novalite import rpc
from novalite.conf import CONF


def parse_args(
    argv: list[str] | None, prog: str, defaults: dict[str, object] | None = None
) -> cfg.ConfigOpts:
    """Parse --config-file (repeatable), --config-dir and the rest; set up logging.

    `defaults` are [DEFAULT]-group defaults a command wants (novalite-all's in-process
    transport); config files still override them.
    """
    logging.register_options(CONF)
    rpc.register_opts(CONF)
    for name, value in (defaults or {}).items():
        CONF.set_default(name, value)
    CONF(sys.argv[1:] if argv is None else argv, project="novalite", prog=prog)
    logging.setup(CONF, "novalite")
    return CONF
