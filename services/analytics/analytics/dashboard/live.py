"""Live updates: the projection writer says "new sales are in", every open page hears it.

The writer runs on the service's database thread; the pages listen on the dashboard server's
event loop. `LiveFeed.notify` is the thread-safe bridge: it never blocks the writer (a slow
page drops notifications, which is harmless: each one only says "fetch again").
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import json
import threading
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

from tillstream.consumer import Delivery, Sink

#: The most sales one event lists (a replay commits thousands at once; the page shows a few).
MAX_SALES_PER_EVENT = 20
#: Seconds between keep-alive comments on an idle stream (proxies close silent connections).
HEARTBEAT_S = 15.0
_CLOSED = object()


class LiveFeed:
    """Fan-out of change notifications to the server-sent event streams of open pages."""

    def __init__(self, queue_size: int = 16) -> None:
        self._lock = threading.Lock()
        self._listeners: list[tuple[asyncio.AbstractEventLoop, asyncio.Queue[Any]]] = []
        self._sequence = itertools.count(1)
        self._queue_size = queue_size
        self.closed = False

    def notify(self, detail: Any = None, event_name: str = "changed") -> None:
        """Tell every open page that the projections changed; callable from any thread.

        `detail` is a summary for the page; the numbers themselves it refetches from the same
        JSON endpoints as on load, so the page never shows anything the projections do not.
        """
        message = {
            "event": event_name,
            "seq": next(self._sequence),
            "at_ms": int(time.time() * 1000),
            "detail": _summary(detail),
        }
        with self._lock:
            listeners = list(self._listeners)
        for loop, queue in listeners:
            try:
                loop.call_soon_threadsafe(_offer, queue, message)
            except RuntimeError:  # that page's loop is gone; its stream ends on its own
                continue

    def sales_committed(self, sales: Sequence[Any]) -> None:
        """The projection store's sales listener: the newly committed sales, for the page's
        "latest sales" list (CompletedSale dataclasses: ids, store, amount; no card data)."""
        self.notify([_plain(sale) for sale in sales[-MAX_SALES_PER_EVENT:]], "sales")

    def close(self) -> None:
        """End every open stream, so the server can stop without waiting for browsers."""
        with self._lock:
            self.closed = True
            listeners = list(self._listeners)
        for loop, queue in listeners:
            try:
                loop.call_soon_threadsafe(_offer, queue, _CLOSED)
            except RuntimeError:
                continue

    @property
    def listeners(self) -> int:
        with self._lock:
            return len(self._listeners)

    async def stream(self, heartbeat_s: float = HEARTBEAT_S) -> AsyncIterator[str]:
        """One page's server-sent events: a `hello`, then `sales` on every change."""
        queue: asyncio.Queue[Any] = asyncio.Queue(self._queue_size)
        entry = (asyncio.get_running_loop(), queue)
        with self._lock:
            if self.closed:
                return
            self._listeners.append(entry)
        try:
            yield _sse("hello", {"seq": 0})
            while True:
                try:
                    message = await asyncio.wait_for(queue.get(), heartbeat_s)
                except TimeoutError:
                    yield ": keep-alive\n\n"
                    continue
                if message is _CLOSED:
                    return
                yield _sse(message["event"], message)
        finally:
            with self._lock:
                self._listeners.remove(entry)


class NotifyingSink:
    """A consumer Sink that tells the live feed after each committed batch ("changed").

    The store's sales listener covers completed sales; this covers everything else on the
    page (payments, store links, stock, flags), which has no listener of its own. `apply`
    returns only once the batch and its tracking row are committed, so a page that refetches
    on the notification reads the new numbers.
    """

    def __init__(self, sink: Sink, feed: LiveFeed) -> None:
        self.sink = sink
        self.feed = feed

    def position(self, tracking_name: str) -> int:
        return self.sink.position(tracking_name)

    def apply(self, tracking_name: str, deliveries: Sequence[Delivery]) -> None:
        self.sink.apply(tracking_name, deliveries)
        if deliveries:
            self.feed.notify({"upstream": tracking_name, "events": len(deliveries)})


def _offer(queue: asyncio.Queue[Any], message: Any) -> None:
    if message is _CLOSED:
        while not queue.empty():  # make room: closing wins over pending refreshes
            queue.get_nowait()
    if not queue.full():
        queue.put_nowait(message)


def _summary(detail: Any) -> Any:
    """A JSON-safe summary of the hook's argument (it may be a domain object)."""
    if detail is None or isinstance(detail, (str, int, float, bool)):
        return detail
    if isinstance(detail, dict):
        return {str(k): _summary(v) for k, v in detail.items()}
    if isinstance(detail, (list, tuple)):
        return [_summary(item) for item in detail]
    return str(type(detail).__name__)


def _plain(item: Any) -> Any:
    if dataclasses.is_dataclass(item) and not isinstance(item, type):
        return dataclasses.asdict(item)
    return item


def _sse(event_name: str, data: Any) -> str:
    return f"event: {event_name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"
