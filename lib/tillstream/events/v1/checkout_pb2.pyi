from collections.abc import Iterable as _Iterable
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar

from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from google.protobuf.internal import containers as _containers

from tillstream.events.v1 import common_pb2 as _common_pb2

DESCRIPTOR: _descriptor.FileDescriptor

class SaleOpened(_message.Message):
    __slots__ = ("cashier_id", "currency", "lane_id", "sale_id", "store_id")
    SALE_ID_FIELD_NUMBER: _ClassVar[int]
    STORE_ID_FIELD_NUMBER: _ClassVar[int]
    LANE_ID_FIELD_NUMBER: _ClassVar[int]
    CASHIER_ID_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    sale_id: str
    store_id: str
    lane_id: str
    cashier_id: str
    currency: str
    def __init__(self, sale_id: str | None = ..., store_id: str | None = ..., lane_id: str | None = ..., cashier_id: str | None = ..., currency: str | None = ...) -> None: ...

class SaleLineAdded(_message.Message):
    __slots__ = ("line", "sale_id", "store_id")
    SALE_ID_FIELD_NUMBER: _ClassVar[int]
    STORE_ID_FIELD_NUMBER: _ClassVar[int]
    LINE_FIELD_NUMBER: _ClassVar[int]
    sale_id: str
    store_id: str
    line: _common_pb2.SaleLine
    def __init__(self, sale_id: str | None = ..., store_id: str | None = ..., line: _common_pb2.SaleLine | _Mapping | None = ...) -> None: ...

class SaleCustomerAttached(_message.Message):
    __slots__ = ("customer_id", "sale_id", "store_id")
    SALE_ID_FIELD_NUMBER: _ClassVar[int]
    STORE_ID_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    sale_id: str
    store_id: str
    customer_id: str
    def __init__(self, sale_id: str | None = ..., store_id: str | None = ..., customer_id: str | None = ...) -> None: ...

class SaleCompleted(_message.Message):
    __slots__ = ("cashier_id", "completed_at_ms", "customer_id", "lane_id", "lines", "sale_id", "store_id", "tenders", "total")
    SALE_ID_FIELD_NUMBER: _ClassVar[int]
    STORE_ID_FIELD_NUMBER: _ClassVar[int]
    LANE_ID_FIELD_NUMBER: _ClassVar[int]
    CASHIER_ID_FIELD_NUMBER: _ClassVar[int]
    LINES_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    TENDERS_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    COMPLETED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    sale_id: str
    store_id: str
    lane_id: str
    cashier_id: str
    lines: _containers.RepeatedCompositeFieldContainer[_common_pb2.SaleLine]
    total: _common_pb2.Money
    tenders: _containers.RepeatedCompositeFieldContainer[_common_pb2.SaleTender]
    customer_id: str
    completed_at_ms: int
    def __init__(self, sale_id: str | None = ..., store_id: str | None = ..., lane_id: str | None = ..., cashier_id: str | None = ..., lines: _Iterable[_common_pb2.SaleLine | _Mapping] | None = ..., total: _common_pb2.Money | _Mapping | None = ..., tenders: _Iterable[_common_pb2.SaleTender | _Mapping] | None = ..., customer_id: str | None = ..., completed_at_ms: int | None = ...) -> None: ...

class SaleTenderDeclined(_message.Message):
    __slots__ = ("amount", "payment_id", "response_code", "sale_id", "store_id")
    SALE_ID_FIELD_NUMBER: _ClassVar[int]
    STORE_ID_FIELD_NUMBER: _ClassVar[int]
    PAYMENT_ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_CODE_FIELD_NUMBER: _ClassVar[int]
    sale_id: str
    store_id: str
    payment_id: str
    amount: _common_pb2.Money
    response_code: str
    def __init__(self, sale_id: str | None = ..., store_id: str | None = ..., payment_id: str | None = ..., amount: _common_pb2.Money | _Mapping | None = ..., response_code: str | None = ...) -> None: ...
