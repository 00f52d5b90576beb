"""Integration events on the wire: protobuf payloads plus Tillstream's headers.

Integration events are public contracts (proto/tillstream/events/v1), separate from the domain
events inside a service; each service's contracts.py maps one to the other explicitly.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from google.protobuf import descriptor_pool, message_factory
from google.protobuf.message import DecodeError, Message

# Importing the generated modules registers their message types in the default pool.
from tillstream.events.v1 import (  # noqa: F401
    alerts_pb2,
    checkout_pb2,
    common_pb2,
    crm_pb2,
    inventory_pb2,
    payments_pb2,
)

H_EVENT_TYPE = "Tillstream-Event-Type"
H_SCHEMA_VERSION = "Tillstream-Schema-Version"
H_OCCURRED_AT = "Tillstream-Occurred-At"
H_STORE_ID = "Tillstream-Store-Id"
H_TRACEPARENT = "traceparent"
H_TRACESTATE = "tracestate"
H_MSG_ID = "Nats-Msg-Id"

CHAIN = "chain"
"""The store token of chain-wide events (the catalog, for one)."""


class UndecodableEventError(ValueError):
    """A message that is not a known integration event, or whose payload does not parse."""


@dataclass(frozen=True)
class IntegrationEvent:
    """One integration event: where it goes, what it is, and its protobuf body."""

    subject: str
    message: Message
    store_id: str
    occurred_at: datetime
    schema_version: int = 1
    trace_headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(
        cls,
        service: str,
        store_id: str,
        aggregate: str,
        event: str,
        *,
        message: Message,
        occurred_at: datetime,
    ) -> IntegrationEvent:
        """The integration event `message` on `<service>.<store>.<aggregate>.<event>`."""
        return cls(
            subject=subject(service, store_id, aggregate, event),
            message=message,
            store_id=store_id,
            occurred_at=occurred_at,
        )

    @property
    def event_type(self) -> str:
        return str(self.message.DESCRIPTOR.full_name)

    def headers(self, msg_id: str) -> dict[str, str]:
        headers = {
            H_MSG_ID: msg_id,
            H_EVENT_TYPE: self.event_type,
            H_SCHEMA_VERSION: str(self.schema_version),
            H_OCCURRED_AT: self.occurred_at.astimezone(UTC).isoformat(),
            H_STORE_ID: self.store_id,
        }
        headers.update(self.trace_headers)
        return headers

    def payload(self) -> bytes:
        return self.message.SerializeToString(deterministic=True)


#: What a subject token must not contain (one search per token: the relay maps every event).
_NOT_IN_TOKEN = re.compile(r"[.*> \t\r\n]")


def subject(service: str, store_id: str, aggregate: str, event: str) -> str:
    """`<service>.<store>.<aggregate>.<event>`, validated token by token."""
    tokens = (service, store_id, aggregate, event)
    for token in tokens:
        if not token or _NOT_IN_TOKEN.search(token):
            raise ValueError(f"invalid subject token {token!r} in {tokens}")
    return ".".join(tokens)


_MESSAGE_CLASSES: dict[str, type[Message]] = {}


def message_class(event_type: str) -> type[Message]:
    """The generated protobuf class for a full message name (looked up once per name: every
    consumed message asks)."""
    cls = _MESSAGE_CLASSES.get(event_type)
    if cls is not None:
        return cls
    try:
        descriptor = descriptor_pool.Default().FindMessageTypeByName(event_type)
    except KeyError as exc:
        raise UndecodableEventError(f"unknown integration event type {event_type!r}") from exc
    cls = _MESSAGE_CLASSES[event_type] = message_factory.GetMessageClass(descriptor)
    return cls


@dataclass(frozen=True)
class ReceivedEvent:
    """An integration event as a consumer sees it."""

    event_type: str
    message: Message
    subject: str
    store_id: str
    occurred_at: str
    msg_id: str
    headers: dict[str, str]


def decode(subject_: str, data: bytes, headers: dict[str, str] | None) -> ReceivedEvent:
    """Parse a bus message into a ReceivedEvent, or raise UndecodableEventError."""
    headers = dict(headers or {})
    event_type = headers.get(H_EVENT_TYPE)
    if not event_type:
        raise UndecodableEventError(f"message on {subject_} has no {H_EVENT_TYPE} header")
    cls = message_class(event_type)
    message = cls()
    try:
        message.ParseFromString(data)
    except DecodeError as exc:
        raise UndecodableEventError(f"{event_type} on {subject_}: {exc}") from exc
    return ReceivedEvent(
        event_type=event_type,
        message=message,
        subject=subject_,
        store_id=headers.get(H_STORE_ID, ""),
        occurred_at=headers.get(H_OCCURRED_AT, ""),
        msg_id=headers.get(H_MSG_ID, ""),
        headers=headers,
    )


class Contracts(Protocol):
    """A service's mapping from its domain events to integration events."""

    def to_integration(self, domain_event: object) -> IntegrationEvent | None:
        """The integration event for a domain event, or None for a private one."""
        ...
