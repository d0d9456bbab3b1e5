"""The ``novalite`` command: a cliff application over novalite.client.

Commands are registered explicitly (no entry-point discovery). Every command failure
is printed as one ``Error: ...`` line on stderr with exit code 1; ``--debug`` shows the
traceback instead.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import logging
import os
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from cliff import app, commandmanager

from novalite.cli import az, common, flavor, hypervisor, limits, migration, server, service
from novalite.client import Client

DESCRIPTION = "Command-line client for the novalite compute API (Nova-compatible)."
MODULES = (server, flavor, hypervisor, service, migration, az, limits)
DEFAULT_WAIT_TIMEOUT = 600.0


def _version() -> str:
    try:
        return importlib.metadata.version("novalite")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def build_command_manager() -> commandmanager.CommandManager:
    """A CommandManager holding every novalite command."""
    manager = commandmanager.CommandManager(None)
    # Hooks of a command are looked up under "<namespace>.<command>"; none are defined.
    manager.namespace = "novalite.cli"
    for module in MODULES:
        for name, command_class in module.COMMANDS.items():
            manager.add_command(name, command_class)
    return manager


class NovaliteApp(app.App):
    """The cliff application: global options and the lazily created Client."""

    NAME = "novalite"
    LOG = logging.getLogger("novalite.cli")

    def __init__(self, stdout: TextIO | None = None, stderr: TextIO | None = None) -> None:
        self._client: Any = None
        self._log_handlers: list[tuple[logging.Logger, logging.Handler]] = []
        self._root_level: int | None = None
        super().__init__(description=DESCRIPTION, version=_version(),
                         command_manager=build_command_manager(),
                         stdout=stdout, stderr=stderr, deferred_help=True)

    def build_option_parser(self, description: str | None, version: str | None,
                            argparse_kwargs: dict[str, Any] | None = None
                            ) -> argparse.ArgumentParser:
        # No abbreviations: "--wait" after a command must not be read as --wait-timeout.
        kwargs = {"prog": self.NAME, "allow_abbrev": False, **(argparse_kwargs or {})}
        parser = super().build_option_parser(description, version, kwargs)
        for action in parser._actions:
            if isinstance(action, argparse._VersionAction):
                action.version = f"{self.NAME} {version}"
        parser.add_argument("--os-url", metavar="<url>",
                            help="Compute API endpoint, e.g. http://HOST:8774/v2.1 "
                                 "(default: env NOVALITE_URL, then clouds.yaml)")
        parser.add_argument("--os-token", metavar="<token>",
                            help="Authentication token (default: env NOVALITE_TOKEN, "
                                 "then clouds.yaml)")
        parser.add_argument("--os-cloud", metavar="<cloud>",
                            help="Cloud to use from clouds.yaml (default: env OS_CLOUD)")
        parser.add_argument("--os-compute-api-version", metavar="<version>",
                            default="latest",
                            help="Compute API microversion, e.g. 2.80 (default: latest "
                                 "both sides support)")
        parser.add_argument("--timeout", metavar="<seconds>", type=float, default=30.0,
                            help="Timeout of each HTTP request in seconds (default 30)")
        parser.add_argument("--wait-timeout", metavar="<seconds>", type=float,
                            default=DEFAULT_WAIT_TIMEOUT,
                            help="How long --wait waits before giving up, in seconds "
                                 f"(default {DEFAULT_WAIT_TIMEOUT:.0f})")
        return parser

    @property
    def client(self) -> Any:
        """The API client, created on first use from the global options."""
        if self._client is None:
            options = self.options
            self._client = Client(endpoint=options.os_url, token=options.os_token,
                                  api_version=options.os_compute_api_version,
                                  timeout=options.timeout, cloud=options.os_cloud)
        return self._client

    def report_error(self, exc: BaseException) -> None:
        """Print one ``Error: ...`` line on stderr."""
        self.stderr.write(common.format_error(exc) + "\n")
        self.stderr.flush()

    def configure_logging(self) -> None:
        """Console logging on stderr: warnings by default, -v info, -vv or --debug debug.

        Unlike cliff's default this undoes itself (close()), so that running the app
        several times in one process does not pile up handlers.
        """
        self._remove_log_handlers()
        options = self.options
        if options.debug:
            level = logging.DEBUG
        else:
            level = {0: logging.ERROR, 1: logging.WARNING, 2: logging.INFO}.get(
                options.verbose_level, logging.DEBUG)
        root = logging.getLogger()
        self._root_level = root.level
        console = logging.StreamHandler(self.stderr)
        console.setLevel(level)
        console.setFormatter(logging.Formatter(self.CONSOLE_MESSAGE_FORMAT))
        handlers: list[logging.Handler] = [console]
        if options.log_file:
            file_handler = logging.FileHandler(options.log_file)
            file_handler.setFormatter(logging.Formatter(self.LOG_FILE_MESSAGE_FORMAT))
            file_handler.setLevel(logging.DEBUG)
            handlers.append(file_handler)
            level = logging.DEBUG
        root.setLevel(min(level, root.level) if root.level else level)
        for handler in handlers:
            root.addHandler(handler)
            self._log_handlers.append((root, handler))

    def close(self) -> None:
        """Remove the logging handlers this app added and close its client."""
        self._remove_log_handlers()
        if self._client is not None and hasattr(self._client, "close"):
            try:
                self._client.close()
            except Exception:  # noqa: BLE001 - closing must not hide the command's result
                pass
            self._client = None

    def _remove_log_handlers(self) -> None:
        for logger, handler in self._log_handlers:
            logger.removeHandler(handler)
            handler.close()
        self._log_handlers = []
        if self._root_level is not None:
            logging.getLogger().setLevel(self._root_level)
            self._root_level = None


def _silence_stdout() -> None:
    """After a broken pipe, point stdout at /dev/null so that the interpreter's final
    flush does not print another BrokenPipeError."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``novalite`` with `argv` (default: sys.argv[1:]); returns the exit code."""
    application = NovaliteApp()
    try:
        code = application.run(list(sys.argv[1:] if argv is None else argv))
        if code == app._SIGPIPE_EXIT and argv is None:
            _silence_stdout()
        return code
    except SystemExit as exc:  # argparse usage errors and --help
        code = exc.code
        if code is None:
            return 0
        return code if isinstance(code, int) else 1
    finally:
        application.close()


if __name__ == "__main__":
    sys.exit(main())
