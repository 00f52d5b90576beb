from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SaleStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SALE_STATUS_UNSPECIFIED: _ClassVar[SaleStatus]
    SALE_STATUS_OPEN: _ClassVar[SaleStatus]
    SALE_STATUS_COMPLETED: _ClassVar[SaleStatus]

class ReceiptFormat(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RECEIPT_FORMAT_UNSPECIFIED: _ClassVar[ReceiptFormat]
    RECEIPT_FORMAT_TEXT: _ClassVar[ReceiptFormat]
    RECEIPT_FORMAT_HTML: _ClassVar[ReceiptFormat]
    RECEIPT_FORMAT_ESCPOS: _ClassVar[ReceiptFormat]
SALE_STATUS_UNSPECIFIED: SaleStatus
SALE_STATUS_OPEN: SaleStatus
SALE_STATUS_COMPLETED: SaleStatus
RECEIPT_FORMAT_UNSPECIFIED: ReceiptFormat
RECEIPT_FORMAT_TEXT: ReceiptFormat
RECEIPT_FORMAT_HTML: ReceiptFormat
RECEIPT_FORMAT_ESCPOS: ReceiptFormat

class Money(_message.Message):
    __slots__ = ("amount_minor", "currency")
    AMOUNT_MINOR_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    amount_minor: int
    currency: str
    def __init__(self, amount_minor: _Optional[int] = ..., currency: _Optional[str] = ...) -> None: ...

class OpenSaleRequest(_message.Message):
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

class OpenSaleResponse(_message.Message):
    __slots__ = ("sale_id", "status")
    SALE_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    sale_id: str
    status: SaleStatus
    def __init__(self, sale_id: _Optional[str] = ..., status: _Optional[_Union[SaleStatus, str]] = ...) -> None: ...

class AddLineRequest(_message.Message):
    __slots__ = ("sale_id", "line_no", "sku", "quantity")
    SALE_ID_FIELD_NUMBER: _ClassVar[int]
    LINE_NO_FIELD_NUMBER: _ClassVar[int]
    SKU_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    sale_id: str
    line_no: int
    sku: str
    quantity: int
    def __init__(self, sale_id: _Optional[str] = ..., line_no: _Optional[int] = ..., sku: _Optional[str] = ..., quantity: _Optional[int] = ...) -> None: ...

class AddLineResponse(_message.Message):
    __slots__ = ("unit_price", "line_total", "sale_total")
    UNIT_PRICE_FIELD_NUMBER: _ClassVar[int]
    LINE_TOTAL_FIELD_NUMBER: _ClassVar[int]
    SALE_TOTAL_FIELD_NUMBER: _ClassVar[int]
    unit_price: Money
    line_total: Money
    sale_total: Money
    def __init__(self, unit_price: _Optional[_Union[Money, _Mapping]] = ..., line_total: _Optional[_Union[Money, _Mapping]] = ..., sale_total: _Optional[_Union[Money, _Mapping]] = ...) -> None: ...

class AttachCustomerRequest(_message.Message):
    __slots__ = ("sale_id", "customer_id")
    SALE_ID_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    sale_id: str
    customer_id: str
    def __init__(self, sale_id: _Optional[str] = ..., customer_id: _Optional[str] = ...) -> None: ...

class AttachCustomerResponse(_message.Message):
    __slots__ = ("sale_id", "customer_id")
    SALE_ID_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    sale_id: str
    customer_id: str
    def __init__(self, sale_id: _Optional[str] = ..., customer_id: _Optional[str] = ...) -> None: ...

class GetSaleRequest(_message.Message):
    __slots__ = ("sale_id",)
    SALE_ID_FIELD_NUMBER: _ClassVar[int]
    sale_id: str
    def __init__(self, sale_id: _Optional[str] = ...) -> None: ...

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

class Sale(_message.Message):
    __slots__ = ("sale_id", "store_id", "lane_id", "cashier_id", "shift_id", "status", "total", "paid", "due", "customer_id", "lines", "tenders")
    SALE_ID_FIELD_NUMBER: _ClassVar[int]
    STORE_ID_FIELD_NUMBER: _ClassVar[int]
    LANE_ID_FIELD_NUMBER: _ClassVar[int]
    CASHIER_ID_FIELD_NUMBER: _ClassVar[int]
    SHIFT_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    PAID_FIELD_NUMBER: _ClassVar[int]
    DUE_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    LINES_FIELD_NUMBER: _ClassVar[int]
    TENDERS_FIELD_NUMBER: _ClassVar[int]
    sale_id: str
    store_id: str
    lane_id: str
    cashier_id: str
    shift_id: str
    status: SaleStatus
    total: Money
    paid: Money
    due: Money
    customer_id: str
    lines: _containers.RepeatedCompositeFieldContainer[SaleLine]
    tenders: _containers.RepeatedCompositeFieldContainer[SaleTender]
    def __init__(self, sale_id: _Optional[str] = ..., store_id: _Optional[str] = ..., lane_id: _Optional[str] = ..., cashier_id: _Optional[str] = ..., shift_id: _Optional[str] = ..., status: _Optional[_Union[SaleStatus, str]] = ..., total: _Optional[_Union[Money, _Mapping]] = ..., paid: _Optional[_Union[Money, _Mapping]] = ..., due: _Optional[_Union[Money, _Mapping]] = ..., customer_id: _Optional[str] = ..., lines: _Optional[_Iterable[_Union[SaleLine, _Mapping]]] = ..., tenders: _Optional[_Iterable[_Union[SaleTender, _Mapping]]] = ...) -> None: ...

class ListSalesRequest(_message.Message):
    __slots__ = ("store_id", "lane_id", "status", "page_size", "page_token")
    STORE_ID_FIELD_NUMBER: _ClassVar[int]
    LANE_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    store_id: str
    lane_id: str
    status: SaleStatus
    page_size: int
    page_token: str
    def __init__(self, store_id: _Optional[str] = ..., lane_id: _Optional[str] = ..., status: _Optional[_Union[SaleStatus, str]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListSalesResponse(_message.Message):
    __slots__ = ("sales", "next_page_token")
    SALES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    sales: _containers.RepeatedCompositeFieldContainer[Sale]
    next_page_token: str
    def __init__(self, sales: _Optional[_Iterable[_Union[Sale, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class OpenShiftRequest(_message.Message):
    __slots__ = ("store_id", "lane_id", "cashier_id", "pin", "float")
    STORE_ID_FIELD_NUMBER: _ClassVar[int]
    LANE_ID_FIELD_NUMBER: _ClassVar[int]
    CASHIER_ID_FIELD_NUMBER: _ClassVar[int]
    PIN_FIELD_NUMBER: _ClassVar[int]
    FLOAT_FIELD_NUMBER: _ClassVar[int]
    store_id: str
    lane_id: str
    cashier_id: str
    pin: str
    float: Money
    def __init__(self, store_id: _Optional[str] = ..., lane_id: _Optional[str] = ..., cashier_id: _Optional[str] = ..., pin: _Optional[str] = ..., float: _Optional[_Union[Money, _Mapping]] = ...) -> None: ...

class OpenShiftResponse(_message.Message):
    __slots__ = ("shift_id",)
    SHIFT_ID_FIELD_NUMBER: _ClassVar[int]
    shift_id: str
    def __init__(self, shift_id: _Optional[str] = ...) -> None: ...

class CashMovementRequest(_message.Message):
    __slots__ = ("shift_id", "amount", "reason")
    SHIFT_ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    shift_id: str
    amount: Money
    reason: str
    def __init__(self, shift_id: _Optional[str] = ..., amount: _Optional[_Union[Money, _Mapping]] = ..., reason: _Optional[str] = ...) -> None: ...

class CashMovementResponse(_message.Message):
    __slots__ = ("shift_id", "expected")
    SHIFT_ID_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_FIELD_NUMBER: _ClassVar[int]
    shift_id: str
    expected: Money
    def __init__(self, shift_id: _Optional[str] = ..., expected: _Optional[_Union[Money, _Mapping]] = ...) -> None: ...

class DenominationCount(_message.Message):
    __slots__ = ("denomination_minor", "count")
    DENOMINATION_MINOR_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    denomination_minor: int
    count: int
    def __init__(self, denomination_minor: _Optional[int] = ..., count: _Optional[int] = ...) -> None: ...

class CloseShiftRequest(_message.Message):
    __slots__ = ("shift_id", "counted")
    SHIFT_ID_FIELD_NUMBER: _ClassVar[int]
    COUNTED_FIELD_NUMBER: _ClassVar[int]
    shift_id: str
    counted: _containers.RepeatedCompositeFieldContainer[DenominationCount]
    def __init__(self, shift_id: _Optional[str] = ..., counted: _Optional[_Iterable[_Union[DenominationCount, _Mapping]]] = ...) -> None: ...

class ShiftReport(_message.Message):
    __slots__ = ("kind", "shift_id", "store_id", "lane_id", "cashier_id", "status", "float", "cash_sales", "cash_refunds", "paid_in", "paid_out", "no_sales", "expected", "counted_total", "variance", "counted")
    KIND_FIELD_NUMBER: _ClassVar[int]
    SHIFT_ID_FIELD_NUMBER: _ClassVar[int]
    STORE_ID_FIELD_NUMBER: _ClassVar[int]
    LANE_ID_FIELD_NUMBER: _ClassVar[int]
    CASHIER_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    FLOAT_FIELD_NUMBER: _ClassVar[int]
    CASH_SALES_FIELD_NUMBER: _ClassVar[int]
    CASH_REFUNDS_FIELD_NUMBER: _ClassVar[int]
    PAID_IN_FIELD_NUMBER: _ClassVar[int]
    PAID_OUT_FIELD_NUMBER: _ClassVar[int]
    NO_SALES_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_FIELD_NUMBER: _ClassVar[int]
    COUNTED_TOTAL_FIELD_NUMBER: _ClassVar[int]
    VARIANCE_FIELD_NUMBER: _ClassVar[int]
    COUNTED_FIELD_NUMBER: _ClassVar[int]
    kind: str
    shift_id: str
    store_id: str
    lane_id: str
    cashier_id: str
    status: str
    float: Money
    cash_sales: Money
    cash_refunds: Money
    paid_in: Money
    paid_out: Money
    no_sales: int
    expected: Money
    counted_total: Money
    variance: Money
    counted: _containers.RepeatedCompositeFieldContainer[DenominationCount]
    def __init__(self, kind: _Optional[str] = ..., shift_id: _Optional[str] = ..., store_id: _Optional[str] = ..., lane_id: _Optional[str] = ..., cashier_id: _Optional[str] = ..., status: _Optional[str] = ..., float: _Optional[_Union[Money, _Mapping]] = ..., cash_sales: _Optional[_Union[Money, _Mapping]] = ..., cash_refunds: _Optional[_Union[Money, _Mapping]] = ..., paid_in: _Optional[_Union[Money, _Mapping]] = ..., paid_out: _Optional[_Union[Money, _Mapping]] = ..., no_sales: _Optional[int] = ..., expected: _Optional[_Union[Money, _Mapping]] = ..., counted_total: _Optional[_Union[Money, _Mapping]] = ..., variance: _Optional[_Union[Money, _Mapping]] = ..., counted: _Optional[_Iterable[_Union[DenominationCount, _Mapping]]] = ...) -> None: ...

class GetReceiptRequest(_message.Message):
    __slots__ = ("sale_id", "format", "copy", "sequence")
    SALE_ID_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    COPY_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    sale_id: str
    format: ReceiptFormat
    copy: bool
    sequence: int
    def __init__(self, sale_id: _Optional[str] = ..., format: _Optional[_Union[ReceiptFormat, str]] = ..., copy: _Optional[bool] = ..., sequence: _Optional[int] = ...) -> None: ...

class Receipt(_message.Message):
    __slots__ = ("receipt_number", "text", "html", "escpos")
    RECEIPT_NUMBER_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    HTML_FIELD_NUMBER: _ClassVar[int]
    ESCPOS_FIELD_NUMBER: _ClassVar[int]
    receipt_number: str
    text: str
    html: str
    escpos: bytes
    def __init__(self, receipt_number: _Optional[str] = ..., text: _Optional[str] = ..., html: _Optional[str] = ..., escpos: _Optional[bytes] = ...) -> None: ...
