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

class RegisterRequest(_message.Message):
    __slots__ = ("loyalty_card", "name", "store_id", "email", "phone", "customer_id")
    LOYALTY_CARD_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    STORE_ID_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    PHONE_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    loyalty_card: str
    name: str
    store_id: str
    email: str
    phone: str
    customer_id: str
    def __init__(self, loyalty_card: _Optional[str] = ..., name: _Optional[str] = ..., store_id: _Optional[str] = ..., email: _Optional[str] = ..., phone: _Optional[str] = ..., customer_id: _Optional[str] = ...) -> None: ...

class RegisterResponse(_message.Message):
    __slots__ = ("customer_id",)
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    def __init__(self, customer_id: _Optional[str] = ...) -> None: ...

class GetCustomerRequest(_message.Message):
    __slots__ = ("customer_id", "include_pii")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_PII_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    include_pii: bool
    def __init__(self, customer_id: _Optional[str] = ..., include_pii: _Optional[bool] = ...) -> None: ...

class Customer(_message.Message):
    __slots__ = ("customer_id", "loyalty_card", "store_id", "erased", "erased_at", "marketing_consent", "consent_channel", "consent_at", "pii_available", "name", "email", "phone")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    LOYALTY_CARD_FIELD_NUMBER: _ClassVar[int]
    STORE_ID_FIELD_NUMBER: _ClassVar[int]
    ERASED_FIELD_NUMBER: _ClassVar[int]
    ERASED_AT_FIELD_NUMBER: _ClassVar[int]
    MARKETING_CONSENT_FIELD_NUMBER: _ClassVar[int]
    CONSENT_CHANNEL_FIELD_NUMBER: _ClassVar[int]
    CONSENT_AT_FIELD_NUMBER: _ClassVar[int]
    PII_AVAILABLE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    PHONE_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    loyalty_card: str
    store_id: str
    erased: bool
    erased_at: str
    marketing_consent: bool
    consent_channel: str
    consent_at: str
    pii_available: bool
    name: str
    email: str
    phone: str
    def __init__(self, customer_id: _Optional[str] = ..., loyalty_card: _Optional[str] = ..., store_id: _Optional[str] = ..., erased: _Optional[bool] = ..., erased_at: _Optional[str] = ..., marketing_consent: _Optional[bool] = ..., consent_channel: _Optional[str] = ..., consent_at: _Optional[str] = ..., pii_available: _Optional[bool] = ..., name: _Optional[str] = ..., email: _Optional[str] = ..., phone: _Optional[str] = ...) -> None: ...

class FindCustomerRequest(_message.Message):
    __slots__ = ("email", "phone")
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    PHONE_FIELD_NUMBER: _ClassVar[int]
    email: str
    phone: str
    def __init__(self, email: _Optional[str] = ..., phone: _Optional[str] = ...) -> None: ...

class FindCustomerResponse(_message.Message):
    __slots__ = ("customer_ids",)
    CUSTOMER_IDS_FIELD_NUMBER: _ClassVar[int]
    customer_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, customer_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class UpdateContactRequest(_message.Message):
    __slots__ = ("customer_id", "name", "email", "phone")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    PHONE_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    name: str
    email: str
    phone: str
    def __init__(self, customer_id: _Optional[str] = ..., name: _Optional[str] = ..., email: _Optional[str] = ..., phone: _Optional[str] = ...) -> None: ...

class UpdateContactResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class SetConsentRequest(_message.Message):
    __slots__ = ("customer_id", "marketing", "channel", "at_ms")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    MARKETING_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    AT_MS_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    marketing: bool
    channel: str
    at_ms: int
    def __init__(self, customer_id: _Optional[str] = ..., marketing: _Optional[bool] = ..., channel: _Optional[str] = ..., at_ms: _Optional[int] = ...) -> None: ...

class SetConsentResponse(_message.Message):
    __slots__ = ("changed",)
    CHANGED_FIELD_NUMBER: _ClassVar[int]
    changed: bool
    def __init__(self, changed: _Optional[bool] = ...) -> None: ...

