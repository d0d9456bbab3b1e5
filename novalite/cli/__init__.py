"""The ``novalite`` command-line tool (built on cliff)."""
