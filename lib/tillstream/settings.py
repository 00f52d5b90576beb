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
    #: CRM master key (base64, 32 bytes) wrapping each customer's data key; empty means a
    #: development key derived from data_dir, with a warning. Production must set it.
    crm_master_key: str = ""
    #: Card vault keyring (payments): JSON {"key_id": "base64 of a 32-byte AES key", ...};
    #: empty means one development key derived from data_dir, with a warning.
    card_vault_keys: str = ""
    #: The keyring's key id new vault entries are encrypted under (may be empty when the
    #: keyring has exactly one key).
    card_vault_active_key: str = ""
    #: CRM blind-index HMAC key (base64 or text, at least 32 bytes) for phone/email lookups;
    #: empty means a development key derived from data_dir, with a warning.
    crm_index_key: str = ""
    #: The acquirer host payments authorizes through (ISO 8583 over TCP). Port 0 means the
    #: in-process acquirer stand-in; `tillstream up` runs the simulator and sets the port.
    acquirer_host: str = "127.0.0.1"
    acquirer_port: int = 0
    #: Seconds one acquirer request waits for its answer before it is reversed.
    acquirer_timeout: float = 5.0
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
    #: Commands (and gRPC calls) waiting for the database thread committed together, at most
    #: (group commit, one transaction); 1 commits each on its own.
    command_group: int = 64
    #: Store the demo runs as.
    demo_store: str = "s001"
    #: gRPC APIs for partners: off altogether when false (tests turn them off).
    grpc_enabled: bool = True
    #: Address the gRPC servers listen on.
    grpc_host: str = "[::]"
    #: gRPC port per service (JSON in TILLSTREAM_GRPC_PORTS); services not listed keep
    #: their default (tillstream.grpcserver.DEFAULT_GRPC_PORTS); 0 turns one off.
    grpc_ports: dict[str, int] = Field(default_factory=dict)
    #: PEM files of the gRPC servers' certificate and key: TLS when both are set.
    grpc_tls_cert: str = ""
    grpc_tls_key: str = ""
    #: PEM file of the CA that signs client certificates: mutual TLS when set (with the above).
    grpc_tls_client_ca: str = ""
    #: Seconds in-flight gRPC calls get to finish on shutdown.
    grpc_grace: float = 5.0
    #: Port of the analytics HQ dashboard (web page); 0 turns it off.
    dashboard_port: int = 8080
    #: Telemetry exporter: "" (off), "console" or "otlp".
    otel_exporter: str = ""
    log_level: str = "INFO"

    def service_dir(self, service: str) -> Path:
        path = self.data_dir / service
        path.mkdir(parents=True, exist_ok=True)
        return path
