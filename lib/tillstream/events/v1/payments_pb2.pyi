from tillstream.events.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Card(_message.Message):
    __slots__ = ("token", "masked_pan", "scheme")
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    MASKED_PAN_FIELD_NUMBER: _ClassVar[int]
    SCHEME_FIELD_NUMBER: _ClassVar[int]
    token: str
    masked_pan: str
    scheme: str
    def __init__(self, token: _Optional[str] = ..., masked_pan: _Optional[str] = ..., scheme: _Optional[str] = ...) -> None: ...

class PaymentCaptured(_message.Message):
    __slots__ = ("payment_id", "sale_id", "store_id", "amount", "tender", "card", "auth_code", "rrn")
    PAYMENT_ID_FIELD_NUMBER: _ClassVar[int]
    SALE_ID_FIELD_NUMBER: _ClassVar[int]
    STORE_ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    TENDER_FIELD_NUMBER: _ClassVar[int]
    CARD_FIELD_NUMBER: _ClassVar[int]
    AUTH_CODE_FIELD_NUMBER: _ClassVar[int]
    RRN_FIELD_NUMBER: _ClassVar[int]
    payment_id: str
    sale_id: str
    store_id: str
    amount: _common_pb2.Money
    tender: str
    card: Card
    auth_code: str
    rrn: str
    def __init__(self, payment_id: _Optional[str] = ..., sale_id: _Optional[str] = ..., store_id: _Optional[str] = ..., amount: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., tender: _Optional[str] = ..., card: _Optional[_Union[Card, _Mapping]] = ..., auth_code: _Optional[str] = ..., rrn: _Optional[str] = ...) -> None: ...

