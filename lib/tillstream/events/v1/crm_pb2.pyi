from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class CustomerRegistered(_message.Message):
    __slots__ = ("customer_id", "store_id", "loyalty_card")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    STORE_ID_FIELD_NUMBER: _ClassVar[int]
    LOYALTY_CARD_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    store_id: str
    loyalty_card: str
    def __init__(self, customer_id: _Optional[str] = ..., store_id: _Optional[str] = ..., loyalty_card: _Optional[str] = ...) -> None: ...

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
    def __init__(self, customer_id: _Optional[str] = ..., store_id: _Optional[str] = ..., sale_id: _Optional[str] = ..., points: _Optional[int] = ..., balance: _Optional[int] = ...) -> None: ...
