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

class StockAdjusted(_message.Message):
    __slots__ = ("store_id", "sku", "delta", "on_hand", "reason", "note")
    STORE_ID_FIELD_NUMBER: _ClassVar[int]
    SKU_FIELD_NUMBER: _ClassVar[int]
    DELTA_FIELD_NUMBER: _ClassVar[int]
    ON_HAND_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    store_id: str
    sku: str
    delta: int
    on_hand: int
    reason: str
    note: str
    def __init__(self, store_id: _Optional[str] = ..., sku: _Optional[str] = ..., delta: _Optional[int] = ..., on_hand: _Optional[int] = ..., reason: _Optional[str] = ..., note: _Optional[str] = ...) -> None: ...

class StockCounted(_message.Message):
    __slots__ = ("store_id", "sku", "counted_quantity", "previous_on_hand", "delta", "on_hand")
    STORE_ID_FIELD_NUMBER: _ClassVar[int]
    SKU_FIELD_NUMBER: _ClassVar[int]
    COUNTED_QUANTITY_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_ON_HAND_FIELD_NUMBER: _ClassVar[int]
    DELTA_FIELD_NUMBER: _ClassVar[int]
    ON_HAND_FIELD_NUMBER: _ClassVar[int]
    store_id: str
    sku: str
    counted_quantity: int
    previous_on_hand: int
    delta: int
    on_hand: int
    def __init__(self, store_id: _Optional[str] = ..., sku: _Optional[str] = ..., counted_quantity: _Optional[int] = ..., previous_on_hand: _Optional[int] = ..., delta: _Optional[int] = ..., on_hand: _Optional[int] = ...) -> None: ...

class StockReturned(_message.Message):
    __slots__ = ("store_id", "sku", "quantity", "disposition", "reference", "on_hand", "damaged")
    STORE_ID_FIELD_NUMBER: _ClassVar[int]
    SKU_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    DISPOSITION_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    ON_HAND_FIELD_NUMBER: _ClassVar[int]
    DAMAGED_FIELD_NUMBER: _ClassVar[int]
    store_id: str
    sku: str
    quantity: int
    disposition: str
    reference: str
    on_hand: int
    damaged: int
    def __init__(self, store_id: _Optional[str] = ..., sku: _Optional[str] = ..., quantity: _Optional[int] = ..., disposition: _Optional[str] = ..., reference: _Optional[str] = ..., on_hand: _Optional[int] = ..., damaged: _Optional[int] = ...) -> None: ...

class TransferLine(_message.Message):
    __slots__ = ("sku", "quantity")
    SKU_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    sku: str
    quantity: int
    def __init__(self, sku: _Optional[str] = ..., quantity: _Optional[int] = ...) -> None: ...

class TransferRequested(_message.Message):
    __slots__ = ("transfer_id", "from_store", "to_store", "lines")
    TRANSFER_ID_FIELD_NUMBER: _ClassVar[int]
    FROM_STORE_FIELD_NUMBER: _ClassVar[int]
    TO_STORE_FIELD_NUMBER: _ClassVar[int]
    LINES_FIELD_NUMBER: _ClassVar[int]
    transfer_id: str
    from_store: str
    to_store: str
    lines: _containers.RepeatedCompositeFieldContainer[TransferLine]
    def __init__(self, transfer_id: _Optional[str] = ..., from_store: _Optional[str] = ..., to_store: _Optional[str] = ..., lines: _Optional[_Iterable[_Union[TransferLine, _Mapping]]] = ...) -> None: ...

class TransferShipped(_message.Message):
    __slots__ = ("transfer_id", "from_store", "to_store", "lines")
    TRANSFER_ID_FIELD_NUMBER: _ClassVar[int]
    FROM_STORE_FIELD_NUMBER: _ClassVar[int]
    TO_STORE_FIELD_NUMBER: _ClassVar[int]
    LINES_FIELD_NUMBER: _ClassVar[int]
    transfer_id: str
    from_store: str
    to_store: str
    lines: _containers.RepeatedCompositeFieldContainer[TransferLine]
    def __init__(self, transfer_id: _Optional[str] = ..., from_store: _Optional[str] = ..., to_store: _Optional[str] = ..., lines: _Optional[_Iterable[_Union[TransferLine, _Mapping]]] = ...) -> None: ...

