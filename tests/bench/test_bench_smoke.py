"""The benchmark at its tiny size: it brings a deployment up, runs every section and
prints every row. Timings are not asserted (they say how fast, not whether it works).

Needs PostgreSQL and RabbitMQ: skipped when they are unreachable, unless
NOVALITE_TEST_REQUIRE_DATABASES=1.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench import deploy
from bench.__main__ import ROW_PREFIXES
from tests.conftest import database_backends

ROOT = Path(__file__).resolve().parents[2]


def test_tiny_benchmark_prints_every_row():
    if "postgresql" not in database_backends():
        pytest.skip("the benchmark runs on PostgreSQL, not in NOVALITE_TEST_DATABASES")
    why = deploy.unreachable()
    if why:
        if os.environ.get("NOVALITE_TEST_REQUIRE_DATABASES") == "1":
            pytest.fail(f"{why} (NOVALITE_TEST_REQUIRE_DATABASES=1)", pytrace=False)
        pytest.skip(why)

    result = subprocess.run([sys.executable, "-m", "bench", "--size", "tiny", "--json"],
                            cwd=ROOT, capture_output=True, text=True, timeout=170)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    out = result.stdout
    table, _, raw = out.partition("\n{\n")
    rows = json.loads("{\n" + raw)["rows"]
    names = [row["what"] for row in rows]
    for prefix in ROW_PREFIXES:
        assert any(name.startswith(prefix) for name in names), (prefix, names)
        assert prefix in table, prefix
    assert not [row for row in rows if row["figure"].startswith("FAILED")], rows
