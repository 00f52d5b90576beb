from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar

from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message

from tillstream.events.v1 import common_pb2 as _common_pb2

DESCRIPTOR: _descriptor.FileDescriptor

class Card(_message.Message):
    __slots__ = ("masked_pan", "scheme", "token")
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    MASKED_PAN_FIELD_NUMBER: _ClassVar[int]
    SCHEME_FIELD_NUMBER: _ClassVar[int]
    token: str
    masked_pan: str
    scheme: str
    def __init__(self, token: str | None = ..., masked_pan: str | None = ..., scheme: str | None = ...) -> None: ...

class PaymentCaptured(_message.Message):
    __slots__ = ("amount", "auth_code", "card", "payment_id", "rrn", "sale_id", "store_id", "tender")
    PAYMENT_ID_FIELD_NUMBER: _ClassVar[int]
    SALE_ID_FIELD_NUMBER: _ClassVar[int]
    STORE_ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    TENDER_FIELD_NUMBER: _ClassVar[int]
    CARD_FIELD_NUMBER: _ClassVar[int]
    AUTH_CODE_FIELD_NUMBER: _ClassVar[int]
    RRN_FIELD_NUMBER: _ClassVar[int]
    payment_id: str
    sale_id: str
    store_id: str
    amount: _common_pb2.Money
    tender: str
    card: Card
    auth_code: str
    rrn: str
    def __init__(self, payment_id: str | None = ..., sale_id: str | None = ..., store_id: str | None = ..., amount: _common_pb2.Money | _Mapping | None = ..., tender: str | None = ..., card: Card | _Mapping | None = ..., auth_code: str | None = ..., rrn: str | None = ...) -> None: ...

class PaymentDeclined(_message.Message):
    __slots__ = ("amount", "card", "payment_id", "reason", "response_code", "sale_id", "store_id", "tender")
    PAYMENT_ID_FIELD_NUMBER: _ClassVar[int]
    SALE_ID_FIELD_NUMBER: _ClassVar[int]
    STORE_ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    TENDER_FIELD_NUMBER: _ClassVar[int]
    CARD_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_CODE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    payment_id: str
    sale_id: str
    store_id: str
    amount: _common_pb2.Money
    tender: str
    card: Card
    response_code: str
    reason: str
    def __init__(self, payment_id: str | None = ..., sale_id: str | None = ..., store_id: str | None = ..., amount: _common_pb2.Money | _Mapping | None = ..., tender: str | None = ..., card: Card | _Mapping | None = ..., response_code: str | None = ..., reason: str | None = ...) -> None: ...
