"""Pieces shared by every ``novalite`` command: base classes, error text, value formats."""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from cliff import columns, command, lister, show

from novalite.client import exceptions

# Nova's power_state integers, as the API reports them.
POWER_STATES = {
    0: "NOSTATE",
    1: "Running",
    3: "Paused",
    4: "Shutdown",
    6: "Crashed",
    7: "Suspended",
}

NO_ENDPOINT = ("No novalite endpoint configured: pass --os-url http://HOST:8774/v2.1 "
               "(or set NOVALITE_URL), or name a clouds.yaml cloud with --os-cloud "
               "(or set OS_CLOUD).")


class CommandError(Exception):
    """A failure the CLI itself detects; printed as ``Error: <message>``."""


def format_error(exc: BaseException) -> str:
    """The one line printed for a failed command (without a traceback).

    A ClientException shows its message, then ``(HTTP 409, request req-...)`` when the
    error came from an API answer (it carries the request id).
    """
    if isinstance(exc, exceptions.ClientException):
        message = str(getattr(exc, "message", None) or exc).strip()
        if (isinstance(exc, exceptions.ConfigurationError)
                and "endpoint configured" in message.lower()):
            message = NO_ENDPOINT
        request_id = getattr(exc, "request_id", None)
        if request_id:
            status = getattr(exc, "status_code", None)
            details = ([f"HTTP {status}"] if status else []) + [f"request {request_id}"]
            message = f"{message} ({', '.join(details)})"
    else:
        message = str(exc).strip() or exc.__class__.__name__
    return "Error: " + " ".join(message.splitlines())


class _ErrorHandling:
    """Turn any exception from a command into one ``Error:`` line and exit code 1.

    With ``--debug`` the exception is re-raised so that cliff logs its traceback.
    """

    app: Any

    def run(self, parsed_args: argparse.Namespace) -> int:
        try:
            return super().run(parsed_args)  # type: ignore[misc]
        except BrokenPipeError:
            raise  # the reader went away (| head): cliff exits quietly with 141
        except Exception as exc:
            if getattr(self.app.options, "debug", False):
                raise
            self.app.report_error(exc)
            return 1

    @property
    def client(self) -> Any:
        """The API client, created on first use."""
        return self.app.client


class _AnyCaseColumns:
    """`-c id` picks the "ID" column and `-c task_state` the "Task State" one: scripts
    need not know how a table capitalises its headings."""

    def produce_output(self, parsed_args: argparse.Namespace, column_names: Sequence[str],
                       data: Any) -> int:
        if getattr(parsed_args, "columns", None):
            parsed_args.columns = [_column_named(c, column_names) for c in parsed_args.columns]
        return super().produce_output(parsed_args, column_names, data)  # type: ignore[misc]


def _column_named(requested: str, column_names: Sequence[str]) -> str:
    if requested in column_names:
        return requested
    wanted = requested.lower().replace("_", " ").replace("-", " ")
    for name in column_names:
        if name.lower().replace("_", " ").replace("-", " ") == wanted:
            return name
    return requested


class Command(_ErrorHandling, command.Command):
    """A command that prints nothing on success."""


class Lister(_ErrorHandling, _AnyCaseColumns, lister.Lister):
    """A command that prints a table of rows."""


class ShowOne(_ErrorHandling, _AnyCaseColumns, show.ShowOne):
    """A command that prints the fields of one resource."""


class DictColumn(columns.FormattableColumn):
    """A dict: ``key='value', ...`` in tables, the dict itself in json/yaml."""

    def human_readable(self) -> str:
        value = self._value
        if not value:
            return ""
        return ", ".join(f"{k}={_scalar(v)}" for k, v in sorted(value.items(), key=str))


class ListColumn(columns.FormattableColumn):
    """A list: one item per line in tables, the list itself in json/yaml."""

    def human_readable(self) -> str:
        return "\n".join(_scalar(item) for item in self._value or [])


class EventsColumn(columns.FormattableColumn):
    """Instance action events, one per line in tables."""

    def human_readable(self) -> str:
        lines = []
        for event in self._value or []:
            line = f"{event.get('event')}: {event.get('result') or 'running'}"
            times = [t for t in (event.get("start_time"), event.get("finish_time")) if t]
            if times:
                line += f" ({' -> '.join(times)})"
            if event.get("host"):
                line += f" on {event['host']}"
            lines.append(line)
        return "\n".join(lines)


def _scalar(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True)
    return "" if value is None else str(value)


def format_value(value: Any) -> Any:
    """Wrap dicts and lists so tables stay readable while json/yaml keep the data."""
    if isinstance(value, Mapping):
        return DictColumn(dict(value))
    if isinstance(value, (list, tuple)):
        return ListColumn(list(value))
    return value


def raw(resource: Any) -> dict[str, Any]:
    """A resource's raw API fields."""
    if isinstance(resource, Mapping):
        return dict(resource)
    return dict(resource.to_dict())


def show_dict(data: Mapping[str, Any]) -> tuple[tuple[str, ...], tuple[Any, ...]]:
    """(columns, values) of a ShowOne over every field, sorted by name."""
    keys = tuple(sorted(data))
    return keys, tuple(format_value(data[k]) for k in keys)


def power_state_name(value: Any) -> Any:
    """Nova's power_state integer as a word (other values unchanged)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return POWER_STATES.get(value, str(value))
    return value


def rows(items: Iterable[Any], fields: Sequence[str]) -> list[tuple[Any, ...]]:
    """Table rows of `items`, taking `fields` from each one's raw dict."""
    result = []
    for item in items:
        data = raw(item)
        result.append(tuple(format_value(data.get(f)) for f in fields))
    return result


def mib(value: Any) -> float:
    """Bytes (or None) as MiB."""
    return (value or 0) / 1048576.0
