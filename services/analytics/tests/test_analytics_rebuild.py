"""The rebuild's fast reading path: nats-py's header rules kept, streams with holes replayed.

Against a real nats-server and real SQLite. (That a rebuild yields the same tables as the live
consumers is test_analytics_projections' property test, which reads through ReplayClient.)
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from nats.aio.client import Client
from nats.aio.msg import Msg

from analytics import rebuild as rebuild_module
from analytics.application import ProjectionStore
from analytics.rebuild import rebuild
from analytics.streamreader import ReplayClient, parse_header_lines, stream_sequence
from tillstream.bus import ensure_platform_streams
from tillstream.codec import IntegrationEvent
from tillstream.events.v1 import checkout_pb2, common_pb2
from tillstream.natsserver import NatsServer
from tillstream.testing import test_settings

AT = datetime(2025, 3, 10, 9, 30, tzinfo=UTC)

#: Header names and values as they come off the wire: the usual ones, and tricky ones
#: (inner or odd whitespace, non-ASCII, empty, colons in values, bare lines).
NAMES = st.one_of(
    st.sampled_from([b"Nats-Msg-Id", b"Tillstream-Event-Type", b" traceparent ", b""]),
    st.binary(max_size=12),
    st.text(alphabet=" \t\x0b\x0c\x1c\x1fab-é", max_size=6).map(lambda s: s.encode()),
)
VALUES = st.one_of(st.binary(max_size=20), st.text(max_size=10).map(lambda s: s.encode()))
LINES = st.one_of(
    st.tuples(NAMES, VALUES).map(lambda nv: nv[0] + b":" + nv[1]),
    st.binary(max_size=15),
)


@given(lines=st.lists(LINES, max_size=8))
def test_header_parser_matches_nats_py(lines: list[bytes]) -> None:
    raw = b"\r\n".join(lines) + b"\r\n\r\n"
    assert parse_header_lines(raw) == Client._parse_header_lines(raw)


def test_stream_sequence_from_both_reply_forms() -> None:
    v1 = "$JS.ACK.CHECKOUT.c1.1.42.7.1700000000000000000.3"
    v2 = "$JS.ACK.hub.ACCHASH.CHECKOUT.c1.1.42.7.1700000000000000000.3.rnd"
    for reply in (v1, v2):
        msg = Msg(None, subject="checkout.s001.sale.completed.0", reply=reply)  # type: ignore[arg-type]
        assert stream_sequence(msg) == msg.metadata.sequence.stream == 42


def _sale(n: int) -> IntegrationEvent:
    sale = checkout_pb2.SaleCompleted(
        sale_id=f"sale-{n}",
        store_id="s001",
        completed_at_ms=int(AT.timestamp() * 1000),
        total=common_pb2.Money(amount_minor=100 * n, currency="EUR"),
        lines=[common_pb2.SaleLine(sku="A", quantity=1, line_total=common_pb2.Money())],
    )
    return IntegrationEvent.of(
        "checkout", "s001", "sale", "completed", message=sale, occurred_at=AT
    )


async def _replay_with_holes(url: str, data_dir: Path) -> None:
    nc = ReplayClient()
    await nc.connect(url)
    store = ProjectionStore.from_settings(test_settings(data_dir, partitions=1))
    try:
        js = nc.jetstream()
        await ensure_platform_streams(js, 1)
        for n in range(1, 31):
            event = _sale(n)
            await js.publish(event.subject, event.payload(), headers=event.headers(f"checkout:{n}"))
        # Retention took the first 10 (purge keeps seq 11 on); a range across two reads
        # and a lone one were deleted.
        await js.purge_stream("CHECKOUT", seq=11)
        for seq in (14, 15, 16, 20):
            await js.delete_msg("CHECKOUT", seq)
        kept = [n for n in range(11, 31) if n not in (14, 15, 16, 20)]

        result = await rebuild(store, js, batch_size=4, drop_grace=0.0)

        assert result.events == len(kept)
        rows = store.sales_totals("s001")
        assert [(r["sales_count"], r["total_minor"]) for r in rows] == [
            (len(kept), 100 * sum(kept))
        ]
        assert store.tracking()["checkout.p0"] == kept[-1]
    finally:
        await nc.close()
        store.dispose()


def test_rebuild_replays_streams_with_holes_in_small_reads(
    nats: NatsServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Purged and deleted messages (before, inside and at the end of a read) are stepped
    over, and a reader held back by READ_AHEAD still hands out every message in order."""
    monkeypatch.setattr(rebuild_module, "READ_AHEAD", 3)
    asyncio.run(_replay_with_holes(nats.url, tmp_path))
