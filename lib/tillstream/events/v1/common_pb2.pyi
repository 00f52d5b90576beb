from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Money(_message.Message):
    __slots__ = ("amount_minor", "currency")
    AMOUNT_MINOR_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    amount_minor: int
    currency: str
    def __init__(self, amount_minor: _Optional[int] = ..., currency: _Optional[str] = ...) -> None: ...

class SaleLine(_message.Message):
    __slots__ = ("line_no", "sku", "quantity", "unit_price", "line_total")
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
    def __init__(self, line_no: _Optional[int] = ..., sku: _Optional[str] = ..., quantity: _Optional[int] = ..., unit_price: _Optional[_Union[Money, _Mapping]] = ..., line_total: _Optional[_Union[Money, _Mapping]] = ...) -> None: ...

class SaleTender(_message.Message):
    __slots__ = ("payment_id", "kind", "amount")
    PAYMENT_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    payment_id: str
    kind: str
    amount: Money
    def __init__(self, payment_id: _Optional[str] = ..., kind: _Optional[str] = ..., amount: _Optional[_Union[Money, _Mapping]] = ...) -> None: ...
