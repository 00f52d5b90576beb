"""`tillstream inventory ...`: inventory's command line (registered by the platform CLI).

    tillstream inventory import-catalog catalog.csv [--dry-run]

The file is read and checked here, row by row, under a progress bar; the valid rows then go
to the running inventory service over NATS in ONE `import_catalog` call. That command is
all-or-nothing per call, and this CLI sends one call per file, so the whole file is one
transaction: either every accepted row is imported or (if the save fails) none is. Every
rejected row is listed with its line number and reason, whether the file's check or the
service refused it (for example a discontinued product).

One call per file means the file must fit in one NATS message (the server's max_payload,
1 MB by default: roughly 5,000-10,000 rows); a larger file is refused before anything is
sent, rather than silently split into several transactions.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from inventory.catalog_import import CatalogFileError, ParsedCatalog, parse_catalog_csv
from tillstream.bus import command_subject
from tillstream.codec import CHAIN
from tillstream.settings import Settings

app = typer.Typer(help="Inventory: catalog and stock.", no_args_is_help=True)
console = Console()


@app.callback()
def _inventory() -> None:
    """Inventory: catalog and stock."""
    # A callback keeps `app` a group on its own too (typer would otherwise collapse a
    # one-command app into that command), so `import-catalog` is spelt the same everywhere.

#: Sends one command to the inventory service: (command, body) -> the reply's JSON body.
Sender = Callable[[str, dict[str, Any]], dict[str, Any]]


class ImportTooLargeError(Exception):
    """The file does not fit in one NATS message, so it cannot be one transaction."""


def nats_sender(nats_url: str, store: str = CHAIN, timeout: float = 120) -> Sender:
    """A Sender over NATS request/reply to `cmd.inventory.<store>.<command>`."""

    async def send(command: str, body: dict[str, Any]) -> dict[str, Any]:
        from tillstream.bus import connect

        nc = await asyncio.wait_for(
            connect(nats_url, "tillstream-inventory-cli", max_reconnect_attempts=0), 5
        )
        try:
            data = json.dumps(body).encode()
            if len(data) > nc.max_payload:
                raise ImportTooLargeError(
                    f"the request is {len(data)} bytes; the NATS server takes at most "
                    f"{nc.max_payload} in one message (one file is one transaction: split "
                    "the file, each part being its own transaction)"
                )
            reply = await nc.request(
                command_subject("inventory", command, store), data, timeout=timeout
            )
            answer: dict[str, Any] = json.loads(reply.data)
            return answer
        finally:
            await nc.close()

    return lambda command, body: asyncio.run(send(command, body))


#: How the CLI reaches the service; tests replace it with a fake.
make_sender: Callable[[str], Sender] = nats_sender


def _default_nats_url() -> str:
    settings = Settings()
    return settings.nats_url or f"nats://127.0.0.1:{settings.nats_port}"


def _parse_with_progress(path: Path) -> ParsedCatalog:
    text = path.read_text(encoding="utf-8-sig")
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=console,
        transient=False,
    ) as progress:
        task = progress.add_task(f"checking {path.name}", total=None)

        def advance(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        parsed = parse_catalog_csv(text, advance)
        progress.update(task, completed=parsed.total, total=parsed.total)
    return parsed


def _report_rejected(rejected: list[dict[str, Any]]) -> None:
    table = Table(title=f"{len(rejected)} rejected row(s)")
    table.add_column("line", justify="right")
    table.add_column("sku")
    table.add_column("reason")
    for row in rejected:
        table.add_row(str(row["line"]), str(row["sku"]), str(row["reason"]))
    console.print(table)


@app.command("import-catalog")
def import_catalog(
    path: Annotated[Path, typer.Argument(
        exists=True, dir_okay=False, readable=True,
        help="CSV: sku,name,price_minor,currency,tax_class,barcodes",
    )],
    dry_run: bool = typer.Option(False, "--dry-run",
                                 help="Check every row (also against the service), save nothing."),
    nats_url: str = typer.Option("", "--nats-url", help="NATS server (default: the platform's)."),
    store: str = typer.Option(CHAIN, help="Store token of the command subject."),
    timeout: float = typer.Option(120.0, help="Seconds to wait for the service's answer."),
) -> None:
    """Import a product catalog from CSV in one transaction; list every rejected row and why.

    Exit status: 0 when every row was accepted, 1 when some were rejected (the others were
    imported), 2 when the file or the service failed (nothing imported).
    """
    try:
        parsed = _parse_with_progress(path)
    except (CatalogFileError, UnicodeDecodeError) as exc:
        console.print(f"[red]cannot import {path}: {exc}[/]")
        raise typer.Exit(2) from exc
    rejected = [row.to_json() for row in parsed.rejected]
    imported = unchanged = 0
    if parsed.rows:
        sender = make_sender(nats_url or _default_nats_url())
        body = {"rows": [row.to_json() for row in parsed.rows], "dry_run": dry_run}
        with console.status(f"{'checking' if dry_run else 'importing'} "
                            f"{len(parsed.rows)} row(s) in one transaction"):
            try:
                reply = sender("import_catalog", body)
            except Exception as exc:  # no service, a timeout, a file too large for one call
                console.print(f"[red]import failed, nothing imported: {exc}[/]")
                raise typer.Exit(2) from exc
        if not reply.get("ok", False):
            console.print(f"[red]import refused, nothing imported: {reply.get('error')}[/]")
            raise typer.Exit(2)
        imported, unchanged = int(reply["imported"]), int(reply["unchanged"])
        rejected = sorted([*rejected, *reply["rejected"]], key=lambda row: row["line"])
    verb = "would import" if dry_run else "imported"
    console.print(
        f"{verb} {imported} product(s), {unchanged} unchanged, {len(rejected)} rejected "
        f"of {parsed.total} row(s)"
    )
    if rejected:
        _report_rejected(rejected)
        raise typer.Exit(1)
