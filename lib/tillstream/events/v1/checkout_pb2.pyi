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
    def __init__(
        self,
        sale_id: _Optional[str] = ...,
        store_id: _Optional[str] = ...,
        lane_id: _Optional[str] = ...,
        cashier_id: _Optional[str] = ...,
        currency: _Optional[str] = ...,
    ) -> None: ...

class SaleLineAdded(_message.Message):
    __slots__ = ("sale_id", "store_id", "line")
    SALE_ID_FIELD_NUMBER: _ClassVar[int]
    STORE_ID_FIELD_NUMBER: _ClassVar[int]
    LINE_FIELD_NUMBER: _ClassVar[int]
    sale_id: str
    store_id: str
    line: _common_pb2.SaleLine
    def __init__(
        self,
        sale_id: _Optional[str] = ...,
        store_id: _Optional[str] = ...,
        line: _Optional[_Union[_common_pb2.SaleLine, _Mapping]] = ...,
    ) -> None: ...

class SaleCustomerAttached(_message.Message):
    __slots__ = ("sale_id", "store_id", "customer_id")
    SALE_ID_FIELD_NUMBER: _ClassVar[int]
    STORE_ID_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    sale_id: str
    store_id: str
    customer_id: str
    def __init__(
        self,
        sale_id: _Optional[str] = ...,
        store_id: _Optional[str] = ...,
        customer_id: _Optional[str] = ...,
    ) -> None: ...

class SaleCompleted(_message.Message):
    __slots__ = (
        "sale_id",
        "store_id",
        "lane_id",
        "cashier_id",
        "lines",
        "total",
        "tenders",
        "customer_id",
        "completed_at_ms",
        "subtotal",
        "discount_total",
        "tax_total",
        "taxes",
        "discounts",
        "change",
        "receipt_number",
        "offline",
    )
    SALE_ID_FIELD_NUMBER: _ClassVar[int]
    STORE_ID_FIELD_NUMBER: _ClassVar[int]
    LANE_ID_FIELD_NUMBER: _ClassVar[int]
    CASHIER_ID_FIELD_NUMBER: _ClassVar[int]
    LINES_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    TENDERS_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    COMPLETED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    SUBTOTAL_FIELD_NUMBER: _ClassVar[int]
    DISCOUNT_TOTAL_FIELD_NUMBER: _ClassVar[int]
    TAX_TOTAL_FIELD_NUMBER: _ClassVar[int]
    TAXES_FIELD_NUMBER: _ClassVar[int]
    DISCOUNTS_FIELD_NUMBER: _ClassVar[int]
    CHANGE_FIELD_NUMBER: _ClassVar[int]
    RECEIPT_NUMBER_FIELD_NUMBER: _ClassVar[int]
    OFFLINE_FIELD_NUMBER: _ClassVar[int]
    sale_id: str
    store_id: str
    lane_id: str
    cashier_id: str
    lines: _containers.RepeatedCompositeFieldContainer[_common_pb2.SaleLine]
    total: _common_pb2.Money
    tenders: _containers.RepeatedCompositeFieldContainer[_common_pb2.SaleTender]
    customer_id: str
    completed_at_ms: int
    subtotal: _common_pb2.Money
    discount_total: _common_pb2.Money
    tax_total: _common_pb2.Money
    taxes: _containers.RepeatedCompositeFieldContainer[SaleTax]
    discounts: _containers.RepeatedCompositeFieldContainer[SaleDiscount]
    change: _common_pb2.Money
    receipt_number: str
    offline: bool
    def __init__(
        self,
        sale_id: _Optional[str] = ...,
        store_id: _Optional[str] = ...,
        lane_id: _Optional[str] = ...,
        cashier_id: _Optional[str] = ...,
        lines: _Optional[_Iterable[_Union[_common_pb2.SaleLine, _Mapping]]] = ...,
        total: _Optional[_Union[_common_pb2.Money, _Mapping]] = ...,
        tenders: _Optional[_Iterable[_Union[_common_pb2.SaleTender, _Mapping]]] = ...,
        customer_id: _Optional[str] = ...,
        completed_at_ms: _Optional[int] = ...,
        subtotal: _Optional[_Union[_common_pb2.Money, _Mapping]] = ...,
        discount_total: _Optional[_Union[_common_pb2.Money, _Mapping]] = ...,
        tax_total: _Optional[_Union[_common_pb2.Money, _Mapping]] = ...,
        taxes: _Optional[_Iterable[_Union[SaleTax, _Mapping]]] = ...,
        discounts: _Optional[_Iterable[_Union[SaleDiscount, _Mapping]]] = ...,
        change: _Optional[_Union[_common_pb2.Money, _Mapping]] = ...,
        receipt_number: _Optional[str] = ...,
        offline: _Optional[bool] = ...,
    ) -> None: ...

