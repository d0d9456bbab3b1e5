"""Rows of the benchmark table: what, figure, target, ratio to floor; text and JSON."""

from __future__ import annotations

import dataclasses
import json
import math
import time
from collections.abc import Sequence
from typing import Any


def percentile(samples: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (pct in 0..100) of non-empty samples."""
    ordered = sorted(samples)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


@dataclasses.dataclass
class Row:
    section: str
    what: str
    figure: str
    target: str = ""
    ratio: float | None = None  # figure / floor, where a floor applies
    ok: bool | None = None  # whether the target is met (None: no target, or not measured)
    data: dict[str, Any] = dataclasses.field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def skipped(section: str, what: str, why: str, target: str = "") -> Row:
    return Row(section, what, f"skipped: {why}", target)


class Report:
    def __init__(self) -> None:
        self.rows: list[Row] = []
        self.meta: dict[str, Any] = {}
        self.started = time.monotonic()

    def add(self, row: Row) -> Row:
        self.rows.append(row)
        print(f"  [{time.monotonic() - self.started:6.1f} s] {row.what}: {row.figure}",
              flush=True)
        return row

    def table(self) -> str:
        header = ("what", "figure", "target", "× floor", "met")
        lines = [header]
        for row in self.rows:
            met = row.data.get("met") or {True: "yes", False: "NO", None: ""}[row.ok]
            ratio = f"{row.ratio:.2f}" if row.ratio is not None else ""
            figure = row.figure if len(row.figure) <= 120 else row.figure[:117] + "..."
            lines.append((row.what, figure, row.target, ratio, met))
        widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
        out = []
        for index, line in enumerate(lines):
            out.append("  ".join(cell.ljust(width) for cell, width in zip(line, widths,
                                                                           strict=True))
                       .rstrip())
            if index == 0:
                out.append("  ".join("-" * width for width in widths))
        return "\n".join(out)

    def json(self) -> str:
        return json.dumps({"meta": self.meta, "rows": [r.as_dict() for r in self.rows]},
                          indent=2, default=str)
