from collections.abc import Iterable as _Iterable
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar

from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from google.protobuf.internal import containers as _containers

from tillstream.events.v1 import common_pb2 as _common_pb2

DESCRIPTOR: _descriptor.FileDescriptor

class ProductUpserted(_message.Message):
    __slots__ = ("active", "barcodes", "name", "price", "sku", "tax_class")
    SKU_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    PRICE_FIELD_NUMBER: _ClassVar[int]
    TAX_CLASS_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_FIELD_NUMBER: _ClassVar[int]
    BARCODES_FIELD_NUMBER: _ClassVar[int]
    sku: str
    name: str
    price: _common_pb2.Money
    tax_class: str
    active: bool
    barcodes: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, sku: str | None = ..., name: str | None = ..., price: _common_pb2.Money | _Mapping | None = ..., tax_class: str | None = ..., active: bool | None = ..., barcodes: _Iterable[str] | None = ...) -> None: ...

class StockChanged(_message.Message):
    __slots__ = ("delta", "on_hand", "reason", "reference", "sku", "store_id")
    STORE_ID_FIELD_NUMBER: _ClassVar[int]
    SKU_FIELD_NUMBER: _ClassVar[int]
    DELTA_FIELD_NUMBER: _ClassVar[int]
    ON_HAND_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    store_id: str
    sku: str
    delta: int
    on_hand: int
    reason: str
    reference: str
    def __init__(self, store_id: str | None = ..., sku: str | None = ..., delta: int | None = ..., on_hand: int | None = ..., reason: str | None = ..., reference: str | None = ...) -> None: ...

class StockLow(_message.Message):
    __slots__ = ("on_hand", "reorder_point", "sku", "store_id")
    STORE_ID_FIELD_NUMBER: _ClassVar[int]
    SKU_FIELD_NUMBER: _ClassVar[int]
    ON_HAND_FIELD_NUMBER: _ClassVar[int]
    REORDER_POINT_FIELD_NUMBER: _ClassVar[int]
    store_id: str
    sku: str
    on_hand: int
    reorder_point: int
    def __init__(self, store_id: str | None = ..., sku: str | None = ..., on_hand: int | None = ..., reorder_point: int | None = ...) -> None: ...
