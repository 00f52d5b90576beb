"""Card data never comes to rest: after sales through all five services and the acquirer
simulator, no file anywhere (event stores, vault, JetStream's stream store, logs, settlement
file) holds a card number the lanes used, in full or past its first six digits."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import pytest

import edge_agent.lanes
from edge_agent.cards import test_card
from edge_agent.lanes import CompletionWatcher, Lane
from tillstream.bus import connect
from tillstream.cli import _wait_catalog, seed_demo_store
from tillstream.natsserver import NatsServer, free_port
from tillstream.supervisor import Platform
from tillstream.testing import test_settings

pytestmark = pytest.mark.e2e
STORE = "s001"


async def test_no_file_holds_a_card_number(
    nats: NatsServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    used: list[str] = []  # in memory only, like the PANs themselves

    def recording_card(rng: random.Random, outcome: str = "approve") -> tuple[str, str]:
        pan, expiry = test_card(rng, outcome)
        used.append(pan)
        return pan, expiry

    monkeypatch.setattr(edge_agent.lanes, "test_card", recording_card)
    settings = test_settings(tmp_path / "data", nats_url=nats.url, acquirer_port=free_port())
    platform = Platform(settings)
    await platform.start(timeout=60)
    try:
        nc = await connect(platform.nats_url, "e2e-pan")
        skus, customers = await seed_demo_store(nc, STORE)
        await _wait_catalog(nc, STORE, skus)
        watcher = CompletionWatcher(nc, STORE)
        await watcher.start()
        lanes = [Lane(nc, STORE, f"{n:02d}", skus, customers, watcher, seed=5, decline_rate=0.2)
                 for n in (1, 2)]
        await asyncio.gather(*(lane.run(asyncio.Event(), sales=15) for lane in lanes))
        assert [e for lane in lanes for e in lane.stats.errors] == []
        await watcher.stop()
        await nc.close()
    finally:
        platform.stop()
    nats.stop()  # flush JetStream's files before reading them

    assert len(used) >= 30
    needles = {pan.encode() for pan in used} | {pan[6:].encode() for pan in used}
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any("nats" in p.parts for p in files)  # the stream store is scanned too
    for path in files:
        data = path.read_bytes()
        hits = [n.decode()[-4:] for n in needles if n in data]
        assert not hits, f"{path} holds card numbers ending {hits}"
