"""The `tillstream` command line: up, test, status, events tail, bench, service."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from typing import Any

import typer
from rich.console import Console
from rich.live import Live
from rich.table import Table

from tillstream.bus import SERVICES, command_subject
from tillstream.settings import Settings, project_root

app = typer.Typer(
    help="Tillstream: an event-sourced point-of-sale platform.",
    no_args_is_help=True,
    add_completion=False,
)
events_app = typer.Typer(help="Look at the integration events on the bus.", no_args_is_help=True)
app.add_typer(events_app, name="events")


def _add_service_commands() -> None:
    """Each service's own operator commands (`tillstream payments rotate-key`, ...)."""
    from analytics.cli import app as analytics_app
    from inventory.cli import app as inventory_app
    from payments.cli import app as payments_app

    app.add_typer(payments_app, name="payments", help="Payments operations (card vault).")
    app.add_typer(inventory_app, name="inventory", help="Inventory operations (catalog import).")
    app.add_typer(analytics_app, name="analytics", help="Analytics: rebuild, CSV export.")


_add_service_commands()


def _add_edge_commands() -> None:
    """The edge agent's commands: `tillstream edge run`, `tillstream simulate`."""
    from edge_agent.cli import edge_app, simulate

    app.add_typer(edge_app, name="edge", help="The store's edge agent.")
    app.command("simulate")(simulate)


_add_edge_commands()
console = Console()


def _nats_url(settings: Settings) -> str:
    return settings.nats_url or f"nats://127.0.0.1:{settings.nats_port}"


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def test(ctx: typer.Context) -> None:
    """Run the whole test suite (extra arguments go to pytest)."""
    root = project_root()
    args = [sys.executable, "-m", "pytest", *ctx.args]
    raise typer.Exit(subprocess.call(args, cwd=root, env={**os.environ}))


@app.command()
def service(name: str) -> None:
    """Run one service in the foreground (what `up` starts for each service)."""
    import importlib

    if name not in SERVICES:
        console.print(f"[red]unknown service {name!r}[/]; one of {', '.join(SERVICES)}")
        raise typer.Exit(2)
    importlib.import_module(f"{name}.main").main()


@app.command()
def up(
    demo: bool = typer.Option(
        False, "--demo", help="Drive simulated lanes that sell continuously."
    ),
    lanes: int = typer.Option(4, help="Simulated lanes with --demo."),
    pause: float = typer.Option(0.2, help="Seconds a simulated lane waits between sales."),
) -> None:
    """Start NATS, the five services and a demo store; Ctrl-C stops everything."""
    settings = Settings()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_up(settings, demo, lanes, pause))


async def _request(
    nc: Any, subject: str, body: dict[str, Any], timeout: float = 60
) -> dict[str, Any]:
    reply = await nc.request(subject, json.dumps(body).encode(), timeout=timeout)
    answer: dict[str, Any] = json.loads(reply.data)
    if not answer.get("ok", False):
        raise RuntimeError(f"{subject}: {answer.get('error')}")
    return answer


async def seed_demo_store(nc: Any, store_id: str) -> tuple[list[str], list[str]]:
    """The demo catalog and customers (idempotent); returns (skus, customer ids)."""
    catalog = await _request(nc, command_subject("inventory", "seed_demo", store_id),
                             {"store_id": store_id})
    customers = await _request(nc, command_subject("crm", "seed_demo", store_id),
                               {"store_id": store_id})
    return list(catalog["skus"]), list(customers["customer_ids"])


