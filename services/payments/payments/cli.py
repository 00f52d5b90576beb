"""`tillstream payments ...`: operator commands sent to the running payments service.

`rotate-key KEY_ID` re-encrypts the card vault under KEY_ID while the service runs: it sends
`rotate_vault_key` commands over NATS, each re-encrypting a few batches (so payments keep
flowing between them), until no row is left under another key. KEY_ID must already be in the
service's keyring (TILLSTREAM_CARD_VAULT_KEYS); afterwards set TILLSTREAM_CARD_VAULT_ACTIVE_KEY
to it, and the old key can leave the keyring.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import typer

from tillstream.bus import command_subject
from tillstream.settings import Settings

app = typer.Typer(help="Payments operations on the running service.", no_args_is_help=True)

#: Store segment of the command subject (payments subscribes to every store).
ADMIN_STORE = "admin"


class RotationFailedError(Exception):
    """The service refused or failed a rotation command."""


async def rotate_key(nats_url: str, key_id: str, *, batch_size: int | None = None,
                     max_batches: int | None = None, timeout: float = 60,
                     on_progress: Any = None) -> dict[str, int]:
    """Send `rotate_vault_key` until nothing remains (or a command makes no progress);
    {rotated, remaining} in total."""
    from tillstream.bus import connect

    nc = await connect(nats_url, "tillstream-payments-cli")
    total = 0
    try:
        body: dict[str, Any] = {"key_id": key_id}
        if batch_size is not None:
            body["batch_size"] = batch_size
        if max_batches is not None:
            body["max_batches"] = max_batches
        while True:
            msg = await nc.request(command_subject("payments", "rotate_vault_key", ADMIN_STORE),
                                   json.dumps(body).encode(), timeout=timeout)
            answer = json.loads(msg.data)
            if not answer.get("ok", False):
                error = answer.get("error") or {}
                raise RotationFailedError(
                    f"{error.get('code', 'error')}: {error.get('message', answer)}")
            total += int(answer["rotated"])
            remaining = int(answer["remaining"])
            if on_progress is not None:
                on_progress(total, remaining)
            if remaining == 0 or int(answer["rotated"]) == 0:
                return {"rotated": total, "remaining": remaining}
    finally:
        await nc.close()


@app.command("rotate-key")
def rotate_key_command(
    key_id: str = typer.Argument(..., help="Key id in the service's keyring to rotate to."),
    batch_size: int = typer.Option(200, help="Rows re-encrypted per transaction."),
    nats_url: str = typer.Option("", help="NATS URL (default: the configured one)."),
) -> None:
    """Re-encrypt the card vault under KEY_ID while payments runs."""
    settings = Settings()
    url = nats_url or settings.nats_url or f"nats://127.0.0.1:{settings.nats_port}"

    def progress(rotated: int, remaining: int) -> None:
        typer.echo(f"re-encrypted {rotated}, remaining {remaining}")

    try:
        result = asyncio.run(rotate_key(url, key_id, batch_size=batch_size,
                                        on_progress=progress))
    except RotationFailedError as error:
        typer.echo(f"rotation refused: {error}", err=True)
        raise typer.Exit(1) from None
    except Exception as error:
        typer.echo(f"payments not reachable at {url}: {error}", err=True)
        raise typer.Exit(2) from None
    if result["remaining"]:
        typer.echo(f"{result['remaining']} rows still under another key (another rotation "
                   "in progress, or rows failing authentication): run it again", err=True)
        raise typer.Exit(1)
    typer.echo(f"vault rotated to {key_id}: {result['rotated']} rows re-encrypted; set "
               f"TILLSTREAM_CARD_VAULT_ACTIVE_KEY={key_id} before the next restart")
