"""Payments' composition root: `python -m payments.main` runs the service."""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from payments.acquirer import AcquirerUnavailableError, SimulatedAcquirer
from payments.api import grpc_api
from payments.application import Acquirer, Payments
from payments.bus import HANDLERS, PaymentsCommands
from payments.consumers import CHECKOUT_EVENTS, EDGE_EVENTS, PaymentsSink
from payments.contracts import SERVICE, PaymentsContracts
from payments.domainmodel import (
    DEFAULT_CAPTURE_TOLERANCE_PERCENT,
    DEFAULT_REFUND_WINDOW,
    CardTokenizer,
)
from payments.hostlink import HostAcquirer
from payments.risk import RiskPolicy
from payments.timers import REVERSAL_RETRY_ENV, retry_interval
from payments.vault import CardVault
from tillstream.eventstore import event_store_env
from tillstream.service import Periodic, ServiceDefinition, Subscription, run_service
from tillstream.settings import Settings

log = logging.getLogger(__name__)

CARD_TOKEN_KEY_ENV = "TILLSTREAM_CARD_TOKEN_KEY"


def card_token_key(settings: Settings) -> bytes:
    """The card token HMAC key: TILLSTREAM_CARD_TOKEN_KEY, else a development key.

    The development key derives from the data directory, so tokens stay stable for one
    installation; it is not a secret, and production must set the variable.
    """
    configured = settings.card_token_key
    if configured:
        return configured.encode()
    log.warning("%s is not set: card tokens use a development key", CARD_TOKEN_KEY_ENV)
    seed = f"tillstream-dev-card-token-key:{settings.data_dir.resolve()}"
    return hashlib.sha256(seed.encode()).digest()


def build_application(
    settings: Settings,
    acquirer: Acquirer | None = None,
    *,
    capture_tolerance_percent: int = DEFAULT_CAPTURE_TOLERANCE_PERCENT,
    refund_window: timedelta = DEFAULT_REFUND_WINDOW,
    clock: Callable[[], datetime] | None = None,
    vault: CardVault | None = None,
    risk_policy: RiskPolicy | None = None,
) -> Payments:
    """The Payments application on the configured event store, with its policy: how far a
    completion may exceed its authorization (tips), and how long refunds are allowed. The
    card vault is the configured one (data_dir or PostgreSQL, settings' keyring) unless given;
    `risk_policy` sets the risk rules (payments.risk; their defaults when None)."""
    return Payments(
        env=event_store_env(settings, SERVICE),
        acquirer=acquirer or SimulatedAcquirer(),
        tokenizer=CardTokenizer(card_token_key(settings)),
        capture_tolerance_percent=capture_tolerance_percent,
        refund_window=refund_window,
        clock=clock,
        vault=vault or CardVault.open(settings, SERVICE),
        risk_policy=risk_policy,
    )


def build_acquirer(settings: Settings) -> Acquirer:
    """The acquirer: the ISO 8583 host when `acquirer_port` is set, else the in-process
    stand-in. The host link connects on first use if the host is not up yet."""
    if not settings.acquirer_port:
        return SimulatedAcquirer()
    host = HostAcquirer(settings.acquirer_host, settings.acquirer_port, settings.acquirer_timeout)
    try:
        host.start()
    except AcquirerUnavailableError as error:
        log.warning("acquirer not reachable yet (%s); will connect on first use", error)
    return host


#: The commands the service runs by itself: owed operations sent (again) to the acquirer.
OWED_WORK = ("retry_reversals", "send_advices", "send_refunds")


def owed_work(commands: PaymentsCommands) -> tuple[Periodic, ...]:
    """Owed reversals, advices and refunds sent every TILLSTREAM_PAYMENTS_REVERSAL_RETRY_SECONDS
    (default 30; 0 turns it off)."""
    interval = retry_interval(os.environ.get(REVERSAL_RETRY_ENV))
    if not interval:
        return ()
    handlers = commands.handlers()

    def work() -> dict[str, Any]:
        # Each command's reply, lists shortened to their length for the log line.
        return {
            name: {k: (len(v) if isinstance(v, list) else v) for k, v in handlers[name]({}).items()}
            for name in OWED_WORK
        }

    return (Periodic(interval, work, "owed operations"),)


def build(settings: Settings) -> ServiceDefinition:
    """Wire payments: its event store, acquirer, tokenizer, contracts, commands, what it
    consumes (checkout's returns, voids and cash; the edge agent's terminal approvals) and
    its timer."""
    acquirer = build_acquirer(settings)
    app = build_application(settings, acquirer)
    sink = PaymentsSink(app, HANDLERS)
    commands = PaymentsCommands(app)

    def stats() -> dict[str, Any]:
        totals = app.summary()
        return {"captured_count": totals.captured_count, "declined_count": totals.declined_count}

    return ServiceDefinition(
        name=SERVICE,
        app=app,
        contracts=PaymentsContracts(),
        subscriptions={
            "checkout": Subscription(sink, CHECKOUT_EVENTS),
            "edge": Subscription(sink, EDGE_EVENTS),
        },
        commands=commands.handlers(),
        periodic=owed_work(commands),
        grpc=grpc_api(app),
        stats=stats,
        close=lambda: _close(acquirer),
    )


def _close(acquirer: Acquirer) -> None:
    if isinstance(acquirer, HostAcquirer):
        acquirer.close()


def main() -> None:
    run_service(build)


if __name__ == "__main__":
    main()
