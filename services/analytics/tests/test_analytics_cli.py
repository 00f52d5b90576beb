"""`tillstream analytics rebuild` and `export` against a real NATS server and SQLite."""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import UTC, datetime
from pathlib import Path

import nats as nats_py
import pytest
from typer.testing import CliRunner

from analytics.cli import app
from tillstream.bus import ensure_platform_streams
from tillstream.codec import IntegrationEvent
from tillstream.events.v1 import checkout_pb2, common_pb2
from tillstream.natsserver import NatsServer

AT = datetime(2025, 3, 10, 9, 30, tzinfo=UTC)


async def publish_sales(url: str, count: int) -> None:
    nc = await nats_py.connect(url)
    try:
        js = nc.jetstream()
        await ensure_platform_streams(js, 1)
        for n in range(1, count + 1):
            sale = checkout_pb2.SaleCompleted(
                sale_id=f"sale-{n}",
                store_id="s001",
                completed_at_ms=int(AT.timestamp() * 1000),
                total=common_pb2.Money(amount_minor=100 * n, currency="EUR"),
                lines=[common_pb2.SaleLine(sku="A", quantity=1)],
            )
            event = IntegrationEvent.of(
                "checkout", "s001", "sale", "completed", message=sale, occurred_at=AT
            )
            await js.publish(event.subject, event.payload(), headers=event.headers(f"checkout:{n}"))
    finally:
        await nc.close()


def test_rebuild_then_export_csv(
    nats: NatsServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TILLSTREAM_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("TILLSTREAM_NATS_URL", nats.url)
    monkeypatch.setenv("TILLSTREAM_PARTITIONS", "1")
    asyncio.run(publish_sales(nats.url, 3))
    runner = CliRunner()

    rebuilt = runner.invoke(app, ["rebuild"])
    assert rebuilt.exit_code == 0, rebuilt.output
    assert "generation 0 -> 1: 3 events" in rebuilt.output

    exported = runner.invoke(
        app, ["export", "sales-day", "--start", "2025-03-10", "--end", "2025-03-10"]
    )
    assert exported.exit_code == 0, exported.output
    rows = list(csv.DictReader(io.StringIO(exported.stdout)))
    assert [(r["store_id"], r["sales_count"], r["total_minor"]) for r in rows] == [
        ("s001", "3", "600")
    ]


def test_export_refuses_unknown_report_and_bad_dates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TILLSTREAM_DATA_DIR", str(tmp_path))
    runner = CliRunner()
    unknown = runner.invoke(app, ["export", "nope"])
    assert unknown.exit_code == 2 and "unknown report 'nope'" in unknown.output
    bad = runner.invoke(app, ["export", "sales-day", "--start", "10/03/2025"])
    assert bad.exit_code == 2 and "is not YYYY-MM-DD" in bad.output