class EraseRequest(_message.Message):
    __slots__ = ("customer_id",)
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    def __init__(self, customer_id: _Optional[str] = ...) -> None: ...

class EraseResponse(_message.Message):
    __slots__ = ("changed",)
    CHANGED_FIELD_NUMBER: _ClassVar[int]
    changed: bool
    def __init__(self, changed: _Optional[bool] = ...) -> None: ...

class GetLoyaltyRequest(_message.Message):
    __slots__ = ("customer_id",)
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    def __init__(self, customer_id: _Optional[str] = ...) -> None: ...

class Loyalty(_message.Message):
    __slots__ = ("customer_id", "balance", "earned_total", "redeemed_total", "tier", "expiring_soon", "reversed_total", "expired_total")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    BALANCE_FIELD_NUMBER: _ClassVar[int]
    EARNED_TOTAL_FIELD_NUMBER: _ClassVar[int]
    REDEEMED_TOTAL_FIELD_NUMBER: _ClassVar[int]
    TIER_FIELD_NUMBER: _ClassVar[int]
    EXPIRING_SOON_FIELD_NUMBER: _ClassVar[int]
    REVERSED_TOTAL_FIELD_NUMBER: _ClassVar[int]
    EXPIRED_TOTAL_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    balance: int
    earned_total: int
    redeemed_total: int
    tier: str
    expiring_soon: int
    reversed_total: int
    expired_total: int
    def __init__(self, customer_id: _Optional[str] = ..., balance: _Optional[int] = ..., earned_total: _Optional[int] = ..., redeemed_total: _Optional[int] = ..., tier: _Optional[str] = ..., expiring_soon: _Optional[int] = ..., reversed_total: _Optional[int] = ..., expired_total: _Optional[int] = ...) -> None: ...

class ListHistoryRequest(_message.Message):
    __slots__ = ("customer_id", "page_size", "page_token")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    page_size: int
    page_token: str
    def __init__(self, customer_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class PurchaseLine(_message.Message):
    __slots__ = ("sku", "quantity")
    SKU_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    sku: str
    quantity: int
    def __init__(self, sku: _Optional[str] = ..., quantity: _Optional[int] = ...) -> None: ...

class Purchase(_message.Message):
    __slots__ = ("sale_id", "store_id", "total", "at", "lines")
    SALE_ID_FIELD_NUMBER: _ClassVar[int]
    STORE_ID_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    LINES_FIELD_NUMBER: _ClassVar[int]
    sale_id: str
    store_id: str
    total: Money
    at: str
    lines: _containers.RepeatedCompositeFieldContainer[PurchaseLine]
    def __init__(self, sale_id: _Optional[str] = ..., store_id: _Optional[str] = ..., total: _Optional[_Union[Money, _Mapping]] = ..., at: _Optional[str] = ..., lines: _Optional[_Iterable[_Union[PurchaseLine, _Mapping]]] = ...) -> None: ...

class History(_message.Message):
    __slots__ = ("customer_id", "sales", "next_page_token", "sale_count", "totals", "favourites", "last_visit")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    SALES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    SALE_COUNT_FIELD_NUMBER: _ClassVar[int]
    TOTALS_FIELD_NUMBER: _ClassVar[int]
    FAVOURITES_FIELD_NUMBER: _ClassVar[int]
    LAST_VISIT_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    sales: _containers.RepeatedCompositeFieldContainer[Purchase]
    next_page_token: str
    sale_count: int
    totals: _containers.RepeatedCompositeFieldContainer[Money]
    favourites: _containers.RepeatedCompositeFieldContainer[PurchaseLine]
    last_visit: str
    def __init__(self, customer_id: _Optional[str] = ..., sales: _Optional[_Iterable[_Union[Purchase, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., sale_count: _Optional[int] = ..., totals: _Optional[_Iterable[_Union[Money, _Mapping]]] = ..., favourites: _Optional[_Iterable[_Union[PurchaseLine, _Mapping]]] = ..., last_visit: _Optional[str] = ...) -> None: ...
