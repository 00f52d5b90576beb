"""Durable print jobs: the worker is killed (SIGKILL) between each pair of steps and restarted;
the virtual printer on a real pty shows what came out on paper."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge_agent.devices.base import PaperStatus, Receipt, ReceiptLine
from edge_agent.devices.printer import EscposPrinter
from edge_agent.devices.printjobs import JobState, PrintJournal, PrintWorker
from edge_agent.devices.virtual_printer import VirtualPrinter
from tillstream.events.v1.edge_pb2 import ReceiptPrinted

RECEIPT = Receipt(
    receipt_number="S1-000007",
    sale_id="sale-7",
    lines=(ReceiptLine("STORE 1", align="center", bold=True), ReceiptLine("TOTAL 4.20 EUR")),
)

#: The agent's side of printing, run as its own process so it can really be killed.
AGENT = """
import os, signal, sys
from pathlib import Path
from edge_agent.devices.printer import EscposPrinter
from edge_agent.devices.printjobs import PrintJournal, PrintWorker, receipt_from_json

db, port, kill_at, receipt = sys.argv[1:5]

def checkpoint(state):
    if state == kill_at:
        os.kill(os.getpid(), signal.SIGKILL)

journal = PrintJournal(Path(db))
journal.enqueue("job-1", "printer-1", receipt_from_json(receipt))
checkpoint("queued")
worker = PrintWorker(
    journal,
    EscposPrinter.serial(port, status_timeout=0.2),
    store_id="s1",
    on_printed=lambda e: print("EVENT", e.job_id, int(e.copy), flush=True),
    checkpoint=checkpoint,
)
worker.drain()
"""


@pytest.fixture
def virtual() -> Iterator[VirtualPrinter]:
    with VirtualPrinter() as printer:
        yield printer


def run_agent(db: Path, port: str, kill_at: str) -> tuple[int, list[str]]:
    from edge_agent.devices.printjobs import receipt_to_json

    done = subprocess.run(
        [sys.executable, "-c", AGENT, str(db), port, kill_at, receipt_to_json(RECEIPT)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    events = [line for line in done.stdout.splitlines() if line.startswith("EVENT")]
    assert kill_at != "never" or done.returncode == 0, done.stderr
    return done.returncode, events


def settle(virtual: VirtualPrinter, count: int) -> None:
    pause = threading.Event()
    for _ in range(100):
        if len(virtual.receipts) >= count:
            break
        pause.wait(0.02)
    pause.wait(0.1)  # and nothing more arrives


@pytest.mark.parametrize(
    ("kill_at", "papers", "events"),
    [
        # Killed with the job queued: the restart prints the original.
        ("queued", [False], ["EVENT job-1 0"]),
        # Killed after "printing" was committed, before any byte went out: the restart cannot
        # know that, so it prints a COPY (and nothing else came out).
        ("printing", [True], ["EVENT job-1 1"]),
        # Killed after the bytes went out, before "printed": original and COPY on paper.
        ("sent", [False, True], ["EVENT job-1 1"]),
        # Killed after "printed" was committed, before the event: no reprint, event on restart.
        ("printed", [False], ["EVENT job-1 0"]),
        # Killed after the event was handed over but before that was recorded: handed over
        # again with the same job id (the agent's message id, so the stream keeps one).
        ("handed", [False], ["EVENT job-1 0", "EVENT job-1 0"]),
        # Killed after everything: the restart does nothing.
        ("reported", [False], ["EVENT job-1 0"]),
    ],
)
def test_print_job_across_a_restart(
    virtual: VirtualPrinter,
    tmp_path: Path,
    kill_at: str,
    papers: list[bool],
    events: list[str],
) -> None:
    db = tmp_path / "print-jobs.sqlite"
    code, first = run_agent(db, virtual.port, kill_at)
    assert code == -signal.SIGKILL
    code, second = run_agent(db, virtual.port, "never")
    assert code == 0
    settle(virtual, len(papers))
    assert [r.text[0] == "*** COPY ***" for r in virtual.receipts] == papers
    assert all(r.text[-2:] == ["STORE 1", "TOTAL 4.20 EUR"] for r in virtual.receipts)
    assert first + second == events
    journal = PrintJournal(db)
    job = journal.get("job-1")
    assert job is not None and job.state is JobState.PRINTED and job.reported
    assert journal.counts() == {"printed": 1}
    journal.close()


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[PrintJournal]:
    journal = PrintJournal(tmp_path / "jobs.sqlite")
    yield journal
    journal.close()


def test_same_job_id_prints_once(virtual: VirtualPrinter, journal: PrintJournal) -> None:
    printed: list[ReceiptPrinted] = []
    printer = EscposPrinter.serial(virtual.port, status_timeout=0.2)
    worker = PrintWorker(journal, printer, store_id="s1", on_printed=printed.append)
    assert journal.enqueue("job-a", "printer-1", RECEIPT)
    assert not journal.enqueue("job-a", "printer-1", RECEIPT)
    assert journal.enqueue("job-b", "printer-1", RECEIPT)
    assert worker.drain() == 2
    assert not journal.enqueue("job-a", "printer-1", RECEIPT)
    assert worker.drain() == 0
    settle(virtual, 2)
    assert len(virtual.receipts) == 2
    assert [(e.job_id, e.copy, e.receipt_number) for e in printed] == [
        ("job-a", False, "S1-000007"),
        ("job-b", False, "S1-000007"),
    ]
    printer.close()


def test_paper_out_holds_the_job_until_paper_is_back(
    virtual: VirtualPrinter, journal: PrintJournal
) -> None:
    printer = EscposPrinter.serial(virtual.port, status_timeout=0.2)
    worker = PrintWorker(journal, printer, store_id="s1")
    journal.enqueue("job-1", "printer-1", RECEIPT)
    virtual.set_mode("paper_out")
    assert not worker.run_once()
    assert worker.last_paper is PaperStatus.OUT
    job = journal.get("job-1")
    assert job is not None and job.state is JobState.QUEUED
    virtual.set_mode("paper_low")
    assert worker.run_once()
    settle(virtual, 1)
    assert len(virtual.receipts) == 1 and virtual.receipts[0].text[0] == "STORE 1"
    printer.close()


def test_unreachable_printer_keeps_the_job_and_reprints_as_copy(
    virtual: VirtualPrinter, journal: PrintJournal
) -> None:
    gone = EscposPrinter.serial("/dev/no-such-printer", status_timeout=0.1)
    journal.enqueue("job-1", "printer-1", RECEIPT)
    assert not PrintWorker(journal, gone, store_id="s1").run_once()
    job = journal.get("job-1")
    assert job is not None and job.state is JobState.PRINTING
    printer = EscposPrinter.serial(virtual.port, status_timeout=0.2)
    assert PrintWorker(journal, printer, store_id="s1").run_once()
    settle(virtual, 1)
    assert [r.text[0] for r in virtual.receipts] == ["*** COPY ***"]
    printer.close()