class TransferReceivedLine(_message.Message):
    __slots__ = ("sku", "shipped", "received", "shortfall")
    SKU_FIELD_NUMBER: _ClassVar[int]
    SHIPPED_FIELD_NUMBER: _ClassVar[int]
    RECEIVED_FIELD_NUMBER: _ClassVar[int]
    SHORTFALL_FIELD_NUMBER: _ClassVar[int]
    sku: str
    shipped: int
    received: int
    shortfall: int
    def __init__(self, sku: _Optional[str] = ..., shipped: _Optional[int] = ..., received: _Optional[int] = ..., shortfall: _Optional[int] = ...) -> None: ...

class TransferReceived(_message.Message):
    __slots__ = ("transfer_id", "from_store", "to_store", "lines", "shortfall_total")
    TRANSFER_ID_FIELD_NUMBER: _ClassVar[int]
    FROM_STORE_FIELD_NUMBER: _ClassVar[int]
    TO_STORE_FIELD_NUMBER: _ClassVar[int]
    LINES_FIELD_NUMBER: _ClassVar[int]
    SHORTFALL_TOTAL_FIELD_NUMBER: _ClassVar[int]
    transfer_id: str
    from_store: str
    to_store: str
    lines: _containers.RepeatedCompositeFieldContainer[TransferReceivedLine]
    shortfall_total: int
    def __init__(self, transfer_id: _Optional[str] = ..., from_store: _Optional[str] = ..., to_store: _Optional[str] = ..., lines: _Optional[_Iterable[_Union[TransferReceivedLine, _Mapping]]] = ..., shortfall_total: _Optional[int] = ...) -> None: ...

class PromotionUpserted(_message.Message):
    __slots__ = ("promotion_id", "kind", "name", "skus", "percent_bp", "amount", "buy_quantity", "get_quantity", "threshold", "starts_at_ms", "ends_at_ms", "active")
    PROMOTION_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    SKUS_FIELD_NUMBER: _ClassVar[int]
    PERCENT_BP_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    BUY_QUANTITY_FIELD_NUMBER: _ClassVar[int]
    GET_QUANTITY_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    STARTS_AT_MS_FIELD_NUMBER: _ClassVar[int]
    ENDS_AT_MS_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_FIELD_NUMBER: _ClassVar[int]
    promotion_id: str
    kind: str
    name: str
    skus: _containers.RepeatedScalarFieldContainer[str]
    percent_bp: int
    amount: _common_pb2.Money
    buy_quantity: int
    get_quantity: int
    threshold: _common_pb2.Money
    starts_at_ms: int
    ends_at_ms: int
    active: bool
    def __init__(self, promotion_id: _Optional[str] = ..., kind: _Optional[str] = ..., name: _Optional[str] = ..., skus: _Optional[_Iterable[str]] = ..., percent_bp: _Optional[int] = ..., amount: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., buy_quantity: _Optional[int] = ..., get_quantity: _Optional[int] = ..., threshold: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., starts_at_ms: _Optional[int] = ..., ends_at_ms: _Optional[int] = ..., active: _Optional[bool] = ...) -> None: ...

class TaxRateUpserted(_message.Message):
    __slots__ = ("store_id", "tax_class", "rate_bp", "mode", "name")
    STORE_ID_FIELD_NUMBER: _ClassVar[int]
    TAX_CLASS_FIELD_NUMBER: _ClassVar[int]
    RATE_BP_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    store_id: str
    tax_class: str
    rate_bp: int
    mode: str
    name: str
    def __init__(self, store_id: _Optional[str] = ..., tax_class: _Optional[str] = ..., rate_bp: _Optional[int] = ..., mode: _Optional[str] = ..., name: _Optional[str] = ...) -> None: ...
