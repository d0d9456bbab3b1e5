"""``--wait``: poll a server until it settles and draw one progress line on stderr.

On a terminal the line is rewritten in place (``\\r``); otherwise (a pipe, a log, a
test) it is printed as a new line each time its text changes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any, TextIO

from novalite.client import exceptions

LIVE_MIGRATION = "live-migration"
FINAL_MIGRATION_STATUSES = frozenset(
    {"completed", "confirmed", "reverted", "finished", "error", "failed", "cancelled", "done"})
FAILED_MIGRATION_STATUSES = frozenset({"error", "failed", "cancelled"})
MIB = 1048576.0


def _now() -> float:
    """The clock progress rates are measured with (patched by tests)."""
    return time.monotonic()


class ProgressLine:
    """One status line on `stream`, redrawn only when its text changes."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        try:
            self.tty = bool(stream.isatty())
        except (AttributeError, ValueError):
            self.tty = False
        self._last: str | None = None
        self._width = 0

    def update(self, text: str) -> None:
        """Show `text` (nothing happens when it is the text already shown)."""
        if text == self._last:
            return
        if self.tty:
            pad = max(self._width - len(text), 0)
            self.stream.write("\r" + text + " " * pad)
            self._width = len(text)
        else:
            self.stream.write(text + "\n")
        self.stream.flush()
        self._last = text

    def close(self) -> None:
        """End the line on a terminal so that what follows starts on its own line."""
        if self.tty and self._last is not None:
            self.stream.write("\n")
            self.stream.flush()
        self._last = None
        self._width = 0


class _Reached(Exception):
    """Raised from the poll callback when the server reached another accepted status."""

    def __init__(self, server: Any) -> None:
        super().__init__("reached")
        self.server = server


def status_text(server: Any) -> str:
    """The default progress text: ``status BUILD, task spawning``."""
    text = f"status {getattr(server, 'status', None)}"
    task = getattr(server, "task_state", None)
    if task:
        text += f", task {task}"
    return text


def wait_for_server(client: Any, server: Any, statuses: str | Iterable[str], stream: TextIO,
                    describe: Callable[[Any], str] | None = None, timeout: float = 600,
                    interval: float = 1.0, prefix: str = "") -> Any:
    """Wait until `server` shows one of `statuses` with no task (or, for "DELETED",
    is gone); returns the last server seen. The library's ResourceInErrorState and
    WaitTimeout propagate (the caller prints them)."""
    wanted = [statuses] if isinstance(statuses, str) else list(statuses)
    describe = describe or status_text
    line = ProgressLine(stream)

    def callback(current: Any) -> None:
        line.update(prefix + describe(current))
        if (getattr(current, "status", None) in wanted[1:]
                and getattr(current, "task_state", None) is None):
            raise _Reached(current)

    try:
        return client.servers.wait_for(server, wanted[0], timeout=timeout, interval=interval,
                                       callback=callback)
    except _Reached as reached:
        return reached.server
    finally:
        line.close()


def newest(migrations: Iterable[Any]) -> Any | None:
    """The most recent migration of a list (highest id, else latest created_at)."""
    items = list(migrations or [])
    if not items:
        return None

    def key(item: Any) -> tuple[int, str]:
        data = item.to_dict() if hasattr(item, "to_dict") else dict(item)
        ident = data.get("id")
        number = ident if isinstance(ident, int) else -1
        return number, str(data.get("created_at") or "")

    return max(items, key=key)


def _field(item: Any, name: str) -> Any:
    data = item.to_dict() if hasattr(item, "to_dict") else dict(item)
    return data.get(name)


class MoveProgress:
    """Progress text of a resize, cold migration or revert:
    ``resize: resize_migrating (migration: migrating)``."""

    def __init__(self, client: Any, label: str, migration_type: str | None = None) -> None:
        self.client = client
        self.label = label
        self.migration_type = migration_type
        self._listing_works = True
        self._older: set[str] | None = None

    def _list(self, server: Any) -> list[Any]:
        filters = {"migration_type": self.migration_type} if self.migration_type else {}
        return list(self.client.migrations.list(instance_uuid=server.id, **filters) or [])

    def ignore_existing(self, server: Any) -> None:
        """Before the action: remember the server's migrations so far, so that the
        progress shows only the one the action creates."""
        try:
            self._older = {str(_field(m, "id")) for m in self._list(server)}
        except exceptions.ClientException:
            self._listing_works = False

    def migration_status(self, server: Any) -> str | None:
        """The status of the server's newest migration of our type, when visible."""
        if not self._listing_works:
            return None
        try:
            found = self._list(server)
        except exceptions.ClientException:
            self._listing_works = False  # e.g. a policy that hides os-migrations
            return None
        if self._older is not None:
            found = [m for m in found if str(_field(m, "id")) not in self._older]
        migration = newest(found)
        return _field(migration, "status") if migration is not None else None

    def __call__(self, server: Any) -> str:
        step = getattr(server, "task_state", None) or getattr(server, "status", None)
        text = f"{self.label}: {step}"
        status = self.migration_status(server)
        if status:
            text += f" (migration: {status})"
        return text


