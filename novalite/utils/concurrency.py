"""Every spawn, sleep, lock, event and pool novalite uses, in one place.

Native threads are the only backend today ([DEFAULT] concurrency_backend = threading).
Keeping these primitives here means an eventlet backend is a change to this module,
never monkey-patching scattered through the tree.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable
from concurrent import futures
from typing import Any

Event = threading.Event
futures = futures  # re-exported: callers type their pools without importing it
Lock = threading.Lock
RLock = threading.RLock

LOG = logging.getLogger(__name__)


def sleep(seconds: float) -> None:
    time.sleep(seconds)


def spawn(
    func: Callable[..., Any], *args: Any, name: str | None = None, **kwargs: Any
) -> threading.Thread:
    """Run func in a daemon thread and return the thread."""
    thread = threading.Thread(target=func, args=args, kwargs=kwargs, name=name, daemon=True)
    thread.start()
    return thread


def make_pool(max_workers: int, name: str) -> futures.ThreadPoolExecutor:
    """A bounded pool (for example the live-migration pool of a compute agent)."""
    return futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix=name)


class KeyedLocks:
    """One lock per key (an instance uuid, say), created on demand and dropped when idle."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}
        self._users: collections.Counter[str] = collections.Counter()

    def __call__(self, key: str) -> _KeyedLock:
        return _KeyedLock(self, key)

    def _acquire(self, key: str) -> None:
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
            self._users[key] += 1
        lock.acquire()

    def _release(self, key: str) -> None:
        with self._guard:
            self._locks[key].release()
            self._users[key] -= 1
            if not self._users[key]:
                del self._users[key]
                del self._locks[key]


class _KeyedLock:
    def __init__(self, owner: KeyedLocks, key: str) -> None:
        self._owner, self._key = owner, key

    def __enter__(self) -> None:
        self._owner._acquire(self._key)

    def __exit__(self, *exc: Any) -> None:
        self._owner._release(self._key)


class Periodic:
    """Call func every `interval` seconds in a thread until stop() is called."""

    def __init__(self, func: Callable[[], Any], interval: float, name: str) -> None:
        self._func, self._interval, self._name = func, interval, name
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, initial_delay: float = 0.0) -> None:
        self._thread = spawn(self._run, initial_delay, name=self._name)

    def _run(self, initial_delay: float) -> None:
        if self._stopped.wait(initial_delay):
            return
        while not self._stopped.is_set():
            started = time.monotonic()
            try:
                self._func()
            except Exception:  # a periodic task must survive one bad run
                LOG.exception("Periodic task %s failed", self._name)
            self._stopped.wait(max(0.0, self._interval - (time.monotonic() - started)))

    def stop(self) -> None:
        self._stopped.set()

    def wait(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)
