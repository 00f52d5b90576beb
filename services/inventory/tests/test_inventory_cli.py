"""`tillstream inventory import-catalog`: with a fake sender, and against a real service."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import nats as nats_py
import pytest
from typer.testing import CliRunner

from inventory import cli
from inventory.main import build
from tillstream.bus import command_subject, wait_for
from tillstream.natsserver import NatsServer
from tillstream.service import ServiceHost
from tillstream.testing import test_settings as settings_for_test

HEADER = "sku,name,price_minor,currency,tax_class,barcodes\n"
runner = CliRunner()


@pytest.fixture
def catalog(tmp_path: Path) -> Path:
    path = tmp_path / "catalog.csv"
    path.write_text(
        HEADER
        + "A,Apple,45,EUR,reduced,96385074\n"
        + "B,Bread,1.20,EUR,,\n"
        + "C,Cheese,300,EUR,,12345670;4006381333932\n"
        + "D,Dates,250,EUR,,\n",
        encoding="utf-8",
    )
    return path


class FakeSender:
    def __init__(self, reply: dict[str, Any] | Exception) -> None:
        self.reply = reply
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.url = ""

    def __call__(self, url: str) -> cli.Sender:
        self.url = url

        def send(command: str, body: dict[str, Any]) -> dict[str, Any]:
            self.calls.append((command, body))
            if isinstance(self.reply, Exception):
                raise self.reply
            return self.reply

        return send


def invoke(*args: str) -> Any:
    return runner.invoke(cli.app, list(args), env={"COLUMNS": "200"})


def test_one_call_per_file_and_every_rejected_row_reported(
    catalog: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    refused = {"line": 2, "sku": "A", "reason": "product A is discontinued"}
    fake = FakeSender({"ok": True, "imported": 1, "unchanged": 0, "dry_run": False,
                       "rejected": [refused]})
    monkeypatch.setattr(cli, "make_sender", fake)
    result = invoke("import-catalog", str(catalog), "--nats-url", "nats://x:1")
    assert result.exit_code == 1, result.output
    assert fake.url == "nats://x:1"
    (command, body), = fake.calls  # the whole file, one transaction
    assert command == "import_catalog" and body["dry_run"] is False
    assert [row["sku"] for row in body["rows"]] == ["A", "D"]
    assert body["rows"][0] == {"line": 2, "sku": "A", "name": "Apple", "price_minor": 45,
                               "currency": "EUR", "tax_class": "reduced",
                               "barcodes": ["96385074"]}
    out = result.output
    assert "imported 1 product(s), 0 unchanged, 3 rejected of 4 row(s)" in out
    assert "3 rejected row(s)" in out
    assert "product A is discontinued" in out
    assert "price_minor must be a whole number" in out  # line 3
    assert "wrong check digit" in out  # line 4
    assert "4/4" in out  # the progress bar got to the end


def test_dry_run_and_clean_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "ok.csv"
    path.write_text(HEADER + "A,Apple,45,EUR,,\n")
    fake = FakeSender({"ok": True, "imported": 1, "unchanged": 0, "rejected": [],
                       "dry_run": True})
    monkeypatch.setattr(cli, "make_sender", fake)
    result = invoke("import-catalog", str(path), "--dry-run")
    assert result.exit_code == 0, result.output
    assert fake.calls[0][1]["dry_run"] is True
    assert "would import 1 product(s)" in result.output


def test_failures_import_nothing(catalog: Path, tmp_path: Path,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli, "make_sender", FakeSender(TimeoutError("no answer")))
    result = invoke("import-catalog", str(catalog))
    assert result.exit_code == 2 and "nothing imported" in result.output
    monkeypatch.setattr(cli, "make_sender", FakeSender(
        {"ok": False, "error": {"code": "internal", "message": "database is locked"}}))
    result = invoke("import-catalog", str(catalog))
    assert result.exit_code == 2 and "database is locked" in result.output
    bad = tmp_path / "bad.csv"
    bad.write_text("sku,name\nA,B\n")
    result = invoke("import-catalog", str(bad))
    assert result.exit_code == 2 and "price_minor" in result.output
    assert invoke("import-catalog", str(tmp_path / "missing.csv")).exit_code == 2


def test_all_rows_rejected_sends_nothing(tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(HEADER + "A,,1,EUR,,\n")
    fake = FakeSender({"ok": True})
    monkeypatch.setattr(cli, "make_sender", fake)
    result = invoke("import-catalog", str(path))
    assert result.exit_code == 1 and fake.calls == []


async def test_against_a_running_service(
    tmp_path: Path, nats: NatsServer, catalog: Path
) -> None:
    settings = settings_for_test(tmp_path)
    stop = asyncio.Event()
    host = ServiceHost(build(settings), settings, nats.url)
    task = asyncio.create_task(host.run(stop))
    nc = await nats_py.connect(nats.url)

    async def request(command: str, body: dict[str, Any]) -> dict[str, Any] | None:
        try:
            reply = await nc.request(command_subject("inventory", command, "s001"),
                                     json.dumps(body).encode(), 5)
        except Exception:  # no responder yet: the service is still starting
            return None
        answer: dict[str, Any] = json.loads(reply.data)
        return answer

    try:
        assert await wait_for(lambda: request("get_transfer", {"transfer_id": "T0"}))
        assert host.nc is not None
        host.nc.options["drain_timeout"] = 1  # see test_inventory_main.py
        # The CLI runs its own event loop: give it a thread.
        result = await asyncio.to_thread(
            invoke, "import-catalog", str(catalog), "--nats-url", nats.url)
        assert result.exit_code == 1, result.output
        assert "imported 2 product(s), 0 unchanged, 2 rejected of 4 row(s)" in result.output
        product = await request("stock_summary", {"store_id": "s001"})
        assert product is not None and product["ok"]
        # Again: the same file changes nothing (and a discontinued product is refused).
        await request("discontinue_product", {"sku": "A"})
        result = await asyncio.to_thread(
            invoke, "import-catalog", str(catalog), "--nats-url", nats.url)
        assert "imported 0 product(s), 1 unchanged, 3 rejected" in result.output
        assert "product A is discontinued" in result.output
    finally:
        await nc.close()
        stop.set()
        await asyncio.wait_for(task, 20)


def test_a_file_too_large_for_one_call_is_refused_not_split(
    tmp_path: Path, nats: NatsServer
) -> None:
    path = tmp_path / "big.csv"
    rows = "".join(f"SKU{i:06d},Product number {i} with a long name,{i},EUR,standard,\n"
                   for i in range(20_000))
    path.write_text(HEADER + rows)
    result = invoke("import-catalog", str(path), "--nats-url", nats.url)
    assert result.exit_code == 2, result.output
    assert "nothing imported" in result.output and "at most" in result.output
