from tillstream.events.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SaleOpened(_message.Message):
    __slots__ = ("sale_id", "store_id", "lane_id", "cashier_id", "currency")
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
    def __init__(self, sale_id: _Optional[str] = ..., store_id: _Optional[str] = ..., lane_id: _Optional[str] = ..., cashier_id: _Optional[str] = ..., currency: _Optional[str] = ...) -> None: ...

class SaleLineAdded(_message.Message):
    __slots__ = ("sale_id", "store_id", "line")
    SALE_ID_FIELD_NUMBER: _ClassVar[int]
    STORE_ID_FIELD_NUMBER: _ClassVar[int]
    LINE_FIELD_NUMBER: _ClassVar[int]
    sale_id: str
    store_id: str
    line: _common_pb2.SaleLine
    def __init__(self, sale_id: _Optional[str] = ..., store_id: _Optional[str] = ..., line: _Optional[_Union[_common_pb2.SaleLine, _Mapping]] = ...) -> None: ...

class SaleCustomerAttached(_message.Message):
    __slots__ = ("sale_id", "store_id", "customer_id")
    SALE_ID_FIELD_NUMBER: _ClassVar[int]
    STORE_ID_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    sale_id: str
    store_id: str
    customer_id: str
    def __init__(self, sale_id: _Optional[str] = ..., store_id: _Optional[str] = ..., customer_id: _Optional[str] = ...) -> None: ...

class SaleCompleted(_message.Message):
    __slots__ = ("sale_id", "store_id", "lane_id", "cashier_id", "lines", "total", "tenders", "customer_id", "completed_at_ms")
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
    def __init__(self, sale_id: _Optional[str] = ..., store_id: _Optional[str] = ..., lane_id: _Optional[str] = ..., cashier_id: _Optional[str] = ..., lines: _Optional[_Iterable[_Union[_common_pb2.SaleLine, _Mapping]]] = ..., total: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., tenders: _Optional[_Iterable[_Union[_common_pb2.SaleTender, _Mapping]]] = ..., customer_id: _Optional[str] = ..., completed_at_ms: _Optional[int] = ...) -> None: ...

class SaleTenderDeclined(_message.Message):
    __slots__ = ("sale_id", "store_id", "payment_id", "amount", "response_code")
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
    def __init__(self, sale_id: _Optional[str] = ..., store_id: _Optional[str] = ..., payment_id: _Optional[str] = ..., amount: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., response_code: _Optional[str] = ...) -> None: ...
