"""Kit consumer benchmark: CPU per consumed SaleCompleted, with each sale's trace context on.

Run with `python -P bench/consumer.py [--json] [--profile FILE]`. It is the inventory bench
(bench/inventory.py: real nats-server, the inventory service's own ServiceHost on SQLite, a
burst of SaleCompleted on the CHECKOUT stream) with one difference: every sale carries a
`traceparent` header, one trace per sale, as checkout's relay publishes them in production
(its commands run in spans and the trace is stamped on the stored events). The inventory
bench publishes untraced events, which takes the consumer down another path of
`telemetry.span_from` (a fresh root span per delivery). `--untraced` publishes as it does.

Takes the inventory bench's options and prints what it does (`--json`: the headline only);
the figures for the kit are `apply_cpu_s` (the consumer's transactions on the writer thread),
`thread_cpu_s` and `process_cpu_s`. `--profile FILE` writes cProfiles as the inventory bench
does. Never part of the test suite.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

from tillstream.codec import IntegrationEvent
from tillstream.events.v1 import checkout_pb2


def load_inventory_bench() -> ModuleType:
    """bench/inventory.py as a module (its name would clash with the inventory service)."""
    path = Path(__file__).with_name("inventory.py")
    spec = importlib.util.spec_from_file_location("bench_inventory", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def traced_publish(store: str) -> Any:
    """A `publish` for the inventory bench that puts one trace per sale in the headers."""

    async def publish(js: Any, sales: Sequence[checkout_pb2.SaleCompleted], first_id: int) -> None:
        now = datetime.now(UTC)
        futures = []
        for offset, sale in enumerate(sales):
            trace_id, span_id = os.urandom(16).hex(), os.urandom(8).hex()
            event = IntegrationEvent(
                f"checkout.{store}.sale.completed",
                sale,
                store,
                now,
                trace_headers={"traceparent": f"00-{trace_id}-{span_id}-01"},
            )
            futures.append(
                await js.publish_async(
                    event.subject,
                    event.payload(),
                    headers=event.headers(f"checkout:{first_id + offset}"),
                )
            )
        await asyncio.gather(*futures)

    return publish


def main() -> None:
    bench = load_inventory_bench()
    if "--untraced" in sys.argv:
        sys.argv.remove("--untraced")
    else:
        vars(bench)["publish"] = traced_publish(bench.STORE)
    bench.main()


if __name__ == "__main__":
    main()