async def _up(settings: Settings, demo: bool, lane_count: int, pause: float) -> None:
    from edge_agent.lanes import CompletionWatcher, Lane
    from tillstream.bus import connect
    from tillstream.supervisor import Platform, status_of

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    platform = Platform(settings)
    console.print(f"[bold]Tillstream[/] data in {settings.data_dir}")
    tasks: list[asyncio.Task[None]] = []
    lanes_: list[Lane] = []
    clients: list[Any] = []
    try:
        await platform.start()
        console.print(f"NATS {platform.nats_url}; services: {', '.join(platform.processes)}")
        if settings.dashboard_port:  # served by the analytics process
            console.print(f"HQ dashboard: http://127.0.0.1:{settings.dashboard_port}/")
        nc = await connect(platform.nats_url, "tillstream-up")
        clients.append(nc)
        store = settings.demo_store
        skus, customers = await seed_demo_store(nc, store)
        console.print(f"demo store {store}: {len(skus)} products, {len(customers)} customers")
        # Wait until checkout's price replica has the catalog before the lanes scan.
        await _wait_catalog(nc, store, skus)
        lanes_nc, through_agent = nc, platform.nats is not None
        if through_agent:  # our own hub: the demo store runs its edge agent and devices
            store_url = await platform.start_store(store, lane_count)
            console.print(
                f"store {store}: edge agent pid {platform.edge_agents[store].pid}, store NATS "
                f"{store_url}, {lane_count} lanes with a virtual card terminal and receipt "
                "printer each"
            )
            lanes_nc = await connect(store_url, "tillstream-up-lanes")
            clients.append(lanes_nc)
        if demo:
            watcher = CompletionWatcher(lanes_nc, store)
            await watcher.start()
            for number in range(1, lane_count + 1):
                lane = Lane(lanes_nc, store, f"{number:02d}", skus, customers, watcher,
                            gateway=through_agent, terminal=through_agent,
                            cash_rate=0.3 if through_agent else 0.0)  # fmt: skip
                lanes_.append(lane)
                tasks.append(asyncio.create_task(lane.run(stop, pause=pause)))
        await _live(nc, stop, lanes_, status_of, store if through_agent else None)
    finally:
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        for client in clients:
            with contextlib.suppress(Exception):
                await client.close()
        platform.stop()
        console.print("stopped: every process ended")


async def _wait_catalog(nc: Any, store: str, skus: list[str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    subject = command_subject("checkout", "price", store)
    while time.monotonic() < deadline:
        try:
            await _request(nc, subject, {"sku": skus[-1]}, timeout=2)
            return
        except Exception:
            await asyncio.sleep(0.2)
    raise TimeoutError("checkout did not receive the catalog in time")


def _status_table(statuses: dict[str, Any]) -> Table:
    table = Table(title="Tillstream services")
    for column in ("service", "state", "pid", "events stored", "relay position",
                   "consumer lag", "dead letters"):
        table.add_column(column)
    for name, st in statuses.items():
        lag = sum(max(c.get("lag", 0), 0) for c in st.get("consumers", []))
        table.add_row(
            name,
            "[green]up[/]" if st.get("up") else "[red]down[/]",
            str(st.get("pid", "")),
            str(st.get("events_stored", "-")),
            str(st.get("relay_position", "-")),
            str(lag) if st.get("up") else "-",
            str(st.get("dead_letters", "-")),
        )
    return table


async def _store_line(nc: Any, store: str | None, lanes_: list[Any]) -> str:
    """The demo store's line: its agent's state and how its lanes were paid."""
    if store is None:
        return ""
    try:
        reply = await nc.request(f"status.edge.{store}", b"", timeout=0.5)
        agent = json.loads(reply.data)
    except Exception:
        return f"\nstore {store}: [red]agent not answering[/]"
    sales = [s for lane in lanes_ for s in lane.stats.completed]
    cards = sum(s.tender == "card" for s in sales)
    declines = sum((lane.stats.terminal_declines for lane in lanes_), Counter[str]())
    gateway, devices = agent.get("gateway", {}), agent.get("devices", {})
    return (
        f"\nstore {store}: {'online' if gateway.get('online') else '[red]offline[/]'}"
        f" | card {cards} cash {len(sales) - cards}"
        f" | terminal declines {dict(declines) or 0}"
        f" | receipts printed {devices.get('receipts_printed', 0)}"
        f" | drawer kicks {devices.get('drawer_kicks', 0)}"
    )


async def _live(
    nc: Any, stop: asyncio.Event, lanes_: list[Any], status_of: Any, store: str | None = None
) -> None:
    last_events = None
    last_time = time.monotonic()
    with Live(console=console, refresh_per_second=2, transient=False) as live:
        while not stop.is_set():
            statuses = await status_of(nc)
            events = sum(int(s.get("relay_published", 0)) for s in statuses.values())
            now = time.monotonic()
            rate = 0.0 if last_events is None else (events - last_events) / (now - last_time)
            last_events, last_time = events, now
            completed = sum(len(lane.stats.completed) for lane in lanes_)
            lag = sum(
                max(c.get("lag", 0), 0) for s in statuses.values() for c in s.get("consumers", [])
            )
            table = _status_table(statuses)
            table.caption = (
                f"sales completed {completed} | events/s {rate:.0f} | consumer lag {lag}"
                " | Ctrl-C stops" + await _store_line(nc, store, lanes_)
            )
            live.update(table)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)


def _reachable(url: str) -> None:
    """Raise OSError at once when nothing listens at a nats:// URL."""
    import socket
    from urllib.parse import urlparse

    parsed = urlparse(url)
    with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or 4222), 1):
        pass


