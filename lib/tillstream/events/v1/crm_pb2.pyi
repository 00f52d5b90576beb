from tillstream.events.v1 import common_pb2 as _common_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CustomerRegistered(_message.Message):
    __slots__ = ("customer_id", "store_id", "loyalty_card")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    STORE_ID_FIELD_NUMBER: _ClassVar[int]
    LOYALTY_CARD_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    store_id: str
    loyalty_card: str
    def __init__(
        self,
        customer_id: _Optional[str] = ...,
        store_id: _Optional[str] = ...,
        loyalty_card: _Optional[str] = ...,
    ) -> None: ...

class LoyaltyPointsEarned(_message.Message):
    __slots__ = ("customer_id", "store_id", "sale_id", "points", "balance")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    STORE_ID_FIELD_NUMBER: _ClassVar[int]
    SALE_ID_FIELD_NUMBER: _ClassVar[int]
    POINTS_FIELD_NUMBER: _ClassVar[int]
    BALANCE_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    store_id: str
    sale_id: str
    points: int
    balance: int
    def __init__(
        self,
        customer_id: _Optional[str] = ...,
        store_id: _Optional[str] = ...,
        sale_id: _Optional[str] = ...,
        points: _Optional[int] = ...,
        balance: _Optional[int] = ...,
    ) -> None: ...

class LoyaltyPointsRedeemed(_message.Message):
    __slots__ = ("customer_id", "store_id", "reference", "points", "balance", "sale_id", "amount")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    STORE_ID_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    POINTS_FIELD_NUMBER: _ClassVar[int]
    BALANCE_FIELD_NUMBER: _ClassVar[int]
    SALE_ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    store_id: str
    reference: str
    points: int
    balance: int
    sale_id: str
    amount: _common_pb2.Money
    def __init__(
        self,
        customer_id: _Optional[str] = ...,
        store_id: _Optional[str] = ...,
        reference: _Optional[str] = ...,
        points: _Optional[int] = ...,
        balance: _Optional[int] = ...,
        sale_id: _Optional[str] = ...,
        amount: _Optional[_Union[_common_pb2.Money, _Mapping]] = ...,
    ) -> None: ...

class LoyaltyPointsExpired(_message.Message):
    __slots__ = ("customer_id", "store_id", "sale_id", "points", "balance", "expired_at_ms")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    STORE_ID_FIELD_NUMBER: _ClassVar[int]
    SALE_ID_FIELD_NUMBER: _ClassVar[int]
    POINTS_FIELD_NUMBER: _ClassVar[int]
    BALANCE_FIELD_NUMBER: _ClassVar[int]
    EXPIRED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    store_id: str
    sale_id: str
    points: int
    balance: int
    expired_at_ms: int
    def __init__(
        self,
        customer_id: _Optional[str] = ...,
        store_id: _Optional[str] = ...,
        sale_id: _Optional[str] = ...,
        points: _Optional[int] = ...,
        balance: _Optional[int] = ...,
        expired_at_ms: _Optional[int] = ...,
    ) -> None: ...

class LoyaltyTierChanged(_message.Message):
    __slots__ = ("customer_id", "store_id", "from_tier", "to_tier", "rolling_spend_minor")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    STORE_ID_FIELD_NUMBER: _ClassVar[int]
    FROM_TIER_FIELD_NUMBER: _ClassVar[int]
    TO_TIER_FIELD_NUMBER: _ClassVar[int]
    ROLLING_SPEND_MINOR_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    store_id: str
    from_tier: str
    to_tier: str
    rolling_spend_minor: int
    def __init__(
        self,
        customer_id: _Optional[str] = ...,
        store_id: _Optional[str] = ...,
        from_tier: _Optional[str] = ...,
        to_tier: _Optional[str] = ...,
        rolling_spend_minor: _Optional[int] = ...,
    ) -> None: ...

class CustomerErased(_message.Message):
    __slots__ = ("customer_id", "store_id", "erased_at_ms")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    STORE_ID_FIELD_NUMBER: _ClassVar[int]
    ERASED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    store_id: str
    erased_at_ms: int
    def __init__(
        self,
        customer_id: _Optional[str] = ...,
        store_id: _Optional[str] = ...,
        erased_at_ms: _Optional[int] = ...,
    ) -> None: ...
