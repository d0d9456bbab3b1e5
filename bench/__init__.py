"""novalite's benchmark: `python -m bench --size tiny|small|full [--json]` (see
docs/performance.md)."""
