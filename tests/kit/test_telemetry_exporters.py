"""Telemetry exporters by setting: console prints spans, OTLP is wired, others are refused."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import sys
from tillstream import telemetry
telemetry.setup("checkout", sys.argv[1])
with telemetry.tracer().start_as_current_span("sale opened"):
    pass
from opentelemetry import trace
trace.get_tracer_provider().shutdown()
print("done")
"""


def run(exporter: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", SCRIPT, exporter],
        capture_output=True, text=True, timeout=60,
        env={"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9", "PATH": ""},
    )


def test_console_exporter_prints_spans_with_the_service_name() -> None:
    result = run("console")
    assert result.returncode == 0, result.stderr
    assert '"name": "sale opened"' in result.stdout
    assert "tillstream-checkout" in result.stdout


def test_otlp_exporter_is_wired() -> None:
    result = run("otlp")
    # Nobody listens on port 9: the export fails, the process still ends normally.
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("done")


def test_an_unknown_exporter_is_a_clear_error() -> None:
    result = run("zipkin")
    assert result.returncode != 0
    assert "unknown telemetry exporter 'zipkin'" in result.stderr
