"""The application: global options, the lazy client, errors, help and completion."""

from __future__ import annotations

import pytest

from novalite.client import exceptions
from tests.unit.cli.fakes import server


def test_global_options_reach_the_client(run, client_class, client):
    client.servers.list.return_value = []
    result = run("--os-url", "http://ctl:8774/v2.1", "--os-token", "secret",
                 "--os-cloud", "lab", "--os-compute-api-version", "2.80", "--timeout", "5",
                 "server", "list")
    assert result.code == 0, result
    client_class.assert_called_once_with(endpoint="http://ctl:8774/v2.1", token="secret",
                                         api_version="2.80", timeout=5.0, cloud="lab")


def test_defaults_leave_configuration_to_the_library(run, client_class, client):
    client.servers.list.return_value = []
    assert run("server", "list").code == 0
    client_class.assert_called_once_with(endpoint=None, token=None, api_version="latest",
                                         timeout=30.0, cloud=None)


def test_client_is_created_lazily(run, client_class):
    assert run("complete").code == 0
    assert run("help", "server", "list").code == 0
    client_class.assert_not_called()


def test_not_found_is_one_line(run, client):
    client.servers.find.side_effect = exceptions.NotFound(
        "No server with a name or ID of 'x' exists.")
    result = run("server", "show", "x")
    assert result.code == 1
    assert result.err == "Error: No server with a name or ID of 'x' exists.\n"
    assert result.out == ""


def test_conflict_shows_the_server_message_status_and_request_id(run, client):
    client.servers.find.return_value = server()
    client.servers.start.side_effect = exceptions.Conflict(
        "Cannot 'start' instance 5f1c0bd2 while it is in vm_state active", 409,
        "req-0a1b2c")
    result = run("server", "start", "vm1")
    assert result.code == 1
    assert result.err == ("Error: Cannot 'start' instance 5f1c0bd2 while it is in vm_state "
                          "active (HTTP 409, request req-0a1b2c)\n")


def test_connection_failed(run, client):
    client.servers.list.side_effect = exceptions.ConnectionFailed(
        "Unable to reach novalite at http://127.0.0.1:9/v2.1: Connection refused")
    result = run("server", "list")
    assert result.code == 1
    assert result.err == ("Error: Unable to reach novalite at http://127.0.0.1:9/v2.1: "
                          "Connection refused\n")


def test_no_endpoint_configured_with_the_real_client(run, monkeypatch, tmp_path):
    for name in ("NOVALITE_URL", "NOVALITE_TOKEN", "OS_CLOUD", "OS_CLIENT_CONFIG_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    result = run("server", "list")
    assert result.code == 1
    assert result.err.count("\n") == 1 and result.err.startswith("Error: ")
    assert "--os-url" in result.err and "NOVALITE_URL" in result.err


def test_unexpected_errors_are_one_line_unless_debug(run, client):
    client.servers.list.side_effect = RuntimeError("boom")
    result = run("server", "list")
    assert (result.code, result.err) == (1, "Error: boom\n")
    debug = run("--debug", "server", "list")
    assert debug.code == 1
    assert "Traceback" in debug.err and "RuntimeError: boom" in debug.err


def test_bad_column_is_an_error_line(run, client):
    client.servers.list.return_value = [server()]
    result = run("server", "list", "-c", "nope")
    assert result.code == 1
    assert result.err.startswith("Error: No recognized column names")


@pytest.mark.parametrize("argv, expected", [
    (["--help"], "server live-migrate"),
    (["server", "create", "--help"], "--availability-zone"),
    (["server", "live-migrate", "--help"], "--block-migration"),
    (["help", "service", "disable"], "--reason"),
    (["flavor", "create", "-h"], "--ephemeral"),
])
def test_help_exits_0(run, argv, expected):
    result = run(*argv)
    assert result.code == 0, result
    assert expected in result.out
    assert "usage: novalite" in result.out


def test_usage_error_exits_2(run):
    result = run("server", "resize", "vm1")  # --flavor is required
    assert result.code == 2
    assert "--flavor" in result.err


def test_complete_prints_a_bash_script(run):
    result = run("complete")
    assert result.code == 0
    assert "_novalite()" in result.out and "complete -F _novalite novalite" in result.out
    assert "live-migrate" in result.out and "migration-abort" in result.out


def test_broken_pipe_is_quiet(run, client):
    client.servers.list.side_effect = BrokenPipeError(32, "Broken pipe")
    result = run("server", "list")
    assert result.code == 141
    assert "Error" not in result.err
