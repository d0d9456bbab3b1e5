"""Microversion strings ("2.53") as comparable tuples, without the server's code.

The client stays importable without webob and the rest of the API stack, so it keeps
its own small parser.
"""

from __future__ import annotations

import re

from novalite.client import exceptions

LATEST = "latest"
# The newest microversion whose request and response shapes this client knows; "latest"
# never asks a newer server for more than this.
CLIENT_MAX_VERSION = "2.90"
_VERSION_RE = re.compile(r"^([1-9]\d*)\.(0|[1-9]\d*)$")


def parse(text: str) -> tuple[int, int]:
    """(major, minor) of "2.X"; UnsupportedVersion for anything else."""
    match = _VERSION_RE.match(str(text).strip())
    if not match:
        raise exceptions.UnsupportedVersion(
            f"Invalid API version {text!r}: use 'latest' or a microversion such as '2.53'.")
    return int(match.group(1)), int(match.group(2))


def normalise(text: str) -> str:
    """'latest' or a canonical "2.X" (so "2.060" and "2.60" are the same request)."""
    if str(text).strip().lower() == LATEST:
        return LATEST
    major, minor = parse(text)
    return f"{major}.{minor}"


def at_least(version: str, other: str) -> bool:
    """version >= other, both "2.X"."""
    return parse(version) >= parse(other)


def between(version: str, low: str, high: str) -> bool:
    """low <= version <= high, all "2.X"."""
    return parse(low) <= parse(version) <= parse(high)
