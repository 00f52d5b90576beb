from tillstream.events.v1 import common_pb2 as _common_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Card(_message.Message):
    __slots__ = ("token", "masked_pan", "scheme")
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    MASKED_PAN_FIELD_NUMBER: _ClassVar[int]
    SCHEME_FIELD_NUMBER: _ClassVar[int]
    token: str
    masked_pan: str
    scheme: str
    def __init__(self, token: _Optional[str] = ..., masked_pan: _Optional[str] = ..., scheme: _Optional[str] = ...) -> None: ...

class PaymentCaptured(_message.Message):
    __slots__ = ("payment_id", "sale_id", "store_id", "amount", "tender", "card", "auth_code", "rrn")
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
    def __init__(self, payment_id: _Optional[str] = ..., sale_id: _Optional[str] = ..., store_id: _Optional[str] = ..., amount: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., tender: _Optional[str] = ..., card: _Optional[_Union[Card, _Mapping]] = ..., auth_code: _Optional[str] = ..., rrn: _Optional[str] = ...) -> None: ...

class PaymentDeclined(_message.Message):
    __slots__ = ("payment_id", "sale_id", "store_id", "amount", "tender", "card", "response_code", "reason")
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
    def __init__(self, payment_id: _Optional[str] = ..., sale_id: _Optional[str] = ..., store_id: _Optional[str] = ..., amount: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., tender: _Optional[str] = ..., card: _Optional[_Union[Card, _Mapping]] = ..., response_code: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...
