"""The service's own periodic work: owed reversals asked again, by itself, every N seconds.

The timer sends the service its own `retry_reversals` command over NATS rather than calling
the application from another thread: commands run on the service's single database thread,
so the timer's work never races a command or a consumer batch, and any replica that answers
does it (the command is idempotent: a reversal confirmed once is recorded once).
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading

import nats

from tillstream.bus import command_subject

log = logging.getLogger(__name__)

#: Seconds between two retries of the owed reversals when not configured.
DEFAULT_REVERSAL_RETRY_SECONDS = 30.0
REVERSAL_RETRY_ENV = "TILLSTREAM_PAYMENTS_REVERSAL_RETRY_SECONDS"


def retry_interval(value: str | None) -> float:
    """The configured interval (seconds; 0 turns the timer off). ValueError if malformed."""
    if value is None or value == "":
        return DEFAULT_REVERSAL_RETRY_SECONDS
    seconds = float(value)
    if seconds < 0:
        raise ValueError(f"{REVERSAL_RETRY_ENV} must be 0 (off) or a positive number")
    return seconds


async def _quiet(error: Exception) -> None:
    """nats-py's error callback: the tick that failed logs it (the default prints a trace)."""
    log.debug("timer connection: %s", error)


class CommandTimer:
    """Sends `commands` to `service` every `interval` seconds, from a daemon thread with its
    own event loop and NATS connection; `close()` stops it. Failures are logged and the next
    tick tries again (the service may be starting or NATS briefly away)."""

    def __init__(
        self,
        nats_url: str,
        service: str,
        commands: tuple[str, ...],
        interval: float,
        request_timeout: float = 60.0,
    ) -> None:
        if interval <= 0:
            raise ValueError("interval must be positive")
        self.nats_url = nats_url
        self.service = service
        self.commands = commands
        self.interval = interval
        self.request_timeout = request_timeout
        self.ticks = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"{service}-timer", daemon=True)

    def start(self) -> CommandTimer:
        self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=self.request_timeout + 5)

    def _run(self) -> None:
        asyncio.run(self._loop())

    async def _loop(self) -> None:
        client: nats.NATS | None = None
        failures = 0
        try:
            while not await asyncio.to_thread(self._stop.wait, self.interval):
                try:
                    if client is None or not client.is_connected:
                        client = await nats.connect(
                            self.nats_url,
                            name=f"{self.service}-timer",
                            error_cb=_quiet,
                            connect_timeout=2,
                            max_reconnect_attempts=-1,
                        )
                    await self._tick(client)
                    failures = 0
                except Exception as error:  # the next tick tries again
                    failures += 1
                    # Loud once, then quiet: a service still starting fails a few ticks.
                    level = logging.WARNING if failures == 1 else logging.DEBUG
                    log.log(level, "%s timer: %s", self.service, error or type(error).__name__)
        finally:
            if client is not None:
                await client.close()

    async def _tick(self, client: nats.NATS) -> None:
        for command in self.commands:
            reply = await client.request(
                command_subject(self.service, command, "timer"), b"{}", timeout=self.request_timeout
            )
            body = json.loads(reply.data)
            log.info(
                "%s timer: %s -> %s",
                self.service,
                command,
                {k: (len(v) if isinstance(v, list) else v) for k, v in body.items()},
            )
        self.ticks += 1
