from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class DeadLettered(_message.Message):
    __slots__ = ("consumer", "upstream_stream", "upstream_sequence", "subject", "event_type", "error", "deliveries")
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
    def __init__(self, consumer: _Optional[str] = ..., upstream_stream: _Optional[str] = ..., upstream_sequence: _Optional[int] = ..., subject: _Optional[str] = ..., event_type: _Optional[str] = ..., error: _Optional[str] = ..., deliveries: _Optional[int] = ...) -> None: ...
