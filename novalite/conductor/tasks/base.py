"""A conductor task: execute forward, and on failure undo what was done, in reverse.

Undo steps are recorded as the forward steps succeed, so a rollback undoes exactly
what happened — never a step that did not run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

LOG = logging.getLogger(__name__)


class Task:
    def __init__(self) -> None:
        self._undo: list[tuple[str, Callable[[], object]]] = []

    def on_rollback(self, what: str, undo: Callable[[], object]) -> None:
        """Record how to undo the step that just succeeded."""
        self._undo.append((what, undo))

    def execute(self) -> None:
        try:
            self._execute()
        except Exception as exc:
            LOG.warning("%s failed (%s); rolling back", type(self).__name__, exc)
            self.rollback(exc)

    def _execute(self) -> None:
        raise NotImplementedError

    def rollback(self, exc: Exception) -> None:
        """Run the recorded undo steps newest first; one failing does not stop the rest."""
        while self._undo:
            what, undo = self._undo.pop()
            try:
                undo()
            except Exception:
                LOG.exception("Rollback step failed: %s", what)
