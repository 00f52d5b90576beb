"""The `tillstream` command line: up, test, status, events tail, bench, service."""

from __future__ import annotations

import os
import subprocess
import sys

import typer

from tillstream.settings import Settings, project_root

app = typer.Typer(
    help="Tillstream: an event-sourced point-of-sale platform.",
    no_args_is_help=True,
    add_completion=False,
)


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

    module = importlib.import_module(f"{name}.main")
    module.main()


def main() -> None:
    Settings  # noqa: B018 - imported for its side-effect-free validation at start
    app()


if __name__ == "__main__":
    main()
