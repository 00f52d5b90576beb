"""`tillstream analytics ...`: rebuild the projections, export any report as CSV."""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, date, datetime, timedelta

import typer
from nats.errors import NoServersError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from analytics.application import ProjectionStore
from analytics.rebuild import RebuildResult, rebuild
from analytics.reports import REPORTS, ReportError, Reports, run_report, write_csv
from analytics.streamreader import ReplayClient
from tillstream.settings import Settings

app = typer.Typer(help="Analytics operations: rebuild, CSV export.", no_args_is_help=True)
console = Console(stderr=True)


def _nats_url(settings: Settings) -> str:
    return settings.nats_url or f"nats://127.0.0.1:{settings.nats_port}"


async def run_rebuild(settings: Settings, progress: Progress | None = None) -> RebuildResult:
    """Connect, replay every upstream into a new generation, swap it in."""
    store = ProjectionStore.from_settings(settings)
    # One attempt, no endless reconnects: an operator wants an answer, not a hang.
    nc = ReplayClient()  # nats-py with a faster header parser: the replay reads every event
    await nc.connect(
        _nats_url(settings),
        name="analytics-rebuild",
        allow_reconnect=False,
        max_reconnect_attempts=1,
        reconnect_time_wait=0.5,  # type: ignore[arg-type]  # nats-py annotates int, sleeps float
        connect_timeout=5,
        error_cb=_quiet,
    )
    tasks: dict[str, object] = {}

    def report(upstream: str, done: int, total: int) -> None:
        if progress is None:
            return
        if upstream not in tasks:
            tasks[upstream] = progress.add_task(upstream, total=total)
        progress.update(tasks[upstream], completed=done)  # type: ignore[arg-type]

    try:
        return await rebuild(store, nc.jetstream(), report)
    finally:
        await nc.close()
        store.dispose()


async def _quiet(exc: Exception) -> None:
    """nats-py prints each failed attempt with a traceback; the command reports it once."""


@app.command("rebuild")
def rebuild_command() -> None:
    """Replay the streams from the start into fresh tables and swap them in, live."""
    settings = Settings()
    columns = (
        TextColumn("{task.description:>10}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    try:
        with Progress(*columns, console=console) as progress:
            result = asyncio.run(run_rebuild(settings, progress))
    except (OSError, NoServersError, TimeoutError) as exc:
        console.print(f"[red]cannot reach NATS at {_nats_url(settings)}: {exc}[/]")
        raise typer.Exit(1) from exc
    console.print(
        f"generation {result.previous_generation} -> {result.generation}: "
        f"{result.events} events in {result.seconds:.2f} s "
        f"({result.events_per_s:,.0f} events/s), {result.skipped} skipped"
    )


def _day(value: str | None, default: date) -> date:
    if not value:
        return default
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise typer.BadParameter(f"{value!r} is not YYYY-MM-DD") from exc


@app.command("export")
def export_command(
    report: str = typer.Argument(..., help=f"One of: {', '.join(REPORTS)}"),
    start: str = typer.Option(None, help="First day, YYYY-MM-DD (default: 6 days ago)."),
    end: str = typer.Option(None, help="Last day, YYYY-MM-DD (default: today, UTC)."),
    store: str = typer.Option(None, help="One store (default: the whole chain)."),
) -> None:
    """Write a report as CSV to stdout (money in integer minor units with its currency)."""
    today = datetime.now(UTC).date()
    last = _day(end, today)
    first = _day(start, last - timedelta(days=6))
    settings = Settings()
    projection = ProjectionStore.from_settings(settings)
    try:
        rows = run_report(Reports(projection), report, first, last, store)
    except ReportError as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from exc
    finally:
        projection.dispose()
    write_csv(rows, sys.stdout)
