from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Grouping(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    GROUPING_UNSPECIFIED: _ClassVar[Grouping]
    GROUPING_HOUR: _ClassVar[Grouping]
    GROUPING_DAY: _ClassVar[Grouping]
    GROUPING_WEEK: _ClassVar[Grouping]
GROUPING_UNSPECIFIED: Grouping
GROUPING_HOUR: Grouping
GROUPING_DAY: Grouping
GROUPING_WEEK: Grouping

class Money(_message.Message):
    __slots__ = ("amount_minor", "currency")
    AMOUNT_MINOR_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    amount_minor: int
    currency: str
    def __init__(self, amount_minor: _Optional[int] = ..., currency: _Optional[str] = ...) -> None: ...

class DateRange(_message.Message):
    __slots__ = ("start", "end")
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    start: str
    end: str
    def __init__(self, start: _Optional[str] = ..., end: _Optional[str] = ...) -> None: ...

class SalesSummaryRequest(_message.Message):
    __slots__ = ("range", "store_ids", "grouping")
    RANGE_FIELD_NUMBER: _ClassVar[int]
    STORE_IDS_FIELD_NUMBER: _ClassVar[int]
    GROUPING_FIELD_NUMBER: _ClassVar[int]
    range: DateRange
    store_ids: _containers.RepeatedScalarFieldContainer[str]
    grouping: Grouping
    def __init__(self, range: _Optional[_Union[DateRange, _Mapping]] = ..., store_ids: _Optional[_Iterable[str]] = ..., grouping: _Optional[_Union[Grouping, str]] = ...) -> None: ...

class SalesBucket(_message.Message):
    __slots__ = ("period_start", "store_id", "total", "sales_count", "items_sold")
    PERIOD_START_FIELD_NUMBER: _ClassVar[int]
    STORE_ID_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    SALES_COUNT_FIELD_NUMBER: _ClassVar[int]
    ITEMS_SOLD_FIELD_NUMBER: _ClassVar[int]
    period_start: str
    store_id: str
    total: Money
    sales_count: int
    items_sold: int
    def __init__(self, period_start: _Optional[str] = ..., store_id: _Optional[str] = ..., total: _Optional[_Union[Money, _Mapping]] = ..., sales_count: _Optional[int] = ..., items_sold: _Optional[int] = ...) -> None: ...

class SalesSummaryResponse(_message.Message):
    __slots__ = ("buckets",)
    BUCKETS_FIELD_NUMBER: _ClassVar[int]
    buckets: _containers.RepeatedCompositeFieldContainer[SalesBucket]
    def __init__(self, buckets: _Optional[_Iterable[_Union[SalesBucket, _Mapping]]] = ...) -> None: ...

class TopProductsRequest(_message.Message):
    __slots__ = ("range", "store_id", "limit", "slow")
    RANGE_FIELD_NUMBER: _ClassVar[int]
    STORE_ID_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    SLOW_FIELD_NUMBER: _ClassVar[int]
    range: DateRange
    store_id: str
    limit: int
    slow: bool
    def __init__(self, range: _Optional[_Union[DateRange, _Mapping]] = ..., store_id: _Optional[str] = ..., limit: _Optional[int] = ..., slow: _Optional[bool] = ...) -> None: ...

class ProductSales(_message.Message):
    __slots__ = ("sku", "quantity", "revenue", "lines")
    SKU_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    REVENUE_FIELD_NUMBER: _ClassVar[int]
    LINES_FIELD_NUMBER: _ClassVar[int]
    sku: str
    quantity: int
    revenue: Money
    lines: int
    def __init__(self, sku: _Optional[str] = ..., quantity: _Optional[int] = ..., revenue: _Optional[_Union[Money, _Mapping]] = ..., lines: _Optional[int] = ...) -> None: ...

class TopProductsResponse(_message.Message):
    __slots__ = ("products",)
    PRODUCTS_FIELD_NUMBER: _ClassVar[int]
    products: _containers.RepeatedCompositeFieldContainer[ProductSales]
    def __init__(self, products: _Optional[_Iterable[_Union[ProductSales, _Mapping]]] = ...) -> None: ...

class PaymentMixRequest(_message.Message):
    __slots__ = ("range", "store_id")
    RANGE_FIELD_NUMBER: _ClassVar[int]
    STORE_ID_FIELD_NUMBER: _ClassVar[int]
    range: DateRange
    store_id: str
    def __init__(self, range: _Optional[_Union[DateRange, _Mapping]] = ..., store_id: _Optional[str] = ...) -> None: ...

class PaymentShare(_message.Message):
    __slots__ = ("tender", "scheme", "total", "count", "share_bp")
    TENDER_FIELD_NUMBER: _ClassVar[int]
    SCHEME_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    SHARE_BP_FIELD_NUMBER: _ClassVar[int]
    tender: str
    scheme: str
    total: Money
    count: int
    share_bp: int
    def __init__(self, tender: _Optional[str] = ..., scheme: _Optional[str] = ..., total: _Optional[_Union[Money, _Mapping]] = ..., count: _Optional[int] = ..., share_bp: _Optional[int] = ...) -> None: ...

class PaymentMixResponse(_message.Message):
    __slots__ = ("shares",)
    SHARES_FIELD_NUMBER: _ClassVar[int]
    shares: _containers.RepeatedCompositeFieldContainer[PaymentShare]
    def __init__(self, shares: _Optional[_Iterable[_Union[PaymentShare, _Mapping]]] = ...) -> None: ...

class TrendRequest(_message.Message):
    __slots__ = ("store_id", "day", "moving_days", "weeks")
    STORE_ID_FIELD_NUMBER: _ClassVar[int]
    DAY_FIELD_NUMBER: _ClassVar[int]
    MOVING_DAYS_FIELD_NUMBER: _ClassVar[int]
    WEEKS_FIELD_NUMBER: _ClassVar[int]
    store_id: str
    day: str
    moving_days: int
    weeks: int
    def __init__(self, store_id: _Optional[str] = ..., day: _Optional[str] = ..., moving_days: _Optional[int] = ..., weeks: _Optional[int] = ...) -> None: ...

class DailyValue(_message.Message):
    __slots__ = ("day", "amount_minor")
    DAY_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_MINOR_FIELD_NUMBER: _ClassVar[int]
    day: str
    amount_minor: int
    def __init__(self, day: _Optional[str] = ..., amount_minor: _Optional[int] = ...) -> None: ...

class Trend(_message.Message):
    __slots__ = ("store_id", "currency", "day", "day_total_minor", "same_weekday_last_week_minor", "has_day_change", "day_change_bp", "week_start", "week_total_minor", "previous_week_total_minor", "has_week_change", "week_change_bp", "moving_average", "forecast_day", "forecast_minor", "forecast_method")
    STORE_ID_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    DAY_FIELD_NUMBER: _ClassVar[int]
    DAY_TOTAL_MINOR_FIELD_NUMBER: _ClassVar[int]
    SAME_WEEKDAY_LAST_WEEK_MINOR_FIELD_NUMBER: _ClassVar[int]
    HAS_DAY_CHANGE_FIELD_NUMBER: _ClassVar[int]
    DAY_CHANGE_BP_FIELD_NUMBER: _ClassVar[int]
    WEEK_START_FIELD_NUMBER: _ClassVar[int]
    WEEK_TOTAL_MINOR_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_WEEK_TOTAL_MINOR_FIELD_NUMBER: _ClassVar[int]
    HAS_WEEK_CHANGE_FIELD_NUMBER: _ClassVar[int]
    WEEK_CHANGE_BP_FIELD_NUMBER: _ClassVar[int]
    MOVING_AVERAGE_FIELD_NUMBER: _ClassVar[int]
    FORECAST_DAY_FIELD_NUMBER: _ClassVar[int]
    FORECAST_MINOR_FIELD_NUMBER: _ClassVar[int]
    FORECAST_METHOD_FIELD_NUMBER: _ClassVar[int]
    store_id: str
    currency: str
    day: str
    day_total_minor: int
    same_weekday_last_week_minor: int
    has_day_change: bool
    day_change_bp: int
    week_start: str
    week_total_minor: int
    previous_week_total_minor: int
    has_week_change: bool
    week_change_bp: int
    moving_average: _containers.RepeatedCompositeFieldContainer[DailyValue]
    forecast_day: str
    forecast_minor: int
    forecast_method: str
    def __init__(self, store_id: _Optional[str] = ..., currency: _Optional[str] = ..., day: _Optional[str] = ..., day_total_minor: _Optional[int] = ..., same_weekday_last_week_minor: _Optional[int] = ..., has_day_change: _Optional[bool] = ..., day_change_bp: _Optional[int] = ..., week_start: _Optional[str] = ..., week_total_minor: _Optional[int] = ..., previous_week_total_minor: _Optional[int] = ..., has_week_change: _Optional[bool] = ..., week_change_bp: _Optional[int] = ..., moving_average: _Optional[_Iterable[_Union[DailyValue, _Mapping]]] = ..., forecast_day: _Optional[str] = ..., forecast_minor: _Optional[int] = ..., forecast_method: _Optional[str] = ...) -> None: ...

class TrendResponse(_message.Message):
    __slots__ = ("trends",)
    TRENDS_FIELD_NUMBER: _ClassVar[int]
    trends: _containers.RepeatedCompositeFieldContainer[Trend]
    def __init__(self, trends: _Optional[_Iterable[_Union[Trend, _Mapping]]] = ...) -> None: ...

class AlertsRequest(_message.Message):
    __slots__ = ("day",)
    DAY_FIELD_NUMBER: _ClassVar[int]
    day: str
    def __init__(self, day: _Optional[str] = ...) -> None: ...

class Alert(_message.Message):
    __slots__ = ("kind", "store_id", "subject", "detail", "severity")
    KIND_FIELD_NUMBER: _ClassVar[int]
    STORE_ID_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    SEVERITY_FIELD_NUMBER: _ClassVar[int]
    kind: str
    store_id: str
    subject: str
    detail: str
    severity: str
    def __init__(self, kind: _Optional[str] = ..., store_id: _Optional[str] = ..., subject: _Optional[str] = ..., detail: _Optional[str] = ..., severity: _Optional[str] = ...) -> None: ...

class AlertsResponse(_message.Message):
    __slots__ = ("alerts",)
    ALERTS_FIELD_NUMBER: _ClassVar[int]
    alerts: _containers.RepeatedCompositeFieldContainer[Alert]
    def __init__(self, alerts: _Optional[_Iterable[_Union[Alert, _Mapping]]] = ...) -> None: ...

class StreamSalesRequest(_message.Message):
    __slots__ = ("store_ids",)
    STORE_IDS_FIELD_NUMBER: _ClassVar[int]
    store_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, store_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class CompletedSale(_message.Message):
    __slots__ = ("sale_id", "store_id", "total", "items_sold", "completed_at_ms", "offline")
    SALE_ID_FIELD_NUMBER: _ClassVar[int]
    STORE_ID_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    ITEMS_SOLD_FIELD_NUMBER: _ClassVar[int]
    COMPLETED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    OFFLINE_FIELD_NUMBER: _ClassVar[int]
    sale_id: str
    store_id: str
    total: Money
    items_sold: int
    completed_at_ms: int
    offline: bool
    def __init__(self, sale_id: _Optional[str] = ..., store_id: _Optional[str] = ..., total: _Optional[_Union[Money, _Mapping]] = ..., items_sold: _Optional[int] = ..., completed_at_ms: _Optional[int] = ..., offline: _Optional[bool] = ...) -> None: ...
