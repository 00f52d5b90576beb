"""Settings for every Tillstream process, read from the environment (prefix TILLSTREAM_)."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def project_root() -> Path:
    """The checkout's root: set by ./tillstream, else found from this file."""
    env = os.environ.get("TILLSTREAM_ROOT")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2]


class Settings(BaseSettings):
    """One settings object for the platform; each service reads the part it needs."""

    model_config = SettingsConfigDict(env_prefix="TILLSTREAM_", extra="ignore")

    #: Data directory: event stores, the embedded NATS store, logs.
    data_dir: Path = Field(default_factory=lambda: project_root() / "var")
    #: An existing NATS server; empty means "start the embedded one".
    nats_url: str = ""
    #: Port of the embedded NATS server (client) and its monitoring port.
    nats_port: int = 4333
    nats_http_port: int = 8333
    #: PostgreSQL DSN; empty means SQLite files under data_dir. Each service gets its own schema.
    postgres_dsn: str = ""
    #: AES key (base64, 16/24/32 bytes) for event payloads at rest; empty means no cipher.
    cipher_key: str = ""
    #: HMAC key for card tokens (payments); empty means a development key, with a warning.
    card_token_key: str = ""
    #: Number of subject partitions per stream (stores are spread over them).
    partitions: int = 1
    #: This replica's name in partition leases; empty means "<hostname>". Replicas of one
    #: service need different names; a restarted replica with the same name resumes at once.
    instance_id: str = ""
    #: Seconds a partition lease lasts without renewal (a standby takes over after that).
    lease_ttl: float = 10.0
    #: Attempts before a message goes to the dead-letter stream.
    max_deliver: int = 5
    #: Events a consumer processes in one transaction, at most.
    consumer_batch: int = 256
    #: Notifications the relay publishes per batch, at most.
    relay_batch: int = 500
    #: Store the demo runs as.
    demo_store: str = "s001"
    #: Telemetry exporter: "" (off), "console" or "otlp".
    otel_exporter: str = ""
    log_level: str = "INFO"

    def service_dir(self, service: str) -> Path:
        path = self.data_dir / service
        path.mkdir(parents=True, exist_ok=True)
        return path