class SaleVoided(_message.Message):
    __slots__ = (
        "sale_id",
        "store_id",
        "lane_id",
        "cashier_id",
        "tenders",
        "reason",
        "approved_by",
        "voided_at_ms",
        "customer_id",
    )
    SALE_ID_FIELD_NUMBER: _ClassVar[int]
    STORE_ID_FIELD_NUMBER: _ClassVar[int]
    LANE_ID_FIELD_NUMBER: _ClassVar[int]
    CASHIER_ID_FIELD_NUMBER: _ClassVar[int]
    TENDERS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    APPROVED_BY_FIELD_NUMBER: _ClassVar[int]
    VOIDED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    sale_id: str
    store_id: str
    lane_id: str
    cashier_id: str
    tenders: _containers.RepeatedCompositeFieldContainer[_common_pb2.SaleTender]
    reason: str
    approved_by: str
    voided_at_ms: int
    customer_id: str
    def __init__(
        self,
        sale_id: _Optional[str] = ...,
        store_id: _Optional[str] = ...,
        lane_id: _Optional[str] = ...,
        cashier_id: _Optional[str] = ...,
        tenders: _Optional[_Iterable[_Union[_common_pb2.SaleTender, _Mapping]]] = ...,
        reason: _Optional[str] = ...,
        approved_by: _Optional[str] = ...,
        voided_at_ms: _Optional[int] = ...,
        customer_id: _Optional[str] = ...,
    ) -> None: ...

class ReturnLine(_message.Message):
    __slots__ = ("line_no", "sku", "quantity", "amount", "restock")
    LINE_NO_FIELD_NUMBER: _ClassVar[int]
    SKU_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    RESTOCK_FIELD_NUMBER: _ClassVar[int]
    line_no: int
    sku: str
    quantity: int
    amount: _common_pb2.Money
    restock: bool
    def __init__(
        self,
        line_no: _Optional[int] = ...,
        sku: _Optional[str] = ...,
        quantity: _Optional[int] = ...,
        amount: _Optional[_Union[_common_pb2.Money, _Mapping]] = ...,
        restock: _Optional[bool] = ...,
    ) -> None: ...

class ReturnCompleted(_message.Message):
    __slots__ = (
        "return_id",
        "store_id",
        "lane_id",
        "cashier_id",
        "original_sale_id",
        "lines",
        "refunds",
        "total",
        "customer_id",
        "completed_at_ms",
        "approved_by",
        "exchange_sale_id",
        "tax_total",
    )
    RETURN_ID_FIELD_NUMBER: _ClassVar[int]
    STORE_ID_FIELD_NUMBER: _ClassVar[int]
    LANE_ID_FIELD_NUMBER: _ClassVar[int]
    CASHIER_ID_FIELD_NUMBER: _ClassVar[int]
    ORIGINAL_SALE_ID_FIELD_NUMBER: _ClassVar[int]
    LINES_FIELD_NUMBER: _ClassVar[int]
    REFUNDS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    COMPLETED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    APPROVED_BY_FIELD_NUMBER: _ClassVar[int]
    EXCHANGE_SALE_ID_FIELD_NUMBER: _ClassVar[int]
    TAX_TOTAL_FIELD_NUMBER: _ClassVar[int]
    return_id: str
    store_id: str
    lane_id: str
    cashier_id: str
    original_sale_id: str
    lines: _containers.RepeatedCompositeFieldContainer[ReturnLine]
    refunds: _containers.RepeatedCompositeFieldContainer[_common_pb2.SaleTender]
    total: _common_pb2.Money
    customer_id: str
    completed_at_ms: int
    approved_by: str
    exchange_sale_id: str
    tax_total: _common_pb2.Money
    def __init__(
        self,
        return_id: _Optional[str] = ...,
        store_id: _Optional[str] = ...,
        lane_id: _Optional[str] = ...,
        cashier_id: _Optional[str] = ...,
        original_sale_id: _Optional[str] = ...,
        lines: _Optional[_Iterable[_Union[ReturnLine, _Mapping]]] = ...,
        refunds: _Optional[_Iterable[_Union[_common_pb2.SaleTender, _Mapping]]] = ...,
        total: _Optional[_Union[_common_pb2.Money, _Mapping]] = ...,
        customer_id: _Optional[str] = ...,
        completed_at_ms: _Optional[int] = ...,
        approved_by: _Optional[str] = ...,
        exchange_sale_id: _Optional[str] = ...,
        tax_total: _Optional[_Union[_common_pb2.Money, _Mapping]] = ...,
    ) -> None: ...

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
    def __init__(
        self,
        sale_id: _Optional[str] = ...,
        store_id: _Optional[str] = ...,
        payment_id: _Optional[str] = ...,
        amount: _Optional[_Union[_common_pb2.Money, _Mapping]] = ...,
        response_code: _Optional[str] = ...,
    ) -> None: ...

