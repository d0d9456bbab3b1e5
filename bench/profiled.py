"""Run a novalite service under yappi (every thread), for `python -m bench --profile`.

    python -m bench.profiled <cmd module> <out.pstats> [service args...]

e.g. ``python -m bench.profiled conductor /tmp/conductor.pstats --config-file c.conf``.
At exit (SIGTERM ends the services cleanly) the stats are written in pstats format;
read them with ``python -m bench.profiled --show out.pstats``. BENCH_PROFILE_CLOCK=wall
measures wall time instead of CPU time. yappi is not a dependency of novalite: install
it into the venv by hand (``pip install yappi``).
"""

from __future__ import annotations

import atexit
import os
import pstats
import runpy
import sys


def show(path: str, limit: int = 40) -> None:
    stats = pstats.Stats(path)
    stats.sort_stats("tottime").print_stats(limit)
    stats.sort_stats("cumulative").print_stats(limit)


def main() -> None:
    if sys.argv[1] == "--show":
        show(sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 40)
        return
    import yappi

    module, out, args = sys.argv[1], sys.argv[2], sys.argv[3:]
    yappi.set_clock_type(os.environ.get("BENCH_PROFILE_CLOCK", "cpu"))

    def save() -> None:
        yappi.stop()
        yappi.get_func_stats().save(out, type="pstat")

    atexit.register(save)
    yappi.start(builtins=False, profile_threads=True)
    sys.argv = [module, *args]
    runpy.run_module(f"novalite.cmd.{module}", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
