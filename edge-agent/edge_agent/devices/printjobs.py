"""Durable print jobs: a journal in SQLite (the agent's data dir) and a worker that drains it.

A job goes queued -> printing -> printed, each step committed before the next action, and its
`ReceiptPrinted` event is an outbox row (`reported`) sent after "printed" is committed.

What "exactly once" can mean with a receipt printer, which has no transactions and cannot be
asked whether a given receipt came out:
- A job id is printed as an original at most once, and the journal ends every job in "printed"
  exactly once; enqueueing the same job id again does nothing.
- One `ReceiptPrinted` event per job is reported at least once, after the commit; the agent
  publishes it with the job id as the message id, so the stream holds it exactly once.
- A crash between "printing" and "printed" leaves a job whose paper may or may not have come
  out. On restart the worker asks the printer for its paper status (and waits while it is out)
  and prints the receipt again marked COPY: a customer may then hold the original and a COPY,
  never two originals and never nothing.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from enum import StrEnum
from pathlib import Path

from edge_agent.devices.base import (
    DeviceError,
    PaperStatus,
    Receipt,
    ReceiptLine,
    ReceiptPrinter,
    now_ms,
)
from tillstream.events.v1.edge_pb2 import ReceiptPrinted

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS print_jobs (
    job_id TEXT PRIMARY KEY,
    device_id TEXT NOT NULL,
    receipt TEXT NOT NULL,
    state TEXT NOT NULL,
    copy INTEGER NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0,
    reported INTEGER NOT NULL DEFAULT 0,
    created_ms INTEGER NOT NULL,
    printed_ms INTEGER
);
CREATE INDEX IF NOT EXISTS print_jobs_pending ON print_jobs (device_id, state, created_ms);
"""


class JobState(StrEnum):
    QUEUED = "queued"
    PRINTING = "printing"
    PRINTED = "printed"


@dataclass(frozen=True)
class PrintJob:
    """A journal row."""

    job_id: str
    device_id: str
    receipt: Receipt
    state: JobState
    copy: bool
    attempts: int
    reported: bool
    printed_ms: int | None


def receipt_to_json(receipt: Receipt) -> str:
    return json.dumps(asdict(receipt), separators=(",", ":"))


def receipt_from_json(text: str) -> Receipt:
    data = json.loads(text)
    data["lines"] = tuple(ReceiptLine(**line) for line in data["lines"])
    return Receipt(**data)