class ShiftOpened(_message.Message):
    __slots__ = ("shift_id", "store_id", "lane_id", "cashier_id", "opening_float", "opened_at_ms")
    SHIFT_ID_FIELD_NUMBER: _ClassVar[int]
    STORE_ID_FIELD_NUMBER: _ClassVar[int]
    LANE_ID_FIELD_NUMBER: _ClassVar[int]
    CASHIER_ID_FIELD_NUMBER: _ClassVar[int]
    OPENING_FLOAT_FIELD_NUMBER: _ClassVar[int]
    OPENED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    shift_id: str
    store_id: str
    lane_id: str
    cashier_id: str
    opening_float: _common_pb2.Money
    opened_at_ms: int
    def __init__(
        self,
        shift_id: _Optional[str] = ...,
        store_id: _Optional[str] = ...,
        lane_id: _Optional[str] = ...,
        cashier_id: _Optional[str] = ...,
        opening_float: _Optional[_Union[_common_pb2.Money, _Mapping]] = ...,
        opened_at_ms: _Optional[int] = ...,
    ) -> None: ...

class CashPaidIn(_message.Message):
    __slots__ = ("shift_id", "store_id", "amount", "reason")
    SHIFT_ID_FIELD_NUMBER: _ClassVar[int]
    STORE_ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    shift_id: str
    store_id: str
    amount: _common_pb2.Money
    reason: str
    def __init__(
        self,
        shift_id: _Optional[str] = ...,
        store_id: _Optional[str] = ...,
        amount: _Optional[_Union[_common_pb2.Money, _Mapping]] = ...,
        reason: _Optional[str] = ...,
    ) -> None: ...

class CashPaidOut(_message.Message):
    __slots__ = ("shift_id", "store_id", "amount", "reason")
    SHIFT_ID_FIELD_NUMBER: _ClassVar[int]
    STORE_ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    shift_id: str
    store_id: str
    amount: _common_pb2.Money
    reason: str
    def __init__(
        self,
        shift_id: _Optional[str] = ...,
        store_id: _Optional[str] = ...,
        amount: _Optional[_Union[_common_pb2.Money, _Mapping]] = ...,
        reason: _Optional[str] = ...,
    ) -> None: ...

class DrawerOpened(_message.Message):
    __slots__ = ("shift_id", "store_id", "lane_id", "cashier_id", "reason")
    SHIFT_ID_FIELD_NUMBER: _ClassVar[int]
    STORE_ID_FIELD_NUMBER: _ClassVar[int]
    LANE_ID_FIELD_NUMBER: _ClassVar[int]
    CASHIER_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    shift_id: str
    store_id: str
    lane_id: str
    cashier_id: str
    reason: str
    def __init__(
        self,
        shift_id: _Optional[str] = ...,
        store_id: _Optional[str] = ...,
        lane_id: _Optional[str] = ...,
        cashier_id: _Optional[str] = ...,
        reason: _Optional[str] = ...,
    ) -> None: ...

class DenominationCount(_message.Message):
    __slots__ = ("denomination_minor", "count")
    DENOMINATION_MINOR_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    denomination_minor: int
    count: int
    def __init__(
        self, denomination_minor: _Optional[int] = ..., count: _Optional[int] = ...
    ) -> None: ...

