from typing import ClassVar as _ClassVar

from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message

DESCRIPTOR: _descriptor.FileDescriptor

class CustomerRegistered(_message.Message):
    __slots__ = ("customer_id", "loyalty_card", "store_id")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    STORE_ID_FIELD_NUMBER: _ClassVar[int]
    LOYALTY_CARD_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    store_id: str
    loyalty_card: str
    def __init__(self, customer_id: str | None = ..., store_id: str | None = ..., loyalty_card: str | None = ...) -> None: ...

class LoyaltyPointsEarned(_message.Message):
    __slots__ = ("balance", "customer_id", "points", "sale_id", "store_id")
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
    def __init__(self, customer_id: str | None = ..., store_id: str | None = ..., sale_id: str | None = ..., points: int | None = ..., balance: int | None = ...) -> None: ...
