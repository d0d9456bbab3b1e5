"""Conductor tasks: one class per move operation, with execute and rollback."""
