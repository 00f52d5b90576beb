"""The consumer path's shortcuts do what the general paths they replace did.

`collect_pending` collects as eventsourcing's `ProcessingEvent.collect_events`; `span_from`
without an exporter continues the upstream trace without making a span, and with one still
records a span per delivery; `message_class` and `subject` answer as before their caches.
"""

from __future__ import annotations

import subprocess
import sys
from uuid import UUID

import pytest
from eventsourcing.application import ProcessingEvent
from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import Tracking

from tillstream import telemetry
from tillstream.codec import UndecodableEventError, message_class, subject
from tillstream.events.v1 import checkout_pb2
from tillstream.eventstore import collect_pending

UPSTREAM_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
UPSTREAM_SPAN = "00f067aa0ba902b7"
TRACEPARENT = f"00-{UPSTREAM_TRACE}-{UPSTREAM_SPAN}-01"


class Till(Aggregate):
    @event("Opened")
    def __init__(self, name: str) -> None:
        self.name = name
        self.counted = 0

    @event("Counted")
    def count(self, amount: int) -> None:
        self.counted += amount


def _tills() -> tuple[Till, Till, Till]:
    first, second, untouched = Till("a"), Till("b"), Till("c")
    first.count(5)
    first.count(7)
    second.count(1)
    untouched.collect_events()  # nothing pending
    return first, second, untouched


def test_collect_pending_collects_as_eventsourcing_does() -> None:
    ours: ProcessingEvent[UUID] = ProcessingEvent(tracking=Tracking("up.p0", 3))
    collect_pending(ours, _tills())
    theirs: ProcessingEvent[UUID] = ProcessingEvent(tracking=Tracking("up.p0", 3))
    theirs.collect_events(*_tills())
    assert [(type(e).__name__, e.originator_version) for e in ours.events] == [
        (type(e).__name__, e.originator_version) for e in theirs.events
    ]
    assert [type(e).__name__ for e in ours.events] == [
        "Opened",
        "Counted",
        "Counted",
        "Opened",
        "Counted",
    ]
    assert len(ours.aggregates) == 3  # the untouched one is carried too, as the library does
    assert all(isinstance(a, Till) and not a.pending_events for a in ours.aggregates.values())


def test_collect_pending_leaves_events_and_none_to_the_library() -> None:
    till = Till("a")
    (opened,) = till.collect_events()
    processing: ProcessingEvent[UUID] = ProcessingEvent()
    collect_pending(processing, [None, opened, till])
    assert processing.events == [opened]
    assert list(processing.aggregates) == [till.id]


def test_span_from_without_exporter_continues_the_upstream_trace() -> None:
    telemetry.setup("test")
    if telemetry._exporting:
        pytest.skip("this process exports spans")
    with telemetry.span_from({"traceparent": TRACEPARENT}, "consume X"):
        carried = telemetry.current_traceparent()["traceparent"]
    assert carried.split("-")[1] == UPSTREAM_TRACE
    assert telemetry.current_traceparent() == {}  # detached afterwards


def test_span_from_without_a_trace_starts_one() -> None:
    telemetry.setup("test")
    with telemetry.span_from({}, "command x"):
        first = telemetry.current_traceparent()["traceparent"]
    with telemetry.span_from({"traceparent": "00-garbage"}, "command y"):
        second = telemetry.current_traceparent()["traceparent"]
    assert first.split("-")[1] != second.split("-")[1]


EXPORTING = """
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from tillstream import telemetry
exporter = InMemorySpanExporter()
telemetry.setup("test", span_exporter=exporter)
with telemetry.span_from({"traceparent": %r}, "consume X", kind="k"):
    carried = telemetry.current_traceparent()["traceparent"]
(span,) = exporter.get_finished_spans()
assert span.name == "consume X" and span.attributes["kind"] == "k"
assert format(span.context.trace_id, "032x") == %r
assert format(span.parent.span_id, "016x") == %r
assert carried.split("-")[2] == format(span.context.span_id, "016x")
print("ok")
"""


def test_span_from_with_an_exporter_records_a_span_per_delivery() -> None:
    script = EXPORTING % (TRACEPARENT, UPSTREAM_TRACE, UPSTREAM_SPAN)
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_message_class_is_the_same_class_every_time_and_refuses_unknown_names() -> None:
    name = "tillstream.events.v1.SaleCompleted"
    assert message_class(name) is message_class(name) is checkout_pb2.SaleCompleted
    with pytest.raises(UndecodableEventError, match="unknown integration event type"):
        message_class("tillstream.events.v1.NoSuchEvent")


@pytest.mark.parametrize("bad", ["", "a.b", "a*", ">", "a b", "a\tb", "a\rb", "a\nb"])
def test_subject_refuses_bad_tokens(bad: str) -> None:
    assert subject("checkout", "s001", "sale", "completed") == "checkout.s001.sale.completed"
    with pytest.raises(ValueError, match="invalid subject token"):
        subject("checkout", bad, "sale", "completed")