class PrintJournal:
    """The SQLite journal of one agent's print jobs (WAL, synchronous FULL: a committed state
    survives a power cut)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()

    def close(self) -> None:
        self._db.close()

    def enqueue(self, job_id: str, device_id: str, receipt: Receipt) -> bool:
        """Add a job; False when the job id is already known (it prints once)."""
        with self._lock:
            cursor = self._db.execute(
                "INSERT OR IGNORE INTO print_jobs (job_id, device_id, receipt, state, created_ms)"
                " VALUES (?, ?, ?, ?, ?)",
                (job_id, device_id, receipt_to_json(receipt), JobState.QUEUED, now_ms()),
            )
            return cursor.rowcount == 1

    def get(self, job_id: str) -> PrintJob | None:
        with self._lock:
            row = self._db.execute(_SELECT + " WHERE job_id = ?", (job_id,)).fetchone()
        return _job(row) if row else None

    def next_pending(self, device_id: str) -> PrintJob | None:
        """The oldest job of `device_id` that is not printed yet."""
        with self._lock:
            row = self._db.execute(
                _SELECT + " WHERE device_id = ? AND state != ? ORDER BY created_ms, job_id LIMIT 1",
                (device_id, JobState.PRINTED),
            ).fetchone()
        return _job(row) if row else None

    def unreported(self, device_id: str) -> list[PrintJob]:
        """Printed jobs whose event has not been handed over yet."""
        with self._lock:
            rows = self._db.execute(
                _SELECT + " WHERE device_id = ? AND state = ? AND reported = 0 ORDER BY printed_ms",
                (device_id, JobState.PRINTED),
            ).fetchall()
        return [_job(row) for row in rows]

    def mark_printing(self, job_id: str, copy: bool) -> None:
        self._update(
            "UPDATE print_jobs SET state = ?, copy = ?, attempts = attempts + 1 WHERE job_id = ?",
            (JobState.PRINTING, int(copy), job_id),
        )

    def mark_printed(self, job_id: str) -> None:
        self._update(
            "UPDATE print_jobs SET state = ?, printed_ms = ? WHERE job_id = ?",
            (JobState.PRINTED, now_ms(), job_id),
        )

    def mark_reported(self, job_id: str) -> None:
        self._update("UPDATE print_jobs SET reported = 1 WHERE job_id = ?", (job_id,))

    def counts(self) -> dict[str, int]:
        with self._lock:
            rows = self._db.execute("SELECT state, COUNT(*) FROM print_jobs GROUP BY state")
            return {state: count for state, count in rows}

    def _update(self, sql: str, params: tuple[object, ...]) -> None:
        with self._lock:
            self._db.execute(sql, params)


_SELECT = (
    "SELECT job_id, device_id, receipt, state, copy, attempts, reported, printed_ms FROM print_jobs"
)


def _job(row: tuple) -> PrintJob:  # type: ignore[type-arg]
    job_id, device_id, receipt, state, copy, attempts, reported, printed_ms = row
    return PrintJob(
        job_id=job_id,
        device_id=device_id,
        receipt=receipt_from_json(receipt),
        state=JobState(state),
        copy=bool(copy),
        attempts=attempts,
        reported=bool(reported),
        printed_ms=printed_ms,
    )


#: Callback for a printed receipt's event; the agent publishes it (message id = job id).
PrintedSink = Callable[[ReceiptPrinted], None]


class PrintWorker:
    """Prints one device's journal in order; safe to kill at any point and start again.

    `checkpoint` is called with the state just committed (or "sent" once the bytes went to the
    printer), so a test can kill the process exactly between two steps.
    """

    def __init__(
        self,
        journal: PrintJournal,
        printer: ReceiptPrinter,
        *,
        store_id: str,
        on_printed: PrintedSink | None = None,
        checkpoint: Callable[[str], None] | None = None,
    ) -> None:
        self.journal = journal
        self.printer = printer
        self.store_id = store_id
        self.on_printed = on_printed
        self.checkpoint = checkpoint or (lambda _state: None)
        self.last_paper = PaperStatus.UNKNOWN

    def run_once(self) -> bool:
        """Report what is unreported, then print the next job; False when there was nothing
        to do or the printer cannot take it now (paper out, unreachable)."""
        self.report_pending()
        job = self.journal.next_pending(self.printer.device_id)
        if job is None:
            return False
        self.last_paper = self.printer.paper_status()
        if self.last_paper is PaperStatus.OUT:
            log.warning("printer %s: paper out, job %s waits", self.printer.device_id, job.job_id)
            return False
        # A job found in "printing" was interrupted: its paper may be out there already.
        copy = job.copy or job.state is JobState.PRINTING
        self.journal.mark_printing(job.job_id, copy)
        self.checkpoint(JobState.PRINTING)
        try:
            self.printer.print_receipt(replace(job.receipt, copy=copy))
        except DeviceError as exc:
            log.warning("printer %s: job %s: %s", self.printer.device_id, job.job_id, exc)
            return False  # stays "printing": the next try prints a COPY
        self.checkpoint("sent")
        self.journal.mark_printed(job.job_id)
        self.checkpoint(JobState.PRINTED)
        self.report_pending()
        return True

    def report_pending(self) -> None:
        """Hand the events of printed jobs to `on_printed`, marking each once handed over."""
        for job in self.journal.unreported(self.printer.device_id):
            if self.on_printed is not None:
                self.on_printed(
                    ReceiptPrinted(
                        store_id=self.store_id,
                        device_id=job.device_id,
                        job_id=job.job_id,
                        receipt_number=job.receipt.receipt_number,
                        copy=job.copy,
                        at_ms=job.printed_ms or now_ms(),
                    )
                )
                self.checkpoint("handed")
            self.journal.mark_reported(job.job_id)
            self.checkpoint("reported")

    def drain(self) -> int:
        """Print until the journal is empty or the printer cannot go on; the number printed."""
        printed = 0
        while self.run_once():
            printed += 1
        return printed

    def run(self, stop: threading.Event, poll: float = 0.2) -> None:
        """Drain, then wait for new jobs, until `stop` is set (the agent's thread)."""
        while not stop.is_set():
            if not self.run_once():
                stop.wait(poll)
