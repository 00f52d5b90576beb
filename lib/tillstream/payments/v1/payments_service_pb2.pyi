import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class PaymentStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PAYMENT_STATUS_UNSPECIFIED: _ClassVar[PaymentStatus]
    PAYMENT_STATUS_PENDING: _ClassVar[PaymentStatus]
    PAYMENT_STATUS_APPROVED: _ClassVar[PaymentStatus]
    PAYMENT_STATUS_DECLINED: _ClassVar[PaymentStatus]
    PAYMENT_STATUS_AUTHORIZED: _ClassVar[PaymentStatus]
    PAYMENT_STATUS_VOIDED: _ClassVar[PaymentStatus]
    PAYMENT_STATUS_REVERSED: _ClassVar[PaymentStatus]
    PAYMENT_STATUS_REFUNDED: _ClassVar[PaymentStatus]

class PaymentKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PAYMENT_KIND_UNSPECIFIED: _ClassVar[PaymentKind]
    PAYMENT_KIND_SALE: _ClassVar[PaymentKind]
    PAYMENT_KIND_PREAUTH: _ClassVar[PaymentKind]
    PAYMENT_KIND_REFUND: _ClassVar[PaymentKind]
PAYMENT_STATUS_UNSPECIFIED: PaymentStatus
PAYMENT_STATUS_PENDING: PaymentStatus
PAYMENT_STATUS_APPROVED: PaymentStatus
PAYMENT_STATUS_DECLINED: PaymentStatus
PAYMENT_STATUS_AUTHORIZED: PaymentStatus
PAYMENT_STATUS_VOIDED: PaymentStatus
PAYMENT_STATUS_REVERSED: PaymentStatus
PAYMENT_STATUS_REFUNDED: PaymentStatus
PAYMENT_KIND_UNSPECIFIED: PaymentKind
PAYMENT_KIND_SALE: PaymentKind
PAYMENT_KIND_PREAUTH: PaymentKind
PAYMENT_KIND_REFUND: PaymentKind

class Money(_message.Message):
    __slots__ = ("amount_minor", "currency")
    AMOUNT_MINOR_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    amount_minor: int
    currency: str
    def __init__(self, amount_minor: _Optional[int] = ..., currency: _Optional[str] = ...) -> None: ...

class AuthorizeRequest(_message.Message):
    __slots__ = ("idempotency_key", "sale_id", "store_id", "lane_id", "amount", "pan", "expiry")
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    SALE_ID_FIELD_NUMBER: _ClassVar[int]
    STORE_ID_FIELD_NUMBER: _ClassVar[int]
    LANE_ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    PAN_FIELD_NUMBER: _ClassVar[int]
    EXPIRY_FIELD_NUMBER: _ClassVar[int]
    idempotency_key: str
    sale_id: str
    store_id: str
    lane_id: str
    amount: Money
    pan: str
    expiry: str
    def __init__(self, idempotency_key: _Optional[str] = ..., sale_id: _Optional[str] = ..., store_id: _Optional[str] = ..., lane_id: _Optional[str] = ..., amount: _Optional[_Union[Money, _Mapping]] = ..., pan: _Optional[str] = ..., expiry: _Optional[str] = ...) -> None: ...

