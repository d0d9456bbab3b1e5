"""Run ``novalite`` in-process against a mocked novalite.client.Client."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from unittest import mock

import pytest

from novalite.cli import main as cli_main
from tests.unit.cli.fakes import Result


@pytest.fixture
def client_class() -> Any:
    """The patched Client class; its return_value is the client every command uses."""
    with mock.patch.object(cli_main, "Client") as patched:
        yield patched


@pytest.fixture
def client(client_class: Any) -> Any:
    """The mocked client instance."""
    return client_class.return_value


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str]) -> Callable[..., Result]:
    """run("server", "list", ...) -> Result(code, stdout, stderr)."""

    def _run(*argv: str) -> Result:
        capsys.readouterr()
        code = cli_main.main(list(argv))
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return _run