def _duration(seconds: float) -> str:
    if seconds < 1:
        return "<1s"
    seconds = int(round(seconds))
    if seconds < 100:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def live_migration_text(migration: Any, rate: float | None) -> str:
    """``live-migration 42%  memory 54.0/128.0 MiB  disk 0.0/0.0 MiB  3.1 MiB/s  ~24s left``
    (only the status while the hypervisor has not reported any totals yet)."""
    data = migration.to_dict() if hasattr(migration, "to_dict") else dict(migration)
    mem_total = data.get("memory_total_bytes") or 0
    disk_total = data.get("disk_total_bytes") or 0
    total = mem_total + disk_total
    if not total:
        return f"live-migration {data.get('status')}"
    remaining = _remaining(data)
    percent = int(max(0.0, min(1.0, (total - remaining) / total)) * 100)
    parts = [
        f"live-migration {percent}%",
        f"memory {mib_text(data.get('memory_processed_bytes'), mem_total)} MiB",
        f"disk {mib_text(data.get('disk_processed_bytes'), disk_total)} MiB",
    ]
    if rate is not None:
        parts.append(f"{rate / MIB:.1f} MiB/s")
        if rate > 0 and remaining > 0:
            left = _duration(remaining / rate)
            parts.append(f"{'' if left.startswith('<') else '~'}{left} left")
    return "  ".join(parts)


def _remaining(data: dict[str, Any]) -> float:
    remaining = 0.0
    for kind in ("memory", "disk"):
        left = data.get(f"{kind}_remaining_bytes")
        if left is None:
            left = max((data.get(f"{kind}_total_bytes") or 0)
                       - (data.get(f"{kind}_processed_bytes") or 0), 0)
        remaining += left
    return remaining


def mib_text(processed: Any, total: Any) -> str:
    """``54.0/128.0`` (MiB)."""
    return f"{(processed or 0) / MIB:.1f}/{(total or 0) / MIB:.1f}"


def _processed(data: dict[str, Any]) -> int:
    return (data.get("memory_processed_bytes") or 0) + (data.get("disk_processed_bytes") or 0)


class LiveMigrationProgress:
    """Progress text of a live migration from the server's in-progress migration.

    The transfer rate is the processed-bytes delta since the counters last moved,
    divided by the time that took; the time left is the remaining bytes over it.
    """

    def __init__(self, client: Any, migration_id: Any = None) -> None:
        self.client = client
        self.migration_id = migration_id
        self._mark: tuple[float, int] | None = None
        self.rate: float | None = None
        self.last_status: str | None = None

    def current(self, server: Any) -> Any | None:
        """The server's in-progress live migration (ours when its id is known)."""
        try:
            found = list(self.client.servers.migrations(server) or [])
        except exceptions.ClientException:
            return None
        if self.migration_id is not None:
            for item in found:
                if str(_field(item, "id")) == str(self.migration_id):
                    return item
        return newest(found)

    def observe(self, migration: Any) -> None:
        """Update the rate from a new sample of the migration's counters."""
        data = migration.to_dict() if hasattr(migration, "to_dict") else dict(migration)
        self.last_status = data.get("status")
        processed = _processed(data)
        now = _now()
        if self._mark is None or processed < self._mark[1]:
            self._mark = (now, processed)
            return
        then, before = self._mark
        if processed != before and now > then:
            self.rate = (processed - before) / (now - then)
            self._mark = (now, processed)

    def __call__(self, server: Any) -> str:
        migration = self.current(server)
        if migration is None:
            return status_text(server)
        self.observe(migration)
        return live_migration_text(migration, self.rate)


def final_migration(client: Any, server_id: str, migration_type: str,
                    migration_id: Any = None) -> Any | None:
    """The server's migration `migration_id` (else its newest one) of that type, from
    os-migrations; None when that list cannot be read."""
    try:
        found = list(client.migrations.list(instance_uuid=server_id,
                                            migration_type=migration_type) or [])
    except exceptions.ClientException:
        return None
    if migration_id is not None:
        for item in found:
            if str(_field(item, "id")) == str(migration_id):
                return item
    return newest(found)


def wait_migration_final(client: Any, server_id: str, migration_type: str, migration_id: Any,
                         stream: TextIO, timeout: float = 60,
                         interval: float = 1.0) -> Any | None:
    """Poll os-migrations until the migration reaches a final status (or `timeout`)."""
    line = ProgressLine(stream)
    deadline = _now() + timeout
    try:
        while True:
            migration = final_migration(client, server_id, migration_type, migration_id)
            status = _field(migration, "status") if migration is not None else None
            if migration is None or status in FINAL_MIGRATION_STATUSES or _now() >= deadline:
                return migration
            line.update(f"{migration_type} {status}")
            time.sleep(interval)
    finally:
        line.close()
