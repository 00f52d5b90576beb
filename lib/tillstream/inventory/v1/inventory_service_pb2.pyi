from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Money(_message.Message):
    __slots__ = ("amount_minor", "currency")
    AMOUNT_MINOR_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    amount_minor: int
    currency: str
    def __init__(self, amount_minor: _Optional[int] = ..., currency: _Optional[str] = ...) -> None: ...

class Product(_message.Message):
    __slots__ = ("sku", "name", "price", "tax_class", "barcodes", "active")
    SKU_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    PRICE_FIELD_NUMBER: _ClassVar[int]
    TAX_CLASS_FIELD_NUMBER: _ClassVar[int]
    BARCODES_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_FIELD_NUMBER: _ClassVar[int]
    sku: str
    name: str
    price: Money
    tax_class: str
    barcodes: _containers.RepeatedScalarFieldContainer[str]
    active: bool
    def __init__(self, sku: _Optional[str] = ..., name: _Optional[str] = ..., price: _Optional[_Union[Money, _Mapping]] = ..., tax_class: _Optional[str] = ..., barcodes: _Optional[_Iterable[str]] = ..., active: _Optional[bool] = ...) -> None: ...

class GetProductRequest(_message.Message):
    __slots__ = ("sku",)
    SKU_FIELD_NUMBER: _ClassVar[int]
    sku: str
    def __init__(self, sku: _Optional[str] = ...) -> None: ...

