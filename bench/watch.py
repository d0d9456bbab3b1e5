"""Watch the database instead of polling the API: a trigger on the bench database
NOTIFYs every change of an instance's (vm_state, task_state, deleted) and of a
migration's status at commit; one thread LISTENs and timestamps each on arrival.

A flow's end is then the arrival of its final state (well under a millisecond after
the commit), at no cost to the API and no polling interval in the figure. The trigger
lives only in the throwaway database of the run; novalite's code is untouched.
"""

from __future__ import annotations

import collections
import select
import threading
import time
from collections.abc import Callable, Iterable

import psycopg2

CHANNEL = "novalite_bench"

TRIGGERS = f"""
CREATE OR REPLACE FUNCTION bench_notify_instance() RETURNS trigger AS $$
BEGIN
  IF TG_OP = 'INSERT' OR NEW.vm_state IS DISTINCT FROM OLD.vm_state
     OR NEW.task_state IS DISTINCT FROM OLD.task_state OR NEW.deleted <> OLD.deleted THEN
    PERFORM pg_notify('{CHANNEL}', concat_ws('|', 'i', NEW.uuid, NEW.vm_state,
                                             coalesce(NEW.task_state, ''), NEW.deleted));
  END IF;
  RETURN NEW;
END $$ LANGUAGE plpgsql;
CREATE OR REPLACE FUNCTION bench_notify_migration() RETURNS trigger AS $$
BEGIN
  IF TG_OP = 'INSERT' OR NEW.status IS DISTINCT FROM OLD.status THEN
    PERFORM pg_notify('{CHANNEL}', concat_ws('|', 'm', NEW.instance_uuid, NEW.status,
                                             coalesce(NEW.dest_compute, ''), NEW.id));
  END IF;
  RETURN NEW;
END $$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS bench_instance ON instances;
CREATE TRIGGER bench_instance AFTER INSERT OR UPDATE ON instances
  FOR EACH ROW EXECUTE FUNCTION bench_notify_instance();
DROP TRIGGER IF EXISTS bench_migration ON migrations;
CREATE TRIGGER bench_migration AFTER INSERT OR UPDATE ON migrations
  FOR EACH ROW EXECUTE FUNCTION bench_notify_migration();
"""


# An event is a tuple: (arrival time, "i", uuid, vm_state, task_state or "", deleted)
# for an instance, (arrival time, "m", instance uuid, status, dest_compute, id) for a
# migration.


def instance_is(vm_state: str, task_state: str | None = None) -> Callable[[tuple], bool]:
    """An instance event with that (vm_state, task_state); task None means none."""
    task = task_state or ""
    return lambda e: e[1] == "i" and e[3] == vm_state and e[4] == task


def deleted(e: tuple) -> bool:
    return e[1] == "i" and e[5] != "0"


def migration_is(*statuses: str) -> Callable[[tuple], bool]:
    return lambda e: e[1] == "m" and e[3] in statuses


def failed(e: tuple) -> bool:
    return (e[1] == "i" and e[3] == "error") or (e[1] == "m" and e[3] in ("error", "failed"))


class Watcher:
    def __init__(self, dsn: str) -> None:
        self._conn = psycopg2.connect(dsn)
        self._conn.autocommit = True
        with self._conn.cursor() as cur:
            cur.execute(TRIGGERS)
            cur.execute(f"LISTEN {CHANNEL}")
        self._cond = threading.Condition()
        self._events: dict[str, list[tuple]] = collections.defaultdict(list)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-watch", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            if not select.select([self._conn], [], [], 0.2)[0]:
                continue
            self._conn.poll()
            now = time.perf_counter()
            with self._cond:
                while self._conn.notifies:
                    note = self._conn.notifies.pop(0)
                    kind, uuid, *rest = note.payload.split("|")
                    self._events[uuid].append((now, kind, uuid, *rest))
                self._cond.notify_all()

    def first(self, uuid: str, match: Callable[[tuple], bool], since: float) -> tuple | None:
        with self._cond:
            return self._first(uuid, match, since)

    def _first(self, uuid: str, match: Callable[[tuple], bool], since: float) -> tuple | None:
        for event in self._events.get(uuid, ()):
            if event[0] >= since and match(event):
                return event
        return None

    def between(self, uuid: str, start: float, end: float) -> list[tuple]:
        """Every event of `uuid` that arrived from start to end (inclusive)."""
        with self._cond:
            return [e for e in self._events.get(uuid, ()) if start <= e[0] <= end]

    def wait(self, uuid: str, match: Callable[[tuple], bool], since: float,
             timeout: float = 60.0) -> float:
        """Arrival time of the first event of `uuid` at or after `since` that matches;
        raises on timeout, or when the instance or its migration fails first."""
        found: list[tuple] = []

        def done() -> bool:
            event = self._first(uuid, lambda e: match(e) or failed(e), since)
            if event is not None:
                found.append(event)
            return event is not None

        with self._cond:
            if not self._cond.wait_for(done, timeout):
                history = [e[1:] for e in self._events.get(uuid, ()) if e[0] >= since]
                raise TimeoutError(f"{uuid}: no final state after {timeout}s; saw {history}")
        if not match(found[0]):
            raise RuntimeError(f"{uuid} failed: {found[0][1:]}")
        return found[0][0]

    def wait_all(self, uuids: Iterable[str], match: Callable[[tuple], bool], since: float,
                 timeout: float) -> dict[str, tuple]:
        """For each uuid its first matching or failed event since `since`; those still
        missing at the timeout are absent."""
        pending = set(uuids)
        out: dict[str, tuple] = {}
        deadline = time.monotonic() + timeout
        with self._cond:
            while pending and time.monotonic() < deadline:
                for uuid in list(pending):
                    event = self._first(uuid, lambda e: match(e) or failed(e), since)
                    if event is not None:
                        out[uuid] = event
                        pending.discard(uuid)
                if pending:
                    self._cond.wait(min(0.5, max(0.0, deadline - time.monotonic())))
        return out

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self._conn.close()
