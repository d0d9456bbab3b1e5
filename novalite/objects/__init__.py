"""Objects that cross RPC boundaries (see base.py)."""
