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
    SALE_STATUS_SUSPENDED: _ClassVar[SaleStatus]
    SALE_STATUS_VOIDED: _ClassVar[SaleStatus]

class ReceiptFormat(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RECEIPT_FORMAT_UNSPECIFIED: _ClassVar[ReceiptFormat]
    RECEIPT_FORMAT_TEXT: _ClassVar[ReceiptFormat]
    RECEIPT_FORMAT_HTML: _ClassVar[ReceiptFormat]
    RECEIPT_FORMAT_ESCPOS: _ClassVar[ReceiptFormat]
SALE_STATUS_UNSPECIFIED: SaleStatus
SALE_STATUS_OPEN: SaleStatus
SALE_STATUS_COMPLETED: SaleStatus
SALE_STATUS_SUSPENDED: SaleStatus
SALE_STATUS_VOIDED: SaleStatus
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
    __slots__ = ("sale_id", "store_id", "lane_id", "cashier_id", "shift_id", "status", "total", "paid", "due", "customer_id", "lines", "tenders", "change", "receipt_number", "offline", "subtotal", "discount_total", "tax_total")
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
    CHANGE_FIELD_NUMBER: _ClassVar[int]
    RECEIPT_NUMBER_FIELD_NUMBER: _ClassVar[int]
    OFFLINE_FIELD_NUMBER: _ClassVar[int]
    SUBTOTAL_FIELD_NUMBER: _ClassVar[int]
    DISCOUNT_TOTAL_FIELD_NUMBER: _ClassVar[int]
    TAX_TOTAL_FIELD_NUMBER: _ClassVar[int]
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
    change: Money
    receipt_number: str
    offline: bool
    subtotal: Money
    discount_total: Money
    tax_total: Money
    def __init__(self, sale_id: _Optional[str] = ..., store_id: _Optional[str] = ..., lane_id: _Optional[str] = ..., cashier_id: _Optional[str] = ..., shift_id: _Optional[str] = ..., status: _Optional[_Union[SaleStatus, str]] = ..., total: _Optional[_Union[Money, _Mapping]] = ..., paid: _Optional[_Union[Money, _Mapping]] = ..., due: _Optional[_Union[Money, _Mapping]] = ..., customer_id: _Optional[str] = ..., lines: _Optional[_Iterable[_Union[SaleLine, _Mapping]]] = ..., tenders: _Optional[_Iterable[_Union[SaleTender, _Mapping]]] = ..., change: _Optional[_Union[Money, _Mapping]] = ..., receipt_number: _Optional[str] = ..., offline: _Optional[bool] = ..., subtotal: _Optional[_Union[Money, _Mapping]] = ..., discount_total: _Optional[_Union[Money, _Mapping]] = ..., tax_total: _Optional[_Union[Money, _Mapping]] = ...) -> None: ...

class BasketTotals(_message.Message):
    __slots__ = ("total", "subtotal", "discount_total", "tax_total")
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    SUBTOTAL_FIELD_NUMBER: _ClassVar[int]
    DISCOUNT_TOTAL_FIELD_NUMBER: _ClassVar[int]
    TAX_TOTAL_FIELD_NUMBER: _ClassVar[int]
    total: Money
    subtotal: Money
    discount_total: Money
    tax_total: Money
    def __init__(self, total: _Optional[_Union[Money, _Mapping]] = ..., subtotal: _Optional[_Union[Money, _Mapping]] = ..., discount_total: _Optional[_Union[Money, _Mapping]] = ..., tax_total: _Optional[_Union[Money, _Mapping]] = ...) -> None: ...

class UpdateLineRequest(_message.Message):
    __slots__ = ("sale_id", "line_no", "quantity")
    SALE_ID_FIELD_NUMBER: _ClassVar[int]
    LINE_NO_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    sale_id: str
    line_no: int
    quantity: int
    def __init__(self, sale_id: _Optional[str] = ..., line_no: _Optional[int] = ..., quantity: _Optional[int] = ...) -> None: ...

class RemoveLineRequest(_message.Message):
    __slots__ = ("sale_id", "line_no", "reason")
    SALE_ID_FIELD_NUMBER: _ClassVar[int]
    LINE_NO_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    sale_id: str
    line_no: int
    reason: str
    def __init__(self, sale_id: _Optional[str] = ..., line_no: _Optional[int] = ..., reason: _Optional[str] = ...) -> None: ...

class ApplyDiscountRequest(_message.Message):
    __slots__ = ("sale_id", "kind", "value", "reason", "supervisor_id", "line_no", "discount_id")
    SALE_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    SUPERVISOR_ID_FIELD_NUMBER: _ClassVar[int]
    LINE_NO_FIELD_NUMBER: _ClassVar[int]
    DISCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    sale_id: str
    kind: str
    value: int
    reason: str
    supervisor_id: str
    line_no: int
    discount_id: str
    def __init__(self, sale_id: _Optional[str] = ..., kind: _Optional[str] = ..., value: _Optional[int] = ..., reason: _Optional[str] = ..., supervisor_id: _Optional[str] = ..., line_no: _Optional[int] = ..., discount_id: _Optional[str] = ...) -> None: ...

class TenderRequest(_message.Message):
    __slots__ = ("sale_id", "kind", "amount", "idempotency_key", "pan", "expiry", "gift_card_number", "customer_id")
    SALE_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    PAN_FIELD_NUMBER: _ClassVar[int]
    EXPIRY_FIELD_NUMBER: _ClassVar[int]
    GIFT_CARD_NUMBER_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    sale_id: str
    kind: str
    amount: Money
    idempotency_key: str
    pan: str
    expiry: str
    gift_card_number: str
    customer_id: str
    def __init__(self, sale_id: _Optional[str] = ..., kind: _Optional[str] = ..., amount: _Optional[_Union[Money, _Mapping]] = ..., idempotency_key: _Optional[str] = ..., pan: _Optional[str] = ..., expiry: _Optional[str] = ..., gift_card_number: _Optional[str] = ..., customer_id: _Optional[str] = ...) -> None: ...

class TenderResponse(_message.Message):
    __slots__ = ("sale_id", "payment_id", "status", "response_code", "reason", "change", "sale_status", "due")
    SALE_ID_FIELD_NUMBER: _ClassVar[int]
    PAYMENT_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_CODE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    CHANGE_FIELD_NUMBER: _ClassVar[int]
    SALE_STATUS_FIELD_NUMBER: _ClassVar[int]
    DUE_FIELD_NUMBER: _ClassVar[int]
    sale_id: str
    payment_id: str
    status: str
    response_code: str
    reason: str
    change: Money
    sale_status: SaleStatus
    due: Money
    def __init__(self, sale_id: _Optional[str] = ..., payment_id: _Optional[str] = ..., status: _Optional[str] = ..., response_code: _Optional[str] = ..., reason: _Optional[str] = ..., change: _Optional[_Union[Money, _Mapping]] = ..., sale_status: _Optional[_Union[SaleStatus, str]] = ..., due: _Optional[_Union[Money, _Mapping]] = ...) -> None: ...

class VoidRequest(_message.Message):
    __slots__ = ("sale_id", "reason", "supervisor_id", "supervisor_pin")
    SALE_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    SUPERVISOR_ID_FIELD_NUMBER: _ClassVar[int]
    SUPERVISOR_PIN_FIELD_NUMBER: _ClassVar[int]
    sale_id: str
    reason: str
    supervisor_id: str
    supervisor_pin: str
    def __init__(self, sale_id: _Optional[str] = ..., reason: _Optional[str] = ..., supervisor_id: _Optional[str] = ..., supervisor_pin: _Optional[str] = ...) -> None: ...

class VoidResponse(_message.Message):
    __slots__ = ("sale_id", "tenders", "cash_back")
    SALE_ID_FIELD_NUMBER: _ClassVar[int]
    TENDERS_FIELD_NUMBER: _ClassVar[int]
    CASH_BACK_FIELD_NUMBER: _ClassVar[int]
    sale_id: str
    tenders: _containers.RepeatedCompositeFieldContainer[SaleTender]
    cash_back: Money
    def __init__(self, sale_id: _Optional[str] = ..., tenders: _Optional[_Iterable[_Union[SaleTender, _Mapping]]] = ..., cash_back: _Optional[_Union[Money, _Mapping]] = ...) -> None: ...

class SuspendRequest(_message.Message):
    __slots__ = ("sale_id",)
    SALE_ID_FIELD_NUMBER: _ClassVar[int]
    sale_id: str
    def __init__(self, sale_id: _Optional[str] = ...) -> None: ...

class ResumeRequest(_message.Message):
    __slots__ = ("sale_id", "store_id", "lane_id", "cashier_id")
    SALE_ID_FIELD_NUMBER: _ClassVar[int]
    STORE_ID_FIELD_NUMBER: _ClassVar[int]
    LANE_ID_FIELD_NUMBER: _ClassVar[int]
    CASHIER_ID_FIELD_NUMBER: _ClassVar[int]
    sale_id: str
    store_id: str
    lane_id: str
    cashier_id: str
    def __init__(self, sale_id: _Optional[str] = ..., store_id: _Optional[str] = ..., lane_id: _Optional[str] = ..., cashier_id: _Optional[str] = ...) -> None: ...

class ReturnLine(_message.Message):
    __slots__ = ("line_no", "sku", "quantity", "restock", "amount")
    LINE_NO_FIELD_NUMBER: _ClassVar[int]
    SKU_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    RESTOCK_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    line_no: int
    sku: str
    quantity: int
    restock: bool
    amount: Money
    def __init__(self, line_no: _Optional[int] = ..., sku: _Optional[str] = ..., quantity: _Optional[int] = ..., restock: _Optional[bool] = ..., amount: _Optional[_Union[Money, _Mapping]] = ...) -> None: ...

class ReturnRequest(_message.Message):
    __slots__ = ("return_id", "store_id", "lane_id", "cashier_id", "original", "lines", "no_receipt_permission", "supervisor_id", "supervisor_pin", "exchange_sale_id")
    RETURN_ID_FIELD_NUMBER: _ClassVar[int]
    STORE_ID_FIELD_NUMBER: _ClassVar[int]
    LANE_ID_FIELD_NUMBER: _ClassVar[int]
    CASHIER_ID_FIELD_NUMBER: _ClassVar[int]
    ORIGINAL_FIELD_NUMBER: _ClassVar[int]
    LINES_FIELD_NUMBER: _ClassVar[int]
    NO_RECEIPT_PERMISSION_FIELD_NUMBER: _ClassVar[int]
    SUPERVISOR_ID_FIELD_NUMBER: _ClassVar[int]
    SUPERVISOR_PIN_FIELD_NUMBER: _ClassVar[int]
    EXCHANGE_SALE_ID_FIELD_NUMBER: _ClassVar[int]
    return_id: str
    store_id: str
    lane_id: str
    cashier_id: str
    original: str
    lines: _containers.RepeatedCompositeFieldContainer[ReturnLine]
    no_receipt_permission: bool
    supervisor_id: str
    supervisor_pin: str
    exchange_sale_id: str
    def __init__(self, return_id: _Optional[str] = ..., store_id: _Optional[str] = ..., lane_id: _Optional[str] = ..., cashier_id: _Optional[str] = ..., original: _Optional[str] = ..., lines: _Optional[_Iterable[_Union[ReturnLine, _Mapping]]] = ..., no_receipt_permission: _Optional[bool] = ..., supervisor_id: _Optional[str] = ..., supervisor_pin: _Optional[str] = ..., exchange_sale_id: _Optional[str] = ...) -> None: ...

class ReturnResponse(_message.Message):
    __slots__ = ("return_id", "lines", "refunds", "total", "cash_back", "receipt_number", "original_sale_id")
    RETURN_ID_FIELD_NUMBER: _ClassVar[int]
    LINES_FIELD_NUMBER: _ClassVar[int]
    REFUNDS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    CASH_BACK_FIELD_NUMBER: _ClassVar[int]
    RECEIPT_NUMBER_FIELD_NUMBER: _ClassVar[int]
    ORIGINAL_SALE_ID_FIELD_NUMBER: _ClassVar[int]
    return_id: str
    lines: _containers.RepeatedCompositeFieldContainer[ReturnLine]
    refunds: _containers.RepeatedCompositeFieldContainer[SaleTender]
    total: Money
    cash_back: Money
    receipt_number: str
    original_sale_id: str
    def __init__(self, return_id: _Optional[str] = ..., lines: _Optional[_Iterable[_Union[ReturnLine, _Mapping]]] = ..., refunds: _Optional[_Iterable[_Union[SaleTender, _Mapping]]] = ..., total: _Optional[_Union[Money, _Mapping]] = ..., cash_back: _Optional[_Union[Money, _Mapping]] = ..., receipt_number: _Optional[str] = ..., original_sale_id: _Optional[str] = ...) -> None: ...

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
