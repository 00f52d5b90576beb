from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar

from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message

DESCRIPTOR: _descriptor.FileDescriptor

class Money(_message.Message):
    __slots__ = ("amount_minor", "currency")
    AMOUNT_MINOR_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    amount_minor: int
    currency: str
    def __init__(self, amount_minor: int | None = ..., currency: str | None = ...) -> None: ...

class SaleLine(_message.Message):
    __slots__ = ("line_no", "line_total", "quantity", "sku", "unit_price")
    LINE_NO_FIELD_NUMBER: _ClassVar[int]
    SKU_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    UNIT_PRICE_FIELD_NUMBER: _ClassVar[int]
    LINE_TOTAL_FIELD_NUMBER: _ClassVar[int]
    line_no: int
    sku: str
    quantity: int
    unit_price: Money
    line_total: Money
    def __init__(self, line_no: int | None = ..., sku: str | None = ..., quantity: int | None = ..., unit_price: Money | _Mapping | None = ..., line_total: Money | _Mapping | None = ...) -> None: ...

class SaleTender(_message.Message):
    __slots__ = ("amount", "kind", "payment_id")
    PAYMENT_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    payment_id: str
    kind: str
    amount: Money
    def __init__(self, payment_id: str | None = ..., kind: str | None = ..., amount: Money | _Mapping | None = ...) -> None: ...
