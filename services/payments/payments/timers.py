"""The service's own periodic work: owed reversals, advices and refunds sent again, by
itself, every N seconds (a `tillstream.service.Periodic`, run on the service's database
thread, so it never races a command or a consumer batch; every replica does it, and each
operation is idempotent: an operation confirmed once is recorded once).
"""

from __future__ import annotations

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