class Payment(_message.Message):
    __slots__ = ("payment_id", "status", "kind", "response_code", "auth_code", "masked_pan", "reason", "amount", "authorized", "captured", "tip", "refunded", "flags", "store_id", "sale_id", "tender", "created_at", "reversal_owed")
    PAYMENT_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_CODE_FIELD_NUMBER: _ClassVar[int]
    AUTH_CODE_FIELD_NUMBER: _ClassVar[int]
    MASKED_PAN_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    AUTHORIZED_FIELD_NUMBER: _ClassVar[int]
    CAPTURED_FIELD_NUMBER: _ClassVar[int]
    TIP_FIELD_NUMBER: _ClassVar[int]
    REFUNDED_FIELD_NUMBER: _ClassVar[int]
    FLAGS_FIELD_NUMBER: _ClassVar[int]
    STORE_ID_FIELD_NUMBER: _ClassVar[int]
    SALE_ID_FIELD_NUMBER: _ClassVar[int]
    TENDER_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    REVERSAL_OWED_FIELD_NUMBER: _ClassVar[int]
    payment_id: str
    status: PaymentStatus
    kind: PaymentKind
    response_code: str
    auth_code: str
    masked_pan: str
    reason: str
    amount: Money
    authorized: Money
    captured: Money
    tip: Money
    refunded: Money
    flags: _containers.RepeatedScalarFieldContainer[str]
    store_id: str
    sale_id: str
    tender: str
    created_at: _timestamp_pb2.Timestamp
    reversal_owed: bool
    def __init__(self, payment_id: _Optional[str] = ..., status: _Optional[_Union[PaymentStatus, str]] = ..., kind: _Optional[_Union[PaymentKind, str]] = ..., response_code: _Optional[str] = ..., auth_code: _Optional[str] = ..., masked_pan: _Optional[str] = ..., reason: _Optional[str] = ..., amount: _Optional[_Union[Money, _Mapping]] = ..., authorized: _Optional[_Union[Money, _Mapping]] = ..., captured: _Optional[_Union[Money, _Mapping]] = ..., tip: _Optional[_Union[Money, _Mapping]] = ..., refunded: _Optional[_Union[Money, _Mapping]] = ..., flags: _Optional[_Iterable[str]] = ..., store_id: _Optional[str] = ..., sale_id: _Optional[str] = ..., tender: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., reversal_owed: _Optional[bool] = ...) -> None: ...

class PaymentOperation(_message.Message):
    __slots__ = ("payment", "operation_key", "operation", "amount")
    PAYMENT_FIELD_NUMBER: _ClassVar[int]
    OPERATION_KEY_FIELD_NUMBER: _ClassVar[int]
    OPERATION_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    payment: Payment
    operation_key: str
    operation: str
    amount: Money
    def __init__(self, payment: _Optional[_Union[Payment, _Mapping]] = ..., operation_key: _Optional[str] = ..., operation: _Optional[str] = ..., amount: _Optional[_Union[Money, _Mapping]] = ...) -> None: ...

class IncrementAuthorizationRequest(_message.Message):
    __slots__ = ("payment_id", "operation_key", "increment")
    PAYMENT_ID_FIELD_NUMBER: _ClassVar[int]
    OPERATION_KEY_FIELD_NUMBER: _ClassVar[int]
    INCREMENT_FIELD_NUMBER: _ClassVar[int]
    payment_id: str
    operation_key: str
    increment: Money
    def __init__(self, payment_id: _Optional[str] = ..., operation_key: _Optional[str] = ..., increment: _Optional[_Union[Money, _Mapping]] = ...) -> None: ...

class CaptureRequest(_message.Message):
    __slots__ = ("payment_id", "operation_key", "amount")
    PAYMENT_ID_FIELD_NUMBER: _ClassVar[int]
    OPERATION_KEY_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    payment_id: str
    operation_key: str
    amount: Money
    def __init__(self, payment_id: _Optional[str] = ..., operation_key: _Optional[str] = ..., amount: _Optional[_Union[Money, _Mapping]] = ...) -> None: ...

