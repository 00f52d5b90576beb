"""Payments benchmark: authorizations per second through the ISO 8583 acquirer link.

Run with `./tillstream bench payments [--json]` (or `python bench/payments.py`). The acquirer
simulator runs as its own process (`python -m payments.acquirersim --port 0`), as a real
acquirer would be on the far side of a socket, so link and simulator each get a core; one
`AcquirerLink` keeps `--in-flight` authorizations pipelined on its single connection.
- authorizations_per_s: approved 0100/0110 round trips per second, after a warm-up.
- p99_ms / p50_ms: request-to-answer latency of one authorization at that pipelining depth.
Prints numbers; never part of the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

# Run as a script, this file's folder is first on sys.path and this file (payments.py) would
# shadow the `payments` package: take the folder off before importing it.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

from payments.acquirerlink import AcquirerLink, AuthorizationResult  # noqa: E402
from payments.acquirersim import AcquirerSimulator  # noqa: E402
from payments.iso8583spec import luhn_valid  # noqa: E402


def test_pan(serial: int) -> str:
    """A Luhn-valid PAN from the approving range, built in memory."""
    body = f"400000{serial % 100_000:05d}"
    for digit in "0123456789":
        pan = f"{body}{digit}{serial % 9000 + 1000:04d}"
        if luhn_valid(pan) and pan[-4:] not in ("0051", "0005", "0091", "0055", "0099"):
            return pan
    return test_pan(serial + 1)


async def run(link: AcquirerLink, count: int, in_flight: int) -> tuple[float, list[float]]:
    expiry = f"12/{(datetime.now(UTC).year + 3) % 100:02d}"
    pans = [test_pan(i) for i in range(min(count, 5000))]
    latencies: list[float] = []
    next_index = 0

    async def worker() -> None:
        nonlocal next_index
        while next_index < count:
            index = next_index
            next_index += 1
            started = time.perf_counter()
            result = await link.authorize(pans[index % len(pans)], expiry, 100 + index, "EUR")
            latencies.append(time.perf_counter() - started)
            if not (isinstance(result, AuthorizationResult) and result.approved):
                raise RuntimeError(f"authorization {index} not approved: {result}")

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(in_flight)))
    return count / (time.perf_counter() - started), latencies


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as settlement:
        process: subprocess.Popen[str] | None = None
        simulator: AcquirerSimulator | None = None
        if args.in_process:
            simulator = AcquirerSimulator(port=0, settlement_dir=settlement)
            await simulator.start()
            port = simulator.port
        else:
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "payments.acquirersim",
                    "--port",
                    "0",
                    "--settlement-dir",
                    settlement,
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
            )
            assert process.stdout is not None
            line = await asyncio.to_thread(process.stdout.readline)
            port = int(line.rsplit(":", 1)[1])
        try:
            async with AcquirerLink(
                "127.0.0.1", port, "T0000001", "s001", timeout=10.0, echo_interval=None
            ) as link:
                await run(link, args.warmup, args.in_flight)
                rate, latencies = await run(link, args.count, args.in_flight)
        finally:
            if simulator is not None:
                await simulator.stop()
            if process is not None:
                process.terminate()
                process.wait(10)
    latencies.sort()
    return {
        "authorizations_per_s": round(rate, 1),
        "p50_ms": round(statistics.median(latencies) * 1000, 2),
        "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 2),
        "count": args.count,
        "in_flight": args.in_flight,
        "simulator": "in-process" if args.in_process else "subprocess",
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--count", type=int, default=20000)
    parser.add_argument("--warmup", type=int, default=2000)
    parser.add_argument("--in-flight", type=int, default=64)
    parser.add_argument(
        "--in-process",
        action="store_true",
        help="run the simulator in this process (one core for both ends)",
    )
    args = parser.parse_args()
    result = asyncio.run(bench(args))
    if args.json:
        print(json.dumps({k: result[k] for k in ("authorizations_per_s", "p99_ms")}))
    else:
        for key, value in result.items():
            print(f"{key:>22}: {value}")


if __name__ == "__main__":
    main()
