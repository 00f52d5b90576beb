"""The Customers application on every storage: the same tests on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID, uuid4

import pytest

from crm.application import CustomerConflictError, CustomerNotFoundError, Customers
from crm.demo import seed_demo_customers
from crm.domainmodel import (
    Customer,
    CustomerErasedError,
    InsufficientPointsError,
    InvalidCustomerError,
)
from crm.pii import PiiUnavailableError, PiiVault
from tillstream.eventstore import event_store_env
from tillstream.settings import Settings

# Aliased: a module-level name starting with "test_" would be collected by pytest.
from tillstream.testing import test_settings as settings_for_test


class CustomersApplicationTests:
    """The behaviour of Customers, whatever stores its events (subclassed per storage)."""

    @pytest.fixture
    def settings(self) -> Settings:
        raise NotImplementedError

    @pytest.fixture
    def app(self, settings: Settings) -> Iterator[Customers]:
        app = Customers(env=event_store_env(settings, "crm"),
                        vault=PiiVault.from_settings(settings), default_country_code="49")
        yield app
        app.close()

    def test_register_derives_the_id_from_the_card(self, app: Customers) -> None:
        customer_id = app.register_customer("LC0001", "Ana Costa", "s001", "ana@example.com")
        assert customer_id == Customer.create_id("LC0001")
        view = app.get_customer(customer_id, include_pii=True)
        assert (view.name, view.email, view.phone) == ("Ana Costa", "ana@example.com", "")

    def test_register_with_given_id(self, app: Customers) -> None:
        wanted = uuid4()
        assert app.register_customer("LC0001", "Ana", "s001", customer_id=wanted) == wanted

    def test_register_again_is_idempotent(self, app: Customers) -> None:
        first = app.register_customer("LC0001", "Ana", "s001")
        stored = app.events_stored()
        assert app.register_customer("LC0001", "Ana", "s001") == first
        assert app.events_stored() == stored

    def test_id_taken_by_another_card(self, app: Customers) -> None:
        wanted = uuid4()
        app.register_customer("LC0001", "Ana", "s001", customer_id=wanted)
        with pytest.raises(CustomerConflictError):
            app.register_customer("LC0002", "Ben", "s001", customer_id=wanted)

    def test_register_guard(self, app: Customers) -> None:
        with pytest.raises(InvalidCustomerError):
            app.register_customer("", "Ana", "s001")

    def test_loyalty_of_registered_customer_without_points(self, app: Customers) -> None:
        customer_id = app.register_customer("LC0001", "Ana", "s001")
        balance = app.loyalty_balance(str(customer_id))
        assert (balance.balance, balance.earned_total) == (0, 0)

    def test_loyalty_of_unknown_customer(self, app: Customers) -> None:
        with pytest.raises(CustomerNotFoundError):
            app.loyalty_balance(str(uuid4()))
        with pytest.raises(CustomerNotFoundError):
            app.loyalty_balance("not-a-uuid")

    def test_redeem_points(self, app: Customers) -> None:
        from crm.domainmodel import LoyaltyAccount

        account = LoyaltyAccount.open("cust-1")
        account.earn(10, "sale-1", "s001")
        app.save(account)
        assert app.redeem_points("cust-1", 4, "reward-1", "s001") == 6
        with pytest.raises(InsufficientPointsError):
            app.redeem_points("cust-1", 7, "reward-2", "s001")
        with pytest.raises(CustomerNotFoundError):
            app.redeem_points("nobody", 1, "reward-3", "s001")

    def test_seed_demo_customers_is_deterministic_and_idempotent(self, app: Customers) -> None:
        assert seed_demo_customers(app, "s001", n=20) == 20
        stored = app.events_stored()
        assert seed_demo_customers(app, "s001", n=20) == 0
        assert app.events_stored() == stored
        assert seed_demo_customers(app, "s002", n=5) == 5

    # Personal data: normalization, encryption, lookup, consent, erasure ---------------------

    def register_ana(self, app: Customers) -> UUID:
        return app.register_customer(
            "LC0001", "  Ana   Costa ", "s001", "Ana.Costa@Example.COM", "030 555-000")

    def test_contact_is_normalized(self, app: Customers) -> None:
        customer_id = self.register_ana(app)
        view = app.get_customer(customer_id, include_pii=True)
        assert (view.name, view.email, view.phone) == (
            "Ana Costa", "Ana.Costa@example.com", "+4930555000")

    def test_invalid_contact_is_refused_before_anything_is_stored(self, app: Customers) -> None:
        for bad in ({"email": "ana@"}, {"phone": "call me"}, {"name": " "}):
            fields = {"name": "Ana", "email": "", "phone": "", **bad}
            with pytest.raises(InvalidCustomerError):
                app.register_customer("LC0001", fields["name"], "s001", fields["email"],
                                      fields["phone"])
        assert app.events_stored() == 0
        assert app.vault.store.get_key(str(Customer.create_id("LC0001"))) is None

    def test_pii_only_when_asked(self, app: Customers) -> None:
        view = app.get_customer(self.register_ana(app))
        assert view.pii_available and view.name is None and view.email is None
        assert "name" not in view.to_dict() and "email" not in view.to_dict()

    def test_events_hold_only_ciphertext(self, app: Customers) -> None:
        customer_id = self.register_ana(app)
        app.update_contact(customer_id, phone="+1 415 555 0100")
        events = list(app.events.get(customer_id))
        assert [type(e) for e in events] == [Customer.Registered, Customer.ContactUpdated]
        text = repr([e.__dict__ for e in events])
        for plain in ("Ana", "Costa", "example.com", "4930555000", "4155550100"):
            assert plain not in text
        registered = events[0]
        assert isinstance(registered, Customer.Registered)
        key = app.vault.data_key(customer_id, registered.key_id)
        assert app.vault.open(key, customer_id, "name", registered.sealed_name) == "Ana Costa"

    def test_find_customer_by_email_or_phone(self, app: Customers) -> None:
        ana = self.register_ana(app)
        ben = app.register_customer("LC0002", "Ben", "s001", "ben@example.com", "+4930555000")
        assert app.find_customers(email="ana.costa@EXAMPLE.com") == [ana]
        assert app.find_customers(phone="+49 (30) 555 000") == sorted([ana, ben], key=str)
        assert app.find_customers(email="nobody@example.com") == []
        with pytest.raises(InvalidCustomerError):
            app.find_customers()
        with pytest.raises(InvalidCustomerError):
            app.find_customers(email="ana@x.com", phone="+4930555000")
        with pytest.raises(InvalidCustomerError):
            app.find_customers(email="not-an-email")

    def test_find_never_decrypts_everything(
        self, app: Customers, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        seed_demo_customers(app, "s001", n=20)
        opened: list[str] = []
        real_open = PiiVault.open

        def counting_open(*args: object) -> str:
            opened.append("x")
            return real_open(*args)  # type: ignore[arg-type]

        monkeypatch.setattr(PiiVault, "open", staticmethod(counting_open))
        (found,) = app.find_customers(email="ben.001@example.com")
        assert app.get_customer(found).loyalty_card == "LCs001000001"
        assert len(opened) == 3  # only the one candidate's three fields, to verify it

    def test_update_contact_moves_the_index(self, app: Customers) -> None:
        customer_id = self.register_ana(app)
        app.update_contact(customer_id, email="ana@new.example.com", name="Ana C. Costa")
        view = app.get_customer(customer_id, include_pii=True)
        assert (view.name, view.email, view.phone) == (
            "Ana C. Costa", "ana@new.example.com", "+4930555000")
        assert app.find_customers(email="ana.costa@example.com") == []
        assert app.find_customers(email="ana@new.example.com") == [customer_id]
        stored = app.events_stored()
        app.update_contact(customer_id, email="ANA@new.example.com".lower())  # unchanged
        assert app.events_stored() == stored
        app.update_contact(customer_id, phone="")
        assert app.find_customers(phone="+4930555000") == []
        with pytest.raises(InvalidCustomerError):
            app.update_contact(customer_id, email="nope")
        with pytest.raises(CustomerNotFoundError):
            app.update_contact(uuid4(), name="X")

    def test_consent(self, app: Customers) -> None:
        customer_id = self.register_ana(app)
        at = datetime(2025, 3, 1, 9, 30, tzinfo=UTC)
        assert app.set_consent(customer_id, True, "in_store", at)
        view = app.get_customer(customer_id)
        assert (view.marketing_consent, view.consent_channel, view.consent_at) == (
            True, "in_store", "2025-03-01T09:30:00+00:00")
        assert not app.set_consent(customer_id, True, "in_store", at)
        assert app.set_consent(customer_id, False, "email")
        view = app.get_customer(customer_id)
        assert (view.marketing_consent, view.consent_channel) == (False, "email")
        with pytest.raises(InvalidCustomerError):
            app.set_consent(customer_id, True, "pigeon")

    def test_erasure(self, app: Customers, settings: Settings) -> None:
        customer_id = self.register_ana(app)
        other = app.register_customer("LC0002", "Ben", "s001", "ben@example.com", "+4930555000")
        registered = next(iter(app.events.get(customer_id)))
        assert isinstance(registered, Customer.Registered)
        assert app.erase(customer_id)
        assert not app.erase(customer_id)  # idempotent
        view = app.get_customer(customer_id, include_pii=True)
        assert view.erased and not view.pii_available and view.erased_at
        assert (view.name, view.email, view.phone) == (None, None, None)
        assert app.find_customers(email="ana.costa@example.com") == []
        assert app.find_customers(phone="+4930555000") == [other]
        # The events are still there, read back through the repository: unreadable.
        events = list(app.events.get(customer_id))
        assert [type(e) for e in events] == [Customer.Registered, Customer.Erased]
        stored = events[0]
        assert isinstance(stored, Customer.Registered)
        assert stored.sealed_name == registered.sealed_name  # immutable, yet useless
        with pytest.raises(PiiUnavailableError):
            app.vault.data_key(customer_id, stored.key_id)
        # Another application (no cache: straight from the store) reads the same.
        other_app = Customers(env=event_store_env(settings, "crm"),
                              vault=PiiVault.from_settings(settings))
        try:
            again = other_app.get_customer(customer_id, include_pii=True)
            assert again.erased and again.name is None
            assert other_app.find_customers(email="ana.costa@example.com") == []
        finally:
            other_app.close()
        # Nothing more can happen to the erased customer's personal data.
        with pytest.raises(CustomerErasedError):
            app.update_contact(customer_id, name="Ana")
        with pytest.raises(CustomerErasedError):
            app.set_consent(customer_id, True, "sms")
        with pytest.raises(CustomerErasedError):
            app.register_customer("LC0001", "Ana", "s001")
        # Loyalty survives (no personal data in it).
        assert app.loyalty_balance(str(customer_id)).balance == 0
        with pytest.raises(CustomerNotFoundError):
            app.erase(uuid4())

    def test_erasure_completes_after_a_lost_event(self, app: Customers) -> None:
        customer_id = self.register_ana(app)
        app.vault.shred(customer_id)  # the key went, the Erased event was never saved
        view = app.get_customer(customer_id, include_pii=True)
        assert not view.erased and not view.pii_available and view.name is None
        assert app.find_customers(email="ana.costa@example.com") == []
        assert app.erase(customer_id)
        assert app.get_customer(customer_id).erased


def _scan(root: Path, secrets: list[bytes]) -> list[str]:
    """Which files under `root` contain any of `secrets` (raw bytes, every file)."""
    hits = []
    for path in root.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            hits += [f"{path.name}: {s!r}" for s in secrets if s in data]
    return hits


class TestWithSQLite(CustomersApplicationTests):
    @pytest.fixture
    def settings(self, tmp_path: Path) -> Settings:
        return settings_for_test(tmp_path)

    def test_no_plaintext_in_the_store_files_before_or_after_erasure(
        self, app: Customers, tmp_path: Path
    ) -> None:
        customer_id = self.register_ana(app)
        app.update_contact(customer_id, email="ana.second@example.com")
        app.set_consent(customer_id, True, "sms")
        secrets = [b"Ana Costa", b"Costa", b"ana.costa", b"Ana.Costa", b"ana.second",
                   b"4930555000", b"555-000"]
        store_files = list(tmp_path.rglob("*.sqlite*"))
        assert any(p.name == "events.sqlite" for p in store_files)
        assert any(p.name == "keys.sqlite" for p in store_files)
        assert _scan(tmp_path, secrets) == []
        assert app.find_customers(email="ana.second@example.com") == [customer_id]
        row = app.vault.store.get_key(str(customer_id))
        assert row is not None
        wrapped = row[2]
        assert _scan(tmp_path, [wrapped]) == ["keys.sqlite: " + repr(wrapped)]
        app.erase(customer_id)
        assert _scan(tmp_path, secrets) == []
        # The wrapped key is overwritten in the file, not left in a free page (secure_delete).
        assert _scan(tmp_path, [wrapped]) == []


@pytest.mark.postgres
class TestWithPostgres(CustomersApplicationTests):
    @pytest.fixture
    def settings(self, tmp_path: Path, postgres_dsn: str) -> Settings:
        settings = settings_for_test(tmp_path, postgres_dsn=postgres_dsn)
        return settings
