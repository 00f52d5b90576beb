from typing import ClassVar as _ClassVar

from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message

DESCRIPTOR: _descriptor.FileDescriptor

class DeadLettered(_message.Message):
    __slots__ = ("consumer", "deliveries", "error", "event_type", "subject", "upstream_sequence", "upstream_stream")
    CONSUMER_FIELD_NUMBER: _ClassVar[int]
    UPSTREAM_STREAM_FIELD_NUMBER: _ClassVar[int]
    UPSTREAM_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    EVENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    DELIVERIES_FIELD_NUMBER: _ClassVar[int]
    consumer: str
    upstream_stream: str
    upstream_sequence: int
    subject: str
    event_type: str
    error: str
    deliveries: int
    def __init__(self, consumer: str | None = ..., upstream_stream: str | None = ..., upstream_sequence: int | None = ..., subject: str | None = ..., event_type: str | None = ..., error: str | None = ..., deliveries: int | None = ...) -> None: ...