@app.command()
def status(as_json: bool = typer.Option(False, "--json", help="One JSON object.")) -> None:
    """Each service: up or down, events stored, relay position, consumer lag, dead letters."""
    settings = Settings()

    async def run() -> dict[str, Any]:
        from tillstream.bus import DEADLETTER_STREAM, connect
        from tillstream.supervisor import status_of

        try:
            _reachable(_nats_url(settings))
            nc = await asyncio.wait_for(connect(_nats_url(settings), "tillstream-status"), 3)
        except Exception as exc:
            return {"nats": {"up": False, "url": _nats_url(settings), "error": str(exc)},
                    "services": {n: {"up": False} for n in SERVICES}}
        try:
            statuses = await status_of(nc)
            js = nc.jetstream()
            try:
                dlq = (await js.stream_info(DEADLETTER_STREAM)).state.messages
            except Exception:
                dlq = 0
            return {"nats": {"up": True, "url": _nats_url(settings)}, "services": statuses,
                    "dead_letter_stream": dlq}
        finally:
            await nc.close()

    result = asyncio.run(run())
    if as_json:
        print(json.dumps(result, default=str))
        return
    nats_state = "[green]up[/]" if result["nats"]["up"] else "[red]down[/]"
    console.print(f"NATS {result['nats']['url']}: {nats_state}")
    console.print(_status_table(result["services"]))
    if "dead_letter_stream" in result:
        console.print(f"dead-letter stream: {result['dead_letter_stream']} messages")


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def bench(ctx: typer.Context) -> None:
    """Benchmarks: `bench [--json]` the pipeline, `bench NAME [--json]` bench/NAME.py."""
    args = list(ctx.args)
    name = args.pop(0) if args and not args[0].startswith("-") else "pipeline"
    script = project_root() / "bench" / f"{name}.py"
    if not script.exists():
        known = sorted(p.stem for p in script.parent.glob("*.py"))
        console.print(f"[red]no benchmark {name!r}[/]; one of {', '.join(known)}")
        raise typer.Exit(2)
    # -P: the bench folder must not shadow packages (bench/payments.py vs the payments service).
    raise typer.Exit(subprocess.call([sys.executable, "-P", str(script), *args]))


@app.command(
    "acquirer-sim",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
)
def acquirer_sim(ctx: typer.Context) -> None:
    """The ISO 8583 acquirer simulator (--port, --settlement-dir, --latency-ms)."""
    args = [sys.executable, "-m", "payments.acquirersim", *ctx.args]
    raise typer.Exit(subprocess.call(args))


@events_app.command("tail")
def events_tail(
    subject: str = typer.Argument(">", help="Subject filter below the service, e.g. 'checkout.>'"),
    count: int = typer.Option(0, help="Stop after this many events (0: until Ctrl-C)."),
) -> None:
    """Decode and print integration events live."""
    settings = Settings()

    async def run() -> None:
        from google.protobuf import text_format

        from tillstream.bus import connect
        from tillstream.codec import UndecodableEventError, decode

        nc = await connect(_nats_url(settings), "tillstream-tail")
        seen = 0
        done = asyncio.Event()

        async def on_msg(msg: Any) -> None:
            nonlocal seen
            try:
                event = decode(msg.subject, msg.data, msg.headers)
                body = text_format.MessageToString(event.message, as_one_line=True)
                console.print(f"[dim]{event.occurred_at}[/] [cyan]{msg.subject}[/] "
                              f"[bold]{event.event_type.rsplit('.', 1)[-1]}[/] {body}",
                              highlight=False, markup=True)
            except UndecodableEventError as exc:
                console.print(f"[red]{msg.subject}: {exc}[/]")
            seen += 1
            if count and seen >= count:
                done.set()

        patterns = (
            [subject]
            if subject != ">"
            else [f"{s}.*.*.*" for s in ("checkout", "payments", "inventory", "crm")]
            + ["alerts.>"]
        )
        for pattern in patterns:
            await nc.subscribe(pattern, cb=on_msg)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, done.set)
        await done.wait()
        await nc.drain()

    asyncio.run(run())


def main() -> None:
    app()


if __name__ == "__main__":
    main()