class ListProductsRequest(_message.Message):
    __slots__ = ("query", "page_size", "page_token")
    QUERY_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    query: str
    page_size: int
    page_token: str
    def __init__(self, query: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListProductsResponse(_message.Message):
    __slots__ = ("products", "next_page_token")
    PRODUCTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    products: _containers.RepeatedCompositeFieldContainer[Product]
    next_page_token: str
    def __init__(self, products: _Optional[_Iterable[_Union[Product, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class UpsertProductRequest(_message.Message):
    __slots__ = ("sku", "name", "price", "tax_class", "barcodes", "clear_barcodes")
    SKU_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    PRICE_FIELD_NUMBER: _ClassVar[int]
    TAX_CLASS_FIELD_NUMBER: _ClassVar[int]
    BARCODES_FIELD_NUMBER: _ClassVar[int]
    CLEAR_BARCODES_FIELD_NUMBER: _ClassVar[int]
    sku: str
    name: str
    price: Money
    tax_class: str
    barcodes: _containers.RepeatedScalarFieldContainer[str]
    clear_barcodes: bool
    def __init__(self, sku: _Optional[str] = ..., name: _Optional[str] = ..., price: _Optional[_Union[Money, _Mapping]] = ..., tax_class: _Optional[str] = ..., barcodes: _Optional[_Iterable[str]] = ..., clear_barcodes: _Optional[bool] = ...) -> None: ...

class StockLevel(_message.Message):
    __slots__ = ("store_id", "sku", "on_hand", "sold", "received", "reorder_point", "low", "damaged")
    STORE_ID_FIELD_NUMBER: _ClassVar[int]
    SKU_FIELD_NUMBER: _ClassVar[int]
    ON_HAND_FIELD_NUMBER: _ClassVar[int]
    SOLD_FIELD_NUMBER: _ClassVar[int]
    RECEIVED_FIELD_NUMBER: _ClassVar[int]
    REORDER_POINT_FIELD_NUMBER: _ClassVar[int]
    LOW_FIELD_NUMBER: _ClassVar[int]
    DAMAGED_FIELD_NUMBER: _ClassVar[int]
    store_id: str
    sku: str
    on_hand: int
    sold: int
    received: int
    reorder_point: int
    low: bool
    damaged: int
    def __init__(self, store_id: _Optional[str] = ..., sku: _Optional[str] = ..., on_hand: _Optional[int] = ..., sold: _Optional[int] = ..., received: _Optional[int] = ..., reorder_point: _Optional[int] = ..., low: _Optional[bool] = ..., damaged: _Optional[int] = ...) -> None: ...

class GetStockRequest(_message.Message):
    __slots__ = ("store_id", "sku")
    STORE_ID_FIELD_NUMBER: _ClassVar[int]
    SKU_FIELD_NUMBER: _ClassVar[int]
    store_id: str
    sku: str
    def __init__(self, store_id: _Optional[str] = ..., sku: _Optional[str] = ...) -> None: ...

class ListStockRequest(_message.Message):
    __slots__ = ("store_id", "page_size", "page_token")
    STORE_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    store_id: str
    page_size: int
    page_token: str
    def __init__(self, store_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListStockResponse(_message.Message):
    __slots__ = ("items", "next_page_token")
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedCompositeFieldContainer[StockLevel]
    next_page_token: str
    def __init__(self, items: _Optional[_Iterable[_Union[StockLevel, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ListLowStockRequest(_message.Message):
    __slots__ = ("store_id",)
    STORE_ID_FIELD_NUMBER: _ClassVar[int]
    store_id: str
    def __init__(self, store_id: _Optional[str] = ...) -> None: ...

class ReceiveRequest(_message.Message):
    __slots__ = ("store_id", "sku", "quantity", "reference")
    STORE_ID_FIELD_NUMBER: _ClassVar[int]
    SKU_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    store_id: str
    sku: str
    quantity: int
    reference: str
    def __init__(self, store_id: _Optional[str] = ..., sku: _Optional[str] = ..., quantity: _Optional[int] = ..., reference: _Optional[str] = ...) -> None: ...

class AdjustRequest(_message.Message):
    __slots__ = ("store_id", "sku", "delta", "reason", "note")
    STORE_ID_FIELD_NUMBER: _ClassVar[int]
    SKU_FIELD_NUMBER: _ClassVar[int]
    DELTA_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    store_id: str
    sku: str
    delta: int
    reason: str
    note: str
    def __init__(self, store_id: _Optional[str] = ..., sku: _Optional[str] = ..., delta: _Optional[int] = ..., reason: _Optional[str] = ..., note: _Optional[str] = ...) -> None: ...

class CountRequest(_message.Message):
    __slots__ = ("store_id", "sku", "counted_quantity")
    STORE_ID_FIELD_NUMBER: _ClassVar[int]
    SKU_FIELD_NUMBER: _ClassVar[int]
    COUNTED_QUANTITY_FIELD_NUMBER: _ClassVar[int]
    store_id: str
    sku: str
    counted_quantity: int
    def __init__(self, store_id: _Optional[str] = ..., sku: _Optional[str] = ..., counted_quantity: _Optional[int] = ...) -> None: ...

class CountResponse(_message.Message):
    __slots__ = ("delta", "level")
    DELTA_FIELD_NUMBER: _ClassVar[int]
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    delta: int
    level: StockLevel
    def __init__(self, delta: _Optional[int] = ..., level: _Optional[_Union[StockLevel, _Mapping]] = ...) -> None: ...

class TransferLine(_message.Message):
    __slots__ = ("sku", "quantity")
    SKU_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    sku: str
    quantity: int
    def __init__(self, sku: _Optional[str] = ..., quantity: _Optional[int] = ...) -> None: ...

class Transfer(_message.Message):
    __slots__ = ("transfer_id", "from_store", "to_store", "status", "lines", "received", "shortfall")
    TRANSFER_ID_FIELD_NUMBER: _ClassVar[int]
    FROM_STORE_FIELD_NUMBER: _ClassVar[int]
    TO_STORE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    LINES_FIELD_NUMBER: _ClassVar[int]
    RECEIVED_FIELD_NUMBER: _ClassVar[int]
    SHORTFALL_FIELD_NUMBER: _ClassVar[int]
    transfer_id: str
    from_store: str
    to_store: str
    status: str
    lines: _containers.RepeatedCompositeFieldContainer[TransferLine]
    received: _containers.RepeatedCompositeFieldContainer[TransferLine]
    shortfall: _containers.RepeatedCompositeFieldContainer[TransferLine]
    def __init__(self, transfer_id: _Optional[str] = ..., from_store: _Optional[str] = ..., to_store: _Optional[str] = ..., status: _Optional[str] = ..., lines: _Optional[_Iterable[_Union[TransferLine, _Mapping]]] = ..., received: _Optional[_Iterable[_Union[TransferLine, _Mapping]]] = ..., shortfall: _Optional[_Iterable[_Union[TransferLine, _Mapping]]] = ...) -> None: ...

class RequestTransferRequest(_message.Message):
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

class ShipTransferRequest(_message.Message):
    __slots__ = ("transfer_id",)
    TRANSFER_ID_FIELD_NUMBER: _ClassVar[int]
    transfer_id: str
    def __init__(self, transfer_id: _Optional[str] = ...) -> None: ...

class ReceiveTransferRequest(_message.Message):
    __slots__ = ("transfer_id", "lines")
    TRANSFER_ID_FIELD_NUMBER: _ClassVar[int]
    LINES_FIELD_NUMBER: _ClassVar[int]
    transfer_id: str
    lines: _containers.RepeatedCompositeFieldContainer[TransferLine]
    def __init__(self, transfer_id: _Optional[str] = ..., lines: _Optional[_Iterable[_Union[TransferLine, _Mapping]]] = ...) -> None: ...

class GetTransferRequest(_message.Message):
    __slots__ = ("transfer_id",)
    TRANSFER_ID_FIELD_NUMBER: _ClassVar[int]
    transfer_id: str
    def __init__(self, transfer_id: _Optional[str] = ...) -> None: ...