class VoidRequest(_message.Message):
    __slots__ = ("payment_id", "operation_key", "reason")
    PAYMENT_ID_FIELD_NUMBER: _ClassVar[int]
    OPERATION_KEY_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    payment_id: str
    operation_key: str
    reason: str
    def __init__(self, payment_id: _Optional[str] = ..., operation_key: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class RefundRequest(_message.Message):
    __slots__ = ("payment_id", "operation_key", "amount", "unreferenced", "permitted", "idempotency_key", "sale_id", "store_id", "pan", "expiry", "lane_id")
    PAYMENT_ID_FIELD_NUMBER: _ClassVar[int]
    OPERATION_KEY_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    UNREFERENCED_FIELD_NUMBER: _ClassVar[int]
    PERMITTED_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    SALE_ID_FIELD_NUMBER: _ClassVar[int]
    STORE_ID_FIELD_NUMBER: _ClassVar[int]
    PAN_FIELD_NUMBER: _ClassVar[int]
    EXPIRY_FIELD_NUMBER: _ClassVar[int]
    LANE_ID_FIELD_NUMBER: _ClassVar[int]
    payment_id: str
    operation_key: str
    amount: Money
    unreferenced: bool
    permitted: bool
    idempotency_key: str
    sale_id: str
    store_id: str
    pan: str
    expiry: str
    lane_id: str
    def __init__(self, payment_id: _Optional[str] = ..., operation_key: _Optional[str] = ..., amount: _Optional[_Union[Money, _Mapping]] = ..., unreferenced: _Optional[bool] = ..., permitted: _Optional[bool] = ..., idempotency_key: _Optional[str] = ..., sale_id: _Optional[str] = ..., store_id: _Optional[str] = ..., pan: _Optional[str] = ..., expiry: _Optional[str] = ..., lane_id: _Optional[str] = ...) -> None: ...

class RefundResponse(_message.Message):
    __slots__ = ("referenced", "unreferenced")
    REFERENCED_FIELD_NUMBER: _ClassVar[int]
    UNREFERENCED_FIELD_NUMBER: _ClassVar[int]
    referenced: PaymentOperation
    unreferenced: Payment
    def __init__(self, referenced: _Optional[_Union[PaymentOperation, _Mapping]] = ..., unreferenced: _Optional[_Union[Payment, _Mapping]] = ...) -> None: ...

class AdjustTipRequest(_message.Message):
    __slots__ = ("payment_id", "operation_key", "tip")
    PAYMENT_ID_FIELD_NUMBER: _ClassVar[int]
    OPERATION_KEY_FIELD_NUMBER: _ClassVar[int]
    TIP_FIELD_NUMBER: _ClassVar[int]
    payment_id: str
    operation_key: str
    tip: Money
    def __init__(self, payment_id: _Optional[str] = ..., operation_key: _Optional[str] = ..., tip: _Optional[_Union[Money, _Mapping]] = ...) -> None: ...

class GetPaymentRequest(_message.Message):
    __slots__ = ("payment_id",)
    PAYMENT_ID_FIELD_NUMBER: _ClassVar[int]
    payment_id: str
    def __init__(self, payment_id: _Optional[str] = ...) -> None: ...

class ListPaymentsRequest(_message.Message):
    __slots__ = ("store_id", "status", "tender", "created_from", "created_to", "page_size", "page_token")
    STORE_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    TENDER_FIELD_NUMBER: _ClassVar[int]
    CREATED_FROM_FIELD_NUMBER: _ClassVar[int]
    CREATED_TO_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    store_id: str
    status: PaymentStatus
    tender: str
    created_from: _timestamp_pb2.Timestamp
    created_to: _timestamp_pb2.Timestamp
    page_size: int
    page_token: str
    def __init__(self, store_id: _Optional[str] = ..., status: _Optional[_Union[PaymentStatus, str]] = ..., tender: _Optional[str] = ..., created_from: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., created_to: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListPaymentsResponse(_message.Message):
    __slots__ = ("payments", "next_page_token")
    PAYMENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    payments: _containers.RepeatedCompositeFieldContainer[Payment]
    next_page_token: str
    def __init__(self, payments: _Optional[_Iterable[_Union[Payment, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GiftCard(_message.Message):
    __slots__ = ("gift_card_id", "masked_number", "status", "balance", "operation_key", "operation", "operation_amount")
    GIFT_CARD_ID_FIELD_NUMBER: _ClassVar[int]
    MASKED_NUMBER_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    BALANCE_FIELD_NUMBER: _ClassVar[int]
    OPERATION_KEY_FIELD_NUMBER: _ClassVar[int]
    OPERATION_FIELD_NUMBER: _ClassVar[int]
    OPERATION_AMOUNT_FIELD_NUMBER: _ClassVar[int]
    gift_card_id: str
    masked_number: str
    status: str
    balance: Money
    operation_key: str
    operation: str
    operation_amount: Money
    def __init__(self, gift_card_id: _Optional[str] = ..., masked_number: _Optional[str] = ..., status: _Optional[str] = ..., balance: _Optional[_Union[Money, _Mapping]] = ..., operation_key: _Optional[str] = ..., operation: _Optional[str] = ..., operation_amount: _Optional[_Union[Money, _Mapping]] = ...) -> None: ...

class ActivateGiftCardRequest(_message.Message):
    __slots__ = ("number", "store_id", "operation_key", "amount")
    NUMBER_FIELD_NUMBER: _ClassVar[int]
    STORE_ID_FIELD_NUMBER: _ClassVar[int]
    OPERATION_KEY_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    number: str
    store_id: str
    operation_key: str
    amount: Money
    def __init__(self, number: _Optional[str] = ..., store_id: _Optional[str] = ..., operation_key: _Optional[str] = ..., amount: _Optional[_Union[Money, _Mapping]] = ...) -> None: ...

class LoadGiftCardRequest(_message.Message):
    __slots__ = ("number", "store_id", "operation_key", "amount")
    NUMBER_FIELD_NUMBER: _ClassVar[int]
    STORE_ID_FIELD_NUMBER: _ClassVar[int]
    OPERATION_KEY_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    number: str
    store_id: str
    operation_key: str
    amount: Money
    def __init__(self, number: _Optional[str] = ..., store_id: _Optional[str] = ..., operation_key: _Optional[str] = ..., amount: _Optional[_Union[Money, _Mapping]] = ...) -> None: ...

class RedeemGiftCardRequest(_message.Message):
    __slots__ = ("number", "store_id", "operation_key", "sale_id", "amount")
    NUMBER_FIELD_NUMBER: _ClassVar[int]
    STORE_ID_FIELD_NUMBER: _ClassVar[int]
    OPERATION_KEY_FIELD_NUMBER: _ClassVar[int]
    SALE_ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    number: str
    store_id: str
    operation_key: str
    sale_id: str
    amount: Money
    def __init__(self, number: _Optional[str] = ..., store_id: _Optional[str] = ..., operation_key: _Optional[str] = ..., sale_id: _Optional[str] = ..., amount: _Optional[_Union[Money, _Mapping]] = ...) -> None: ...

class RefundGiftCardRequest(_message.Message):
    __slots__ = ("number", "store_id", "operation_key", "sale_id", "amount")
    NUMBER_FIELD_NUMBER: _ClassVar[int]
    STORE_ID_FIELD_NUMBER: _ClassVar[int]
    OPERATION_KEY_FIELD_NUMBER: _ClassVar[int]
    SALE_ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    number: str
    store_id: str
    operation_key: str
    sale_id: str
    amount: Money
    def __init__(self, number: _Optional[str] = ..., store_id: _Optional[str] = ..., operation_key: _Optional[str] = ..., sale_id: _Optional[str] = ..., amount: _Optional[_Union[Money, _Mapping]] = ...) -> None: ...

class BlockGiftCardRequest(_message.Message):
    __slots__ = ("number", "store_id", "operation_key", "reason")
    NUMBER_FIELD_NUMBER: _ClassVar[int]
    STORE_ID_FIELD_NUMBER: _ClassVar[int]
    OPERATION_KEY_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    number: str
    store_id: str
    operation_key: str
    reason: str
    def __init__(self, number: _Optional[str] = ..., store_id: _Optional[str] = ..., operation_key: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class GetGiftCardBalanceRequest(_message.Message):
    __slots__ = ("number",)
    NUMBER_FIELD_NUMBER: _ClassVar[int]
    number: str
    def __init__(self, number: _Optional[str] = ...) -> None: ...

class CloseBatchRequest(_message.Message):
    __slots__ = ("store_id", "terminal_id", "business_day")
    STORE_ID_FIELD_NUMBER: _ClassVar[int]
    TERMINAL_ID_FIELD_NUMBER: _ClassVar[int]
    BUSINESS_DAY_FIELD_NUMBER: _ClassVar[int]
    store_id: str
    terminal_id: str
    business_day: str
    def __init__(self, store_id: _Optional[str] = ..., terminal_id: _Optional[str] = ..., business_day: _Optional[str] = ...) -> None: ...

class BatchTotal(_message.Message):
    __slots__ = ("scheme", "type", "count", "total")
    SCHEME_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    scheme: str
    type: str
    count: int
    total: Money
    def __init__(self, scheme: _Optional[str] = ..., type: _Optional[str] = ..., count: _Optional[int] = ..., total: _Optional[_Union[Money, _Mapping]] = ...) -> None: ...

class Batch(_message.Message):
    __slots__ = ("batch_id", "store_id", "terminal_id", "business_day", "totals", "net", "closed_at")
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    STORE_ID_FIELD_NUMBER: _ClassVar[int]
    TERMINAL_ID_FIELD_NUMBER: _ClassVar[int]
    BUSINESS_DAY_FIELD_NUMBER: _ClassVar[int]
    TOTALS_FIELD_NUMBER: _ClassVar[int]
    NET_FIELD_NUMBER: _ClassVar[int]
    CLOSED_AT_FIELD_NUMBER: _ClassVar[int]
    batch_id: str
    store_id: str
    terminal_id: str
    business_day: str
    totals: _containers.RepeatedCompositeFieldContainer[BatchTotal]
    net: Money
    closed_at: _timestamp_pb2.Timestamp
    def __init__(self, batch_id: _Optional[str] = ..., store_id: _Optional[str] = ..., terminal_id: _Optional[str] = ..., business_day: _Optional[str] = ..., totals: _Optional[_Iterable[_Union[BatchTotal, _Mapping]]] = ..., net: _Optional[_Union[Money, _Mapping]] = ..., closed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GetReconciliationRequest(_message.Message):
    __slots__ = ("reconciliation_id", "business_day")
    RECONCILIATION_ID_FIELD_NUMBER: _ClassVar[int]
    BUSINESS_DAY_FIELD_NUMBER: _ClassVar[int]
    reconciliation_id: str
    business_day: str
    def __init__(self, reconciliation_id: _Optional[str] = ..., business_day: _Optional[str] = ...) -> None: ...

class ReconciliationDifference(_message.Message):
    __slots__ = ("kind", "payment_id", "rrn", "auth_code", "ours", "acquirer", "action")
    KIND_FIELD_NUMBER: _ClassVar[int]
    PAYMENT_ID_FIELD_NUMBER: _ClassVar[int]
    RRN_FIELD_NUMBER: _ClassVar[int]
    AUTH_CODE_FIELD_NUMBER: _ClassVar[int]
    OURS_FIELD_NUMBER: _ClassVar[int]
    ACQUIRER_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    kind: str
    payment_id: str
    rrn: str
    auth_code: str
    ours: Money
    acquirer: Money
    action: str
    def __init__(self, kind: _Optional[str] = ..., payment_id: _Optional[str] = ..., rrn: _Optional[str] = ..., auth_code: _Optional[str] = ..., ours: _Optional[_Union[Money, _Mapping]] = ..., acquirer: _Optional[_Union[Money, _Mapping]] = ..., action: _Optional[str] = ...) -> None: ...

class Reconciliation(_message.Message):
    __slots__ = ("reconciliation_id", "business_day", "matched_count", "differences", "completed_at")
    RECONCILIATION_ID_FIELD_NUMBER: _ClassVar[int]
    BUSINESS_DAY_FIELD_NUMBER: _ClassVar[int]
    MATCHED_COUNT_FIELD_NUMBER: _ClassVar[int]
    DIFFERENCES_FIELD_NUMBER: _ClassVar[int]
    COMPLETED_AT_FIELD_NUMBER: _ClassVar[int]
    reconciliation_id: str
    business_day: str
    matched_count: int
    differences: _containers.RepeatedCompositeFieldContainer[ReconciliationDifference]
    completed_at: _timestamp_pb2.Timestamp
    def __init__(self, reconciliation_id: _Optional[str] = ..., business_day: _Optional[str] = ..., matched_count: _Optional[int] = ..., differences: _Optional[_Iterable[_Union[ReconciliationDifference, _Mapping]]] = ..., completed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
