from tillstream.events.v1 import checkout_pb2 as _checkout_pb2
from tillstream.events.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class StoreWentOffline(_message.Message):
    __slots__ = ("store_id", "at_ms", "reason")
    STORE_ID_FIELD_NUMBER: _ClassVar[int]
    AT_MS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    store_id: str
    at_ms: int
    reason: str
    def __init__(
        self,
        store_id: _Optional[str] = ...,
        at_ms: _Optional[int] = ...,
        reason: _Optional[str] = ...,
    ) -> None: ...

class StoreCameOnline(_message.Message):
    __slots__ = ("store_id", "at_ms", "offline_sales", "offline_duration_ms")
    STORE_ID_FIELD_NUMBER: _ClassVar[int]
    AT_MS_FIELD_NUMBER: _ClassVar[int]
    OFFLINE_SALES_FIELD_NUMBER: _ClassVar[int]
    OFFLINE_DURATION_MS_FIELD_NUMBER: _ClassVar[int]
    store_id: str
    at_ms: int
    offline_sales: int
    offline_duration_ms: int
    def __init__(
        self,
        store_id: _Optional[str] = ...,
        at_ms: _Optional[int] = ...,
        offline_sales: _Optional[int] = ...,
        offline_duration_ms: _Optional[int] = ...,
    ) -> None: ...

class TerminalApproval(_message.Message):
    __slots__ = (
        "payment_id",
        "sale_id",
        "store_id",
        "lane_id",
        "amount",
        "token",
        "masked_pan",
        "scheme",
        "auth_code",
        "offline",
        "approved_at_ms",
        "terminal_id",
    )
    PAYMENT_ID_FIELD_NUMBER: _ClassVar[int]
    SALE_ID_FIELD_NUMBER: _ClassVar[int]
    STORE_ID_FIELD_NUMBER: _ClassVar[int]
    LANE_ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    MASKED_PAN_FIELD_NUMBER: _ClassVar[int]
    SCHEME_FIELD_NUMBER: _ClassVar[int]
    AUTH_CODE_FIELD_NUMBER: _ClassVar[int]
    OFFLINE_FIELD_NUMBER: _ClassVar[int]
    APPROVED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    TERMINAL_ID_FIELD_NUMBER: _ClassVar[int]
    payment_id: str
    sale_id: str
    store_id: str
    lane_id: str
    amount: _common_pb2.Money
    token: str
    masked_pan: str
    scheme: str
    auth_code: str
    offline: bool
    approved_at_ms: int
    terminal_id: str
    def __init__(
        self,
        payment_id: _Optional[str] = ...,
        sale_id: _Optional[str] = ...,
        store_id: _Optional[str] = ...,
        lane_id: _Optional[str] = ...,
        amount: _Optional[_Union[_common_pb2.Money, _Mapping]] = ...,
        token: _Optional[str] = ...,
        masked_pan: _Optional[str] = ...,
        scheme: _Optional[str] = ...,
        auth_code: _Optional[str] = ...,
        offline: _Optional[bool] = ...,
        approved_at_ms: _Optional[int] = ...,
        terminal_id: _Optional[str] = ...,
    ) -> None: ...

