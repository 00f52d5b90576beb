"""`python -m edge_agent --store <id> --config <file>`: the agent alone, without the rest of
the `tillstream` command line (whose service commands import every service), so that the
store's hardware carries only what the agent needs. `tillstream edge run` execs this."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

from edge_agent.config import ConfigError, load_config


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="edge_agent", description=__doc__.split("\n")[0])
    parser.add_argument("--store", required=True, help="the store id, e.g. s001")
    parser.add_argument("--config", required=True, type=Path, help="TOML or JSON file")
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config, store_id=args.store)
    except ConfigError as exc:
        print(f"edge_agent: {exc}", file=sys.stderr)
        return 2
    from edge_agent.agent import EdgeAgent

    # force: python-escpos configures the root logger when it is imported.
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", force=True)
    asyncio.run(EdgeAgent(config).run_until_stopped())
    return 0


if __name__ == "__main__":
    sys.exit(main())
