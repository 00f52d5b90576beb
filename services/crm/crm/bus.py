"""CRM on the bus: loyalty points from checkout's sales, and the commands it answers."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from crm.application import (
    POINTS_PER_MINOR_UNIT,
    CustomerConflictError,
    CustomerNotFoundError,
    Customers,
    IdempotencyConflictError,
)
from crm.demo import demo_loyalty_card, seed_demo_customers
from crm.domainmodel import (
    DEFAULT_POLICY,
    Customer,
    CustomerErasedError,
    InsufficientPointsError,
    InvalidCustomerError,
    InvalidPointsError,
    LoyaltyAccount,
    PurchaseHistory,
    Redemption,
    points_for_sale,
)
from tillstream.codec import ReceivedEvent
from tillstream.commands import refusals
from tillstream.consumer import Handler, UnitOfWork
from tillstream.events.v1 import checkout_pb2
from tillstream.service import CommandError, CommandHandler


def _sale_time(sale: checkout_pb2.SaleCompleted, event: ReceivedEvent) -> datetime:
    if sale.completed_at_ms:
        return datetime.fromtimestamp(sale.completed_at_ms / 1000, UTC)
    try:
        at = datetime.fromisoformat(event.occurred_at)
    except (TypeError, ValueError):
        return datetime.now(UTC)
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def on_sale_completed(event: ReceivedEvent, uow: UnitOfWork) -> None:
    """Record a completed sale that names a customer in their purchase history, and credit
    its loyalty points (at the rate of their tier), in the same unit of work."""
    sale = event.message
    assert isinstance(sale, checkout_pb2.SaleCompleted)
    if not sale.customer_id:
        return
    store_id = sale.store_id or event.store_id
    at = _sale_time(sale, event)
    history: PurchaseHistory | None = uow.get(PurchaseHistory.create_id(sale.customer_id))
    if history is None:
        history = PurchaseHistory.start(sale.customer_id)
    if history.record(sale.sale_id, store_id, sale.total.amount_minor, sale.total.currency,
                      [(line.sku, line.quantity) for line in sale.lines], at):
        uow.add(history)
    if points_for_sale(sale.total.amount_minor, sale.total.currency) <= 0:
        return  # a refund, or under one whole unit: no points (the base rate is a multiple)
    account: LoyaltyAccount | None = uow.get(LoyaltyAccount.create_id(sale.customer_id))
    if account is None:
        # Open the account even if this customer is unknown here: they may have registered
        # in a store whose CustomerRegistered has not arrived yet, and points must not be lost.
        account = LoyaltyAccount.open(sale.customer_id)
    policy = getattr(uow.app, "policy", DEFAULT_POLICY)
    account.earn_for_sale(sale.total.amount_minor, sale.total.currency, sale.sale_id,
                          store_id, at, policy)
    if account.pending_events:
        uow.add(account)


def _event_time(at_ms: int, event: ReceivedEvent) -> datetime:
    if at_ms:
        return datetime.fromtimestamp(at_ms / 1000, UTC)
    try:
        at = datetime.fromisoformat(event.occurred_at)
    except (TypeError, ValueError):
        return datetime.now(UTC)
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def _account_of(uow: UnitOfWork, customer_id: str) -> LoyaltyAccount:
    account: LoyaltyAccount | None = uow.get(LoyaltyAccount.create_id(customer_id))
    if account is None:
        account = LoyaltyAccount.open(customer_id)
    return account


def _recredit_loyalty_tenders(
    uow: UnitOfWork, tenders: Any, customer_id: str, store_id: str, prefix: str, at: datetime
) -> None:
    """Give back the points of each loyalty tender (refunded or voided). The customer is the
    one who redeemed them (the redemption kept under the tender's key), else the event's."""
    rate = getattr(uow.app, "points_per_minor_unit", POINTS_PER_MINOR_UNIT)
    for tender in tenders:
        if tender.kind != "loyalty" or tender.amount.amount_minor <= 0:
            continue
        key = tender.payment_id.removeprefix("loyalty:")
        redemption: Redemption | None = uow.get(Redemption.create_id(key)) if key else None
        owner = str(redemption.request["customer_id"]) if redemption is not None \
            else customer_id
        if not owner:
            raise InvalidPointsError(
                f"loyalty tender {tender.payment_id!r} names no customer to re-credit"
            )
        account = _account_of(uow, owner)
        if account.credit(tender.amount.amount_minor * rate, f"{prefix}:{tender.payment_id}",
                          store_id, at):
            uow.add(account)


def on_return_completed(event: ReceivedEvent, uow: UnitOfWork) -> None:
    """A return takes back the points earned on the returned amount of the original sale
    and gives back the points of a loyalty refund; a redelivery changes nothing (the
    account remembers the return id and the credit references)."""
    ret = event.message
    assert isinstance(ret, checkout_pb2.ReturnCompleted)
    store_id = ret.store_id or event.store_id
    at = _event_time(ret.completed_at_ms, event)
    if ret.customer_id and ret.original_sale_id and ret.total.amount_minor > 0:
        account: LoyaltyAccount | None = uow.get(LoyaltyAccount.create_id(ret.customer_id))
        if account is not None:
            policy = getattr(uow.app, "policy", DEFAULT_POLICY)
            account.reverse_for_return(ret.original_sale_id, ret.return_id,
                                       ret.total.amount_minor, store_id, at, policy)
            if account.pending_events:
                uow.add(account)
    if ret.customer_id and ret.original_sale_id:
        history: PurchaseHistory | None = uow.get(PurchaseHistory.create_id(ret.customer_id))
        if history is not None and history.record_return(
            ret.return_id, ret.original_sale_id, ret.total.amount_minor, ret.total.currency,
            [(line.sku, line.quantity) for line in ret.lines],
        ):
            uow.add(history)
    _recredit_loyalty_tenders(uow, ret.refunds, ret.customer_id, store_id,
                              f"return:{ret.return_id}", at)


def on_sale_voided(event: ReceivedEvent, uow: UnitOfWork) -> None:
    """A voided sale's loyalty tenders are given back in full (idempotently)."""
    void = event.message
    assert isinstance(void, checkout_pb2.SaleVoided)
    store_id = void.store_id or event.store_id
    _recredit_loyalty_tenders(uow, void.tenders, void.customer_id, store_id,
                              f"void:{void.sale_id}", _event_time(void.voided_at_ms, event))


def consumer_handlers() -> dict[str, Handler]:
    """Handlers of upstream integration events, keyed by protobuf full name."""
    return {
        checkout_pb2.SaleCompleted.DESCRIPTOR.full_name: on_sale_completed,
        checkout_pb2.ReturnCompleted.DESCRIPTOR.full_name: on_return_completed,
        checkout_pb2.SaleVoided.DESCRIPTOR.full_name: on_sale_voided,
    }


#: The checkout events crm consumes (`<aggregate>.<event>` subjects).
CHECKOUT_EVENTS = ("sale.completed", "return.completed", "sale.voided")


_refusals = refusals(
    {
        CustomerNotFoundError: "not_found",
        (CustomerConflictError, IdempotencyConflictError): "conflict",
        CustomerErasedError: "erased",
        InsufficientPointsError: "insufficient_points",
        (InvalidCustomerError, InvalidPointsError): "invalid",
    }
)


def _uuid(value: Any, field: str) -> UUID:
    try:
        return UUID(str(value))
    except ValueError as exc:
        raise CommandError(f"{field} {value!r} is not a UUID", "invalid") from exc


def _text(payload: dict[str, Any], field: str) -> str:
    value = payload.get(field) or ""
    if not isinstance(value, str):
        raise CommandError(f"{field} must be text", "invalid")
    return value


def _optional_text(payload: dict[str, Any], field: str) -> str | None:
    if payload.get(field) is None:
        return None
    return _text(payload, field)


def _time(value: Any) -> datetime | None:
    if value is None:
        return None
    try:
        at = datetime.fromisoformat(str(value))
    except ValueError as exc:
        raise CommandError(f"at {value!r} is not an ISO 8601 time", "invalid") from exc
    if at.tzinfo is None:
        raise CommandError("at needs a timezone", "invalid")
    return at


DEMO_CUSTOMERS = 50


def command_handlers(app: Customers) -> dict[str, CommandHandler]:
    """CRM's request/reply commands (JSON in, JSON out)."""

    def register_customer(payload: dict[str, Any]) -> dict[str, Any]:
        customer_id = payload.get("customer_id")
        registered = app.register_customer(
            loyalty_card=payload["loyalty_card"],
            name=payload["name"],
            store_id=payload["store_id"],
            email=payload.get("email") or "",
            phone=payload.get("phone") or "",
            customer_id=_uuid(customer_id, "customer_id") if customer_id else None,
        )
        return {"customer_id": str(registered)}

    def loyalty(payload: dict[str, Any]) -> dict[str, Any]:
        """Balance, points ever earned (`earned_total`), tier and points expiring soon."""
        balance = app.loyalty_balance(str(payload["customer_id"]))
        return {"balance": balance.balance, "earned_total": balance.earned_total,
                "redeemed_total": balance.redeemed_total, "tier": balance.tier,
                "expiring_soon": balance.expiring_soon,
                "reversed_total": balance.reversed_total,
                "expired_total": balance.expired_total}

    def redeem_points(payload: dict[str, Any]) -> dict[str, Any]:
        """A loyalty tender: {"store_id", "sale_id", "customer_id", "amount_minor",
        "currency", "idempotency_key"} -> {"status": "approved", "points", "balance"} or
        {"status": "declined", "reason"}; points = amount_minor * points_per_minor_unit (1
        at the base rate). Same key and body: the same answer; another body: "conflict".

        Without "amount_minor": {"customer_id", "points", "reference", "store_id"} spends
        points for something other than a sale (no money value) -> {"balance"}."""
        if "amount_minor" in payload:
            return app.redeem_for_sale(
                _text(payload, "store_id"), _text(payload, "sale_id"),
                _text(payload, "customer_id"), payload["amount_minor"],
                _text(payload, "currency"), _text(payload, "idempotency_key"),
            )
        points = payload.get("points")
        if not isinstance(points, int) or isinstance(points, bool):
            raise CommandError("points must be a whole number", "invalid")
        balance = app.redeem_points(
            str(payload["customer_id"]), points, _text(payload, "reference"),
            _text(payload, "store_id"),
        )
        return {"balance": balance}

    def expire_points(payload: dict[str, Any]) -> dict[str, Any]:
        """{"as_of"?: ISO time (default now)}: expire old points and review tiers."""
        return app.expire_points(_time(payload.get("as_of")))

    def history(payload: dict[str, Any]) -> dict[str, Any]:
        """{"customer_id", "page_size"?, "page_token"?}: purchases newest first and summary."""
        page_size = payload.get("page_size", 20)
        if not isinstance(page_size, int) or isinstance(page_size, bool):
            raise CommandError("page_size must be a whole number", "invalid")
        page = app.history(str(payload["customer_id"]), page_size,
                           _text(payload, "page_token"))
        return page.to_dict()

    def seed_demo(payload: dict[str, Any]) -> dict[str, Any]:
        """The demo loyalty customers of a store (idempotent): `up` calls it."""
        store_id = payload["store_id"]
        count = int(payload.get("customers", DEMO_CUSTOMERS))
        changed = seed_demo_customers(app, store_id, count)
        ids = [str(Customer.create_id(demo_loyalty_card(store_id, i))) for i in range(count)]
        return {"changed": changed, "customer_ids": ids}

    def get_customer(payload: dict[str, Any]) -> dict[str, Any]:
        """The customer; name, email and phone only with "include_pii": true."""
        include_pii = payload.get("include_pii", False)
        if not isinstance(include_pii, bool):
            raise CommandError("include_pii must be true or false", "invalid")
        view = app.get_customer(_uuid(payload["customer_id"], "customer_id"), include_pii)
        return view.to_dict()

    def find_customer(payload: dict[str, Any]) -> dict[str, Any]:
        """Customer ids by {"email": ...} or {"phone": ...} (blind index; no PII returned)."""
        found = app.find_customers(email=_text(payload, "email"), phone=_text(payload, "phone"))
        return {"customer_ids": [str(customer_id) for customer_id in found]}

    def update_contact(payload: dict[str, Any]) -> dict[str, Any]:
        """Change any of name, email, phone (absent: unchanged; "" clears email or phone)."""
        app.update_contact(
            _uuid(payload["customer_id"], "customer_id"),
            name=_optional_text(payload, "name"),
            email=_optional_text(payload, "email"),
            phone=_optional_text(payload, "phone"),
        )
        return {}

    def set_consent(payload: dict[str, Any]) -> dict[str, Any]:
        """{"customer_id", "marketing": bool, "channel": sms|email|in_store, "at"?: ISO time}."""
        given = payload["marketing"]
        if not isinstance(given, bool):
            raise CommandError("marketing must be true or false", "invalid")
        at = _time(payload.get("at"))
        changed = app.set_consent(
            _uuid(payload["customer_id"], "customer_id"), given, str(payload["channel"]), at
        )
        return {"changed": changed}

    def erase(payload: dict[str, Any]) -> dict[str, Any]:
        """Crypto-shred the customer's personal data (idempotent)."""
        changed = app.erase(_uuid(payload["customer_id"], "customer_id"))
        return {"changed": changed}

    handlers = (register_customer, loyalty, seed_demo, get_customer, find_customer,
                update_contact, set_consent, erase, redeem_points, expire_points, history)
    return {fn.__name__: _refusals(fn) for fn in handlers}