class PaymentDeclined(_message.Message):
    __slots__ = ("payment_id", "sale_id", "store_id", "amount", "tender", "card", "response_code", "reason")
    PAYMENT_ID_FIELD_NUMBER: _ClassVar[int]
    SALE_ID_FIELD_NUMBER: _ClassVar[int]
    STORE_ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    TENDER_FIELD_NUMBER: _ClassVar[int]
    CARD_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_CODE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    payment_id: str
    sale_id: str
    store_id: str
    amount: _common_pb2.Money
    tender: str
    card: Card
    response_code: str
    reason: str
    def __init__(self, payment_id: _Optional[str] = ..., sale_id: _Optional[str] = ..., store_id: _Optional[str] = ..., amount: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., tender: _Optional[str] = ..., card: _Optional[_Union[Card, _Mapping]] = ..., response_code: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class PaymentAuthorized(_message.Message):
    __slots__ = ("payment_id", "sale_id", "store_id", "amount", "tender", "card", "auth_code", "rrn")
    PAYMENT_ID_FIELD_NUMBER: _ClassVar[int]
    SALE_ID_FIELD_NUMBER: _ClassVar[int]
    STORE_ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    TENDER_FIELD_NUMBER: _ClassVar[int]
    CARD_FIELD_NUMBER: _ClassVar[int]
    AUTH_CODE_FIELD_NUMBER: _ClassVar[int]
    RRN_FIELD_NUMBER: _ClassVar[int]
    payment_id: str
    sale_id: str
    store_id: str
    amount: _common_pb2.Money
    tender: str
    card: Card
    auth_code: str
    rrn: str
    def __init__(self, payment_id: _Optional[str] = ..., sale_id: _Optional[str] = ..., store_id: _Optional[str] = ..., amount: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., tender: _Optional[str] = ..., card: _Optional[_Union[Card, _Mapping]] = ..., auth_code: _Optional[str] = ..., rrn: _Optional[str] = ...) -> None: ...

class PaymentAuthorizationIncreased(_message.Message):
    __slots__ = ("payment_id", "store_id", "operation_key", "increment", "authorized", "auth_code")
    PAYMENT_ID_FIELD_NUMBER: _ClassVar[int]
    STORE_ID_FIELD_NUMBER: _ClassVar[int]
    OPERATION_KEY_FIELD_NUMBER: _ClassVar[int]
    INCREMENT_FIELD_NUMBER: _ClassVar[int]
    AUTHORIZED_FIELD_NUMBER: _ClassVar[int]
    AUTH_CODE_FIELD_NUMBER: _ClassVar[int]
    payment_id: str
    store_id: str
    operation_key: str
    increment: _common_pb2.Money
    authorized: _common_pb2.Money
    auth_code: str
    def __init__(self, payment_id: _Optional[str] = ..., store_id: _Optional[str] = ..., operation_key: _Optional[str] = ..., increment: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., authorized: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., auth_code: _Optional[str] = ...) -> None: ...

class PaymentTipAdjusted(_message.Message):
    __slots__ = ("payment_id", "store_id", "operation_key", "tip")
    PAYMENT_ID_FIELD_NUMBER: _ClassVar[int]
    STORE_ID_FIELD_NUMBER: _ClassVar[int]
    OPERATION_KEY_FIELD_NUMBER: _ClassVar[int]
    TIP_FIELD_NUMBER: _ClassVar[int]
    payment_id: str
    store_id: str
    operation_key: str
    tip: _common_pb2.Money
    def __init__(self, payment_id: _Optional[str] = ..., store_id: _Optional[str] = ..., operation_key: _Optional[str] = ..., tip: _Optional[_Union[_common_pb2.Money, _Mapping]] = ...) -> None: ...

class PaymentVoided(_message.Message):
    __slots__ = ("payment_id", "store_id", "operation_key", "amount", "reason")
    PAYMENT_ID_FIELD_NUMBER: _ClassVar[int]
    STORE_ID_FIELD_NUMBER: _ClassVar[int]
    OPERATION_KEY_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    payment_id: str
    store_id: str
    operation_key: str
    amount: _common_pb2.Money
    reason: str
    def __init__(self, payment_id: _Optional[str] = ..., store_id: _Optional[str] = ..., operation_key: _Optional[str] = ..., amount: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., reason: _Optional[str] = ...) -> None: ...

class PaymentRefunded(_message.Message):
    __slots__ = ("payment_id", "sale_id", "store_id", "operation_key", "amount", "refunded_total", "referenced", "tender", "card")
    PAYMENT_ID_FIELD_NUMBER: _ClassVar[int]
    SALE_ID_FIELD_NUMBER: _ClassVar[int]
    STORE_ID_FIELD_NUMBER: _ClassVar[int]
    OPERATION_KEY_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    REFUNDED_TOTAL_FIELD_NUMBER: _ClassVar[int]
    REFERENCED_FIELD_NUMBER: _ClassVar[int]
    TENDER_FIELD_NUMBER: _ClassVar[int]
    CARD_FIELD_NUMBER: _ClassVar[int]
    payment_id: str
    sale_id: str
    store_id: str
    operation_key: str
    amount: _common_pb2.Money
    refunded_total: _common_pb2.Money
    referenced: bool
    tender: str
    card: Card
    def __init__(self, payment_id: _Optional[str] = ..., sale_id: _Optional[str] = ..., store_id: _Optional[str] = ..., operation_key: _Optional[str] = ..., amount: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., refunded_total: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., referenced: _Optional[bool] = ..., tender: _Optional[str] = ..., card: _Optional[_Union[Card, _Mapping]] = ...) -> None: ...

class PaymentReversed(_message.Message):
    __slots__ = ("payment_id", "sale_id", "store_id", "operation_key", "amount", "reason")
    PAYMENT_ID_FIELD_NUMBER: _ClassVar[int]
    SALE_ID_FIELD_NUMBER: _ClassVar[int]
    STORE_ID_FIELD_NUMBER: _ClassVar[int]
    OPERATION_KEY_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    payment_id: str
    sale_id: str
    store_id: str
    operation_key: str
    amount: _common_pb2.Money
    reason: str
    def __init__(self, payment_id: _Optional[str] = ..., sale_id: _Optional[str] = ..., store_id: _Optional[str] = ..., operation_key: _Optional[str] = ..., amount: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., reason: _Optional[str] = ...) -> None: ...

class PaymentFlagged(_message.Message):
    __slots__ = ("payment_id", "sale_id", "store_id", "rule", "action", "reason", "amount", "card")
    PAYMENT_ID_FIELD_NUMBER: _ClassVar[int]
    SALE_ID_FIELD_NUMBER: _ClassVar[int]
    STORE_ID_FIELD_NUMBER: _ClassVar[int]
    RULE_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    CARD_FIELD_NUMBER: _ClassVar[int]
    payment_id: str
    sale_id: str
    store_id: str
    rule: str
    action: str
    reason: str
    amount: _common_pb2.Money
    card: Card
    def __init__(self, payment_id: _Optional[str] = ..., sale_id: _Optional[str] = ..., store_id: _Optional[str] = ..., rule: _Optional[str] = ..., action: _Optional[str] = ..., reason: _Optional[str] = ..., amount: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., card: _Optional[_Union[Card, _Mapping]] = ...) -> None: ...

class GiftCardRef(_message.Message):
    __slots__ = ("gift_card_id", "token", "masked_number")
    GIFT_CARD_ID_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    MASKED_NUMBER_FIELD_NUMBER: _ClassVar[int]
    gift_card_id: str
    token: str
    masked_number: str
    def __init__(self, gift_card_id: _Optional[str] = ..., token: _Optional[str] = ..., masked_number: _Optional[str] = ...) -> None: ...

class GiftCardActivated(_message.Message):
    __slots__ = ("gift_card", "store_id", "operation_key", "amount")
    GIFT_CARD_FIELD_NUMBER: _ClassVar[int]
    STORE_ID_FIELD_NUMBER: _ClassVar[int]
    OPERATION_KEY_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    gift_card: GiftCardRef
    store_id: str
    operation_key: str
    amount: _common_pb2.Money
    def __init__(self, gift_card: _Optional[_Union[GiftCardRef, _Mapping]] = ..., store_id: _Optional[str] = ..., operation_key: _Optional[str] = ..., amount: _Optional[_Union[_common_pb2.Money, _Mapping]] = ...) -> None: ...

class GiftCardLoaded(_message.Message):
    __slots__ = ("gift_card", "store_id", "operation_key", "amount", "balance")
    GIFT_CARD_FIELD_NUMBER: _ClassVar[int]
    STORE_ID_FIELD_NUMBER: _ClassVar[int]
    OPERATION_KEY_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    BALANCE_FIELD_NUMBER: _ClassVar[int]
    gift_card: GiftCardRef
    store_id: str
    operation_key: str
    amount: _common_pb2.Money
    balance: _common_pb2.Money
    def __init__(self, gift_card: _Optional[_Union[GiftCardRef, _Mapping]] = ..., store_id: _Optional[str] = ..., operation_key: _Optional[str] = ..., amount: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., balance: _Optional[_Union[_common_pb2.Money, _Mapping]] = ...) -> None: ...

class GiftCardRedeemed(_message.Message):
    __slots__ = ("gift_card", "store_id", "operation_key", "sale_id", "amount", "balance")
    GIFT_CARD_FIELD_NUMBER: _ClassVar[int]
    STORE_ID_FIELD_NUMBER: _ClassVar[int]
    OPERATION_KEY_FIELD_NUMBER: _ClassVar[int]
    SALE_ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    BALANCE_FIELD_NUMBER: _ClassVar[int]
    gift_card: GiftCardRef
    store_id: str
    operation_key: str
    sale_id: str
    amount: _common_pb2.Money
    balance: _common_pb2.Money
    def __init__(self, gift_card: _Optional[_Union[GiftCardRef, _Mapping]] = ..., store_id: _Optional[str] = ..., operation_key: _Optional[str] = ..., sale_id: _Optional[str] = ..., amount: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., balance: _Optional[_Union[_common_pb2.Money, _Mapping]] = ...) -> None: ...

class GiftCardRefunded(_message.Message):
    __slots__ = ("gift_card", "store_id", "operation_key", "sale_id", "amount", "balance")
    GIFT_CARD_FIELD_NUMBER: _ClassVar[int]
    STORE_ID_FIELD_NUMBER: _ClassVar[int]
    OPERATION_KEY_FIELD_NUMBER: _ClassVar[int]
    SALE_ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    BALANCE_FIELD_NUMBER: _ClassVar[int]
    gift_card: GiftCardRef
    store_id: str
    operation_key: str
    sale_id: str
    amount: _common_pb2.Money
    balance: _common_pb2.Money
    def __init__(self, gift_card: _Optional[_Union[GiftCardRef, _Mapping]] = ..., store_id: _Optional[str] = ..., operation_key: _Optional[str] = ..., sale_id: _Optional[str] = ..., amount: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., balance: _Optional[_Union[_common_pb2.Money, _Mapping]] = ...) -> None: ...

class GiftCardBlocked(_message.Message):
    __slots__ = ("gift_card", "store_id", "operation_key", "reason")
    GIFT_CARD_FIELD_NUMBER: _ClassVar[int]
    STORE_ID_FIELD_NUMBER: _ClassVar[int]
    OPERATION_KEY_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    gift_card: GiftCardRef
    store_id: str
    operation_key: str
    reason: str
    def __init__(self, gift_card: _Optional[_Union[GiftCardRef, _Mapping]] = ..., store_id: _Optional[str] = ..., operation_key: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class RefundRefused(_message.Message):
    __slots__ = ("source_id", "payment_id", "store_id", "kind", "amount", "reason", "flagged")
    SOURCE_ID_FIELD_NUMBER: _ClassVar[int]
    PAYMENT_ID_FIELD_NUMBER: _ClassVar[int]
    STORE_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    FLAGGED_FIELD_NUMBER: _ClassVar[int]
    source_id: str
    payment_id: str
    store_id: str
    kind: str
    amount: _common_pb2.Money
    reason: str
    flagged: bool
    def __init__(self, source_id: _Optional[str] = ..., payment_id: _Optional[str] = ..., store_id: _Optional[str] = ..., kind: _Optional[str] = ..., amount: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., reason: _Optional[str] = ..., flagged: _Optional[bool] = ...) -> None: ...

class PaymentLateDeclined(_message.Message):
    __slots__ = ("payment_id", "sale_id", "store_id", "terminal_id", "amount", "card", "response_code", "reason")
    PAYMENT_ID_FIELD_NUMBER: _ClassVar[int]
    SALE_ID_FIELD_NUMBER: _ClassVar[int]
    STORE_ID_FIELD_NUMBER: _ClassVar[int]
    TERMINAL_ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    CARD_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_CODE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    payment_id: str
    sale_id: str
    store_id: str
    terminal_id: str
    amount: _common_pb2.Money
    card: Card
    response_code: str
    reason: str
    def __init__(self, payment_id: _Optional[str] = ..., sale_id: _Optional[str] = ..., store_id: _Optional[str] = ..., terminal_id: _Optional[str] = ..., amount: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., card: _Optional[_Union[Card, _Mapping]] = ..., response_code: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class BatchTotal(_message.Message):
    __slots__ = ("scheme", "type", "count", "amount")
    SCHEME_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    scheme: str
    type: str
    count: int
    amount: _common_pb2.Money
    def __init__(self, scheme: _Optional[str] = ..., type: _Optional[str] = ..., count: _Optional[int] = ..., amount: _Optional[_Union[_common_pb2.Money, _Mapping]] = ...) -> None: ...

class BatchClosed(_message.Message):
    __slots__ = ("batch_id", "store_id", "terminal_id", "business_day", "totals", "net", "closed_at_ms")
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    STORE_ID_FIELD_NUMBER: _ClassVar[int]
    TERMINAL_ID_FIELD_NUMBER: _ClassVar[int]
    BUSINESS_DAY_FIELD_NUMBER: _ClassVar[int]
    TOTALS_FIELD_NUMBER: _ClassVar[int]
    NET_FIELD_NUMBER: _ClassVar[int]
    CLOSED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    batch_id: str
    store_id: str
    terminal_id: str
    business_day: str
    totals: _containers.RepeatedCompositeFieldContainer[BatchTotal]
    net: _common_pb2.Money
    closed_at_ms: int
    def __init__(self, batch_id: _Optional[str] = ..., store_id: _Optional[str] = ..., terminal_id: _Optional[str] = ..., business_day: _Optional[str] = ..., totals: _Optional[_Iterable[_Union[BatchTotal, _Mapping]]] = ..., net: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., closed_at_ms: _Optional[int] = ...) -> None: ...

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
    ours: _common_pb2.Money
    acquirer: _common_pb2.Money
    action: str
    def __init__(self, kind: _Optional[str] = ..., payment_id: _Optional[str] = ..., rrn: _Optional[str] = ..., auth_code: _Optional[str] = ..., ours: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., acquirer: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., action: _Optional[str] = ...) -> None: ...

class ReconciliationCompleted(_message.Message):
    __slots__ = ("reconciliation_id", "business_day", "matched", "differences", "completed_at_ms")
    RECONCILIATION_ID_FIELD_NUMBER: _ClassVar[int]
    BUSINESS_DAY_FIELD_NUMBER: _ClassVar[int]
    MATCHED_FIELD_NUMBER: _ClassVar[int]
    DIFFERENCES_FIELD_NUMBER: _ClassVar[int]
    COMPLETED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    reconciliation_id: str
    business_day: str
    matched: int
    differences: _containers.RepeatedCompositeFieldContainer[ReconciliationDifference]
    completed_at_ms: int
    def __init__(self, reconciliation_id: _Optional[str] = ..., business_day: _Optional[str] = ..., matched: _Optional[int] = ..., differences: _Optional[_Iterable[_Union[ReconciliationDifference, _Mapping]]] = ..., completed_at_ms: _Optional[int] = ...) -> None: ...
