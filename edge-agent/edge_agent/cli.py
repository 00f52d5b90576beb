"""`tillstream edge run` and `tillstream simulate` (registered by tillstream.cli)."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from edge_agent.config import ConfigError, load_config

edge_app = typer.Typer(help="The store's edge agent.", no_args_is_help=True)
console = Console()


@edge_app.command("run")
def run(
    store: str = typer.Option(..., "--store", help="The store id, e.g. s001."),
    config: str = typer.Option(..., "--config", help="TOML or JSON configuration file."),
) -> None:
    """Run one store's agent: its leaf node, streams and the lanes' gateway."""
    try:
        load_config(Path(config), store_id=store)  # a bad file fails here, clearly
    except ConfigError as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from None
    # The agent runs alone in this process (exec): none of the services' modules that the
    # command line imports stay in the store's memory.
    args = [sys.executable, "-m", "edge_agent", "--store", store, "--config", config]
    os.execv(sys.executable, args)


def simulate(
    stores: int = typer.Option(1, "--stores", min=1, help="How many stores."),
    lanes: int = typer.Option(2, "--lanes", min=1, help="Lanes per store."),
    rate: float = typer.Option(1.0, "--rate", min=0.0, help="Sales per second per lane."),
    duration: float = typer.Option(30.0, "--duration", min=1.0, help="Seconds to sell."),
    cut_after: float = typer.Option(-1.0, "--cut-after", help="Cut the links after N s."),
    cut_for: float = typer.Option(10.0, "--cut-for", help="Seconds the links stay cut."),
    data_dir: str = typer.Option("var/simulate", "--data-dir", help="Where the run writes."),
) -> None:
    """Drive lanes through store agents against the five services, with live counters."""
    from edge_agent.simulate import SimulatedStore, SimulationOptions, run_simulation

    options = SimulationOptions(
        stores=stores,
        lanes=lanes,
        rate=rate,
        duration=duration,
        cut_after=cut_after if cut_after >= 0 else None,
        cut_for=cut_for,
        data_dir=Path(data_dir),
    )
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[counters]}"),
        console=console,
    ) as progress:
        task = progress.add_task("selling", total=duration, counters="starting the platform")

        def tick(elapsed: float, running: list[SimulatedStore]) -> None:
            offline = [
                s.store.config.store_id
                for s in running
                if s.store.agent.gateway is not None and not s.store.agent.gateway.online
            ]
            counters = (
                f"sales {sum(s.completed for s in running)}  "
                f"offline {sum(s.offline_completed for s in running)}  "
                f"errors {sum(s.errors for s in running)}  "
                f"stores offline {len(offline)}/{len(running)}"
            )
            progress.update(task, completed=elapsed, counters=counters)

        result = asyncio.run(run_simulation(options, tick))
        progress.update(task, completed=duration)
    console.print(result)