class ShiftClosed(_message.Message):
    __slots__ = (
        "shift_id",
        "store_id",
        "lane_id",
        "cashier_id",
        "opening_float",
        "cash_sales",
        "cash_refunds",
        "paid_in",
        "paid_out",
        "expected",
        "counted",
        "variance",
        "counted_by_denomination",
        "closed_at_ms",
    )
    SHIFT_ID_FIELD_NUMBER: _ClassVar[int]
    STORE_ID_FIELD_NUMBER: _ClassVar[int]
    LANE_ID_FIELD_NUMBER: _ClassVar[int]
    CASHIER_ID_FIELD_NUMBER: _ClassVar[int]
    OPENING_FLOAT_FIELD_NUMBER: _ClassVar[int]
    CASH_SALES_FIELD_NUMBER: _ClassVar[int]
    CASH_REFUNDS_FIELD_NUMBER: _ClassVar[int]
    PAID_IN_FIELD_NUMBER: _ClassVar[int]
    PAID_OUT_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_FIELD_NUMBER: _ClassVar[int]
    COUNTED_FIELD_NUMBER: _ClassVar[int]
    VARIANCE_FIELD_NUMBER: _ClassVar[int]
    COUNTED_BY_DENOMINATION_FIELD_NUMBER: _ClassVar[int]
    CLOSED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    shift_id: str
    store_id: str
    lane_id: str
    cashier_id: str
    opening_float: _common_pb2.Money
    cash_sales: _common_pb2.Money
    cash_refunds: _common_pb2.Money
    paid_in: _common_pb2.Money
    paid_out: _common_pb2.Money
    expected: _common_pb2.Money
    counted: _common_pb2.Money
    variance: _common_pb2.Money
    counted_by_denomination: _containers.RepeatedCompositeFieldContainer[DenominationCount]
    closed_at_ms: int
    def __init__(
        self,
        shift_id: _Optional[str] = ...,
        store_id: _Optional[str] = ...,
        lane_id: _Optional[str] = ...,
        cashier_id: _Optional[str] = ...,
        opening_float: _Optional[_Union[_common_pb2.Money, _Mapping]] = ...,
        cash_sales: _Optional[_Union[_common_pb2.Money, _Mapping]] = ...,
        cash_refunds: _Optional[_Union[_common_pb2.Money, _Mapping]] = ...,
        paid_in: _Optional[_Union[_common_pb2.Money, _Mapping]] = ...,
        paid_out: _Optional[_Union[_common_pb2.Money, _Mapping]] = ...,
        expected: _Optional[_Union[_common_pb2.Money, _Mapping]] = ...,
        counted: _Optional[_Union[_common_pb2.Money, _Mapping]] = ...,
        variance: _Optional[_Union[_common_pb2.Money, _Mapping]] = ...,
        counted_by_denomination: _Optional[_Iterable[_Union[DenominationCount, _Mapping]]] = ...,
        closed_at_ms: _Optional[int] = ...,
    ) -> None: ...

class SaleTax(_message.Message):
    __slots__ = ("tax_class", "name", "rate_bp", "included", "taxable", "amount")
    TAX_CLASS_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    RATE_BP_FIELD_NUMBER: _ClassVar[int]
    INCLUDED_FIELD_NUMBER: _ClassVar[int]
    TAXABLE_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    tax_class: str
    name: str
    rate_bp: int
    included: bool
    taxable: _common_pb2.Money
    amount: _common_pb2.Money
    def __init__(
        self,
        tax_class: _Optional[str] = ...,
        name: _Optional[str] = ...,
        rate_bp: _Optional[int] = ...,
        included: _Optional[bool] = ...,
        taxable: _Optional[_Union[_common_pb2.Money, _Mapping]] = ...,
        amount: _Optional[_Union[_common_pb2.Money, _Mapping]] = ...,
    ) -> None: ...

class SaleDiscount(_message.Message):
    __slots__ = ("label", "kind", "line_no", "promotion_id", "amount")
    LABEL_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    LINE_NO_FIELD_NUMBER: _ClassVar[int]
    PROMOTION_ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    label: str
    kind: str
    line_no: int
    promotion_id: str
    amount: _common_pb2.Money
    def __init__(
        self,
        label: _Optional[str] = ...,
        kind: _Optional[str] = ...,
        line_no: _Optional[int] = ...,
        promotion_id: _Optional[str] = ...,
        amount: _Optional[_Union[_common_pb2.Money, _Mapping]] = ...,
    ) -> None: ...
