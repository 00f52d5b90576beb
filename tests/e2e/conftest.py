"""Fixtures of the end-to-end tests (services run as separate processes)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def no_fixed_grpc_ports(monkeypatch: pytest.MonkeyPatch) -> None:
    """The service processes inherit the environment: keep their gRPC servers off, so that
    runs side by side (or a platform already up on this machine) never fight over the fixed
    ports. A test that wants gRPC sets TILLSTREAM_GRPC_PORTS to free ports and turns it on."""
    monkeypatch.setenv("TILLSTREAM_GRPC_ENABLED", "false")
    monkeypatch.setenv("TILLSTREAM_DASHBOARD_PORT", "0")  # same for analytics' web dashboard
