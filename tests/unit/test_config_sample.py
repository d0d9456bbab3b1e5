"""etc/novalite/novalite.conf.sample is what oslo-config-generator makes from the code."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GENERATOR_CONF = ROOT / "etc" / "novalite" / "novalite-config-generator.conf"
SAMPLE = ROOT / "etc" / "novalite" / "novalite.conf.sample"


def test_sample_config_is_current(tmp_path):
    output = tmp_path / "novalite.conf.sample"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "oslo_config.generator",
            "--config-file",
            str(GENERATOR_CONF),
            "--output-file",
            str(output),
        ],
        check=True,
        cwd=ROOT,
        capture_output=True,
    )
    assert output.read_text() == SAMPLE.read_text(), (
        "etc/novalite/novalite.conf.sample is stale; regenerate it with "
        "`oslo-config-generator --config-file etc/novalite/novalite-config-generator.conf`"
    )


def test_sample_names_every_required_option():
    text = SAMPLE.read_text()
    for option in (
        "#host = ",
        "#transport_url = ",
        "#compute_driver = ",
        "#report_interval = ",
        "#service_down_time = ",
        "#connection = ",
        "#listen = ",
        "#port = ",
        "#auth_strategy = ",
        "#token_file = ",
        "#max_request_body_size = ",
    ):
        assert option in text, option
