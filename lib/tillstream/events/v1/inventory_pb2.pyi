from tillstream.events.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ProductUpserted(_message.Message):
    __slots__ = ("sku", "name", "price", "tax_class", "active", "barcodes")
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
    def __init__(self, sku: _Optional[str] = ..., name: _Optional[str] = ..., price: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., tax_class: _Optional[str] = ..., active: _Optional[bool] = ..., barcodes: _Optional[_Iterable[str]] = ...) -> None: ...

class StockChanged(_message.Message):
    __slots__ = ("store_id", "sku", "delta", "on_hand", "reason", "reference")
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
    def __init__(self, store_id: _Optional[str] = ..., sku: _Optional[str] = ..., delta: _Optional[int] = ..., on_hand: _Optional[int] = ..., reason: _Optional[str] = ..., reference: _Optional[str] = ...) -> None: ...

class StockLow(_message.Message):
    __slots__ = ("store_id", "sku", "on_hand", "reorder_point")
    STORE_ID_FIELD_NUMBER: _ClassVar[int]
    SKU_FIELD_NUMBER: _ClassVar[int]
    ON_HAND_FIELD_NUMBER: _ClassVar[int]
    REORDER_POINT_FIELD_NUMBER: _ClassVar[int]
    store_id: str
    sku: str
    on_hand: int
    reorder_point: int
    def __init__(self, store_id: _Optional[str] = ..., sku: _Optional[str] = ..., on_hand: _Optional[int] = ..., reorder_point: _Optional[int] = ...) -> None: ...