class OfflineSaleCompleted(_message.Message):
    __slots__ = (
        "sale_id",
        "store_id",
        "lane_id",
        "cashier_id",
        "currency",
        "lines",
        "tenders",
        "subtotal",
        "discount_total",
        "tax_total",
        "total",
        "change",
        "taxes",
        "receipt_number",
        "completed_at_ms",
        "customer_id",
    )
    SALE_ID_FIELD_NUMBER: _ClassVar[int]
    STORE_ID_FIELD_NUMBER: _ClassVar[int]
    LANE_ID_FIELD_NUMBER: _ClassVar[int]
    CASHIER_ID_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    LINES_FIELD_NUMBER: _ClassVar[int]
    TENDERS_FIELD_NUMBER: _ClassVar[int]
    SUBTOTAL_FIELD_NUMBER: _ClassVar[int]
    DISCOUNT_TOTAL_FIELD_NUMBER: _ClassVar[int]
    TAX_TOTAL_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    CHANGE_FIELD_NUMBER: _ClassVar[int]
    TAXES_FIELD_NUMBER: _ClassVar[int]
    RECEIPT_NUMBER_FIELD_NUMBER: _ClassVar[int]
    COMPLETED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    sale_id: str
    store_id: str
    lane_id: str
    cashier_id: str
    currency: str
    lines: _containers.RepeatedCompositeFieldContainer[_common_pb2.SaleLine]
    tenders: _containers.RepeatedCompositeFieldContainer[_common_pb2.SaleTender]
    subtotal: _common_pb2.Money
    discount_total: _common_pb2.Money
    tax_total: _common_pb2.Money
    total: _common_pb2.Money
    change: _common_pb2.Money
    taxes: _containers.RepeatedCompositeFieldContainer[_checkout_pb2.SaleTax]
    receipt_number: str
    completed_at_ms: int
    customer_id: str
    def __init__(
        self,
        sale_id: _Optional[str] = ...,
        store_id: _Optional[str] = ...,
        lane_id: _Optional[str] = ...,
        cashier_id: _Optional[str] = ...,
        currency: _Optional[str] = ...,
        lines: _Optional[_Iterable[_Union[_common_pb2.SaleLine, _Mapping]]] = ...,
        tenders: _Optional[_Iterable[_Union[_common_pb2.SaleTender, _Mapping]]] = ...,
        subtotal: _Optional[_Union[_common_pb2.Money, _Mapping]] = ...,
        discount_total: _Optional[_Union[_common_pb2.Money, _Mapping]] = ...,
        tax_total: _Optional[_Union[_common_pb2.Money, _Mapping]] = ...,
        total: _Optional[_Union[_common_pb2.Money, _Mapping]] = ...,
        change: _Optional[_Union[_common_pb2.Money, _Mapping]] = ...,
        taxes: _Optional[_Iterable[_Union[_checkout_pb2.SaleTax, _Mapping]]] = ...,
        receipt_number: _Optional[str] = ...,
        completed_at_ms: _Optional[int] = ...,
        customer_id: _Optional[str] = ...,
    ) -> None: ...

class DeviceStatus(_message.Message):
    __slots__ = ("store_id", "device_id", "kind", "status", "detail", "at_ms")
    STORE_ID_FIELD_NUMBER: _ClassVar[int]
    DEVICE_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    AT_MS_FIELD_NUMBER: _ClassVar[int]
    store_id: str
    device_id: str
    kind: str
    status: str
    detail: str
    at_ms: int
    def __init__(
        self,
        store_id: _Optional[str] = ...,
        device_id: _Optional[str] = ...,
        kind: _Optional[str] = ...,
        status: _Optional[str] = ...,
        detail: _Optional[str] = ...,
        at_ms: _Optional[int] = ...,
    ) -> None: ...

class TerminalEvent(_message.Message):
    __slots__ = ("store_id", "device_id", "sale_id", "event", "detail", "at_ms")
    STORE_ID_FIELD_NUMBER: _ClassVar[int]
    DEVICE_ID_FIELD_NUMBER: _ClassVar[int]
    SALE_ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    AT_MS_FIELD_NUMBER: _ClassVar[int]
    store_id: str
    device_id: str
    sale_id: str
    event: str
    detail: str
    at_ms: int
    def __init__(
        self,
        store_id: _Optional[str] = ...,
        device_id: _Optional[str] = ...,
        sale_id: _Optional[str] = ...,
        event: _Optional[str] = ...,
        detail: _Optional[str] = ...,
        at_ms: _Optional[int] = ...,
    ) -> None: ...

class ReceiptPrinted(_message.Message):
    __slots__ = ("store_id", "device_id", "job_id", "receipt_number", "copy", "at_ms")
    STORE_ID_FIELD_NUMBER: _ClassVar[int]
    DEVICE_ID_FIELD_NUMBER: _ClassVar[int]
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    RECEIPT_NUMBER_FIELD_NUMBER: _ClassVar[int]
    COPY_FIELD_NUMBER: _ClassVar[int]
    AT_MS_FIELD_NUMBER: _ClassVar[int]
    store_id: str
    device_id: str
    job_id: str
    receipt_number: str
    copy: bool
    at_ms: int
    def __init__(
        self,
        store_id: _Optional[str] = ...,
        device_id: _Optional[str] = ...,
        job_id: _Optional[str] = ...,
        receipt_number: _Optional[str] = ...,
        copy: _Optional[bool] = ...,
        at_ms: _Optional[int] = ...,
    ) -> None: ...
