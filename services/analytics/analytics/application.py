"""The analytics projection store: report tables in SQL, kept with their tracking positions.

SQLite (<data_dir>/analytics/analytics.sqlite) by default, PostgreSQL schema "analytics" when
a DSN is configured. Analytics has no event store and no aggregates: a batch of upstream
events becomes row increments plus a tracking row, written in one transaction. Dropping the
tables (reset) and consuming from position 0 rebuilds them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date
from typing import Any

from psycopg.conninfo import conninfo_to_dict
from sqlalchemy import (
    URL,
    BigInteger,
    Column,
    Connection,
    Date,
    Engine,
    MetaData,
    String,
    Table,
    bindparam,
    create_engine,
    func,
    select,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite

from analytics.domainmodel import ProjectionBatch
from tillstream.codec import ReceivedEvent
from tillstream.consumer import Delivery
from tillstream.settings import Settings

SERVICE = "analytics"
POSTGRES_SCHEMA = "analytics"

metadata = MetaData()

sales_by_store_day = Table(
    "sales_by_store_day",
    metadata,
    Column("store_id", String(64), primary_key=True),
    Column("day", Date, primary_key=True),
    Column("currency", String(3), primary_key=True),
    Column("sales_count", BigInteger, nullable=False),
    Column("total_minor", BigInteger, nullable=False),
    Column("items_sold", BigInteger, nullable=False),
)

payment_mix = Table(
    "payment_mix",
    metadata,
    Column("store_id", String(64), primary_key=True),
    Column("day", Date, primary_key=True),
    Column("tender", String(32), primary_key=True),
    Column("scheme", String(32), primary_key=True),
    # Not in the first sketch of the table: amounts in two currencies must never be summed.
    Column("currency", String(3), primary_key=True),
    Column("count", BigInteger, nullable=False),
    Column("total_minor", BigInteger, nullable=False),
)

projection_tracking = Table(
    "projection_tracking",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("position", BigInteger, nullable=False),
)

#: A projection handler folds one upstream event into the batch's increments.
ProjectionHandler = Callable[[ReceivedEvent, ProjectionBatch], None]


def postgres_url(dsn: str) -> URL:
    """A SQLAlchemy URL (psycopg 3 driver) for a libpq DSN, URL or "key=value" form."""
    params = {k: str(v) for k, v in conninfo_to_dict(dsn).items()}
    port = params.pop("port", None)
    return URL.create(
        "postgresql+psycopg",
        username=params.pop("user", None),
        password=params.pop("password", None),
        host=params.pop("host", None),
        port=int(port) if port else None,
        database=params.pop("dbname", None),
        query=params,  # sslmode, connect_timeout, ... pass through to libpq
    )


def create_projection_engine(settings: Settings) -> Engine:
    """The engine for the report tables: PostgreSQL (psycopg 3) if configured, else SQLite."""
    if settings.postgres_dsn:
        return create_engine(
            postgres_url(settings.postgres_dsn),
            pool_pre_ping=True,
            execution_options={"schema_translate_map": {None: POSTGRES_SCHEMA}},
        )
    path = settings.service_dir(SERVICE) / "analytics.sqlite"
    return create_engine(f"sqlite+pysqlite:///{path}", connect_args={"timeout": 10})


class ProjectionStore:
    """The report tables and their tracking rows, with the queries the commands answer."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        self._statements()

    def _statements(self) -> None:
        """Build the write path's statements once: constructing them per batch (and their
        cache keys) cost more CPU than executing them."""
        tracking = projection_tracking.c
        self._ensure_tracking = self._insert(projection_tracking).on_conflict_do_nothing(
            index_elements=["name"]
        )
        self._select_position = select(tracking.position).where(
            tracking.name == bindparam("tracking_name")
        )
        self._lock_position = self._select_position.with_for_update()
        self._set_position = (
            projection_tracking.update()
            .where(tracking.name == bindparam("tracking_name"))
            .values(position=bindparam("new_position"))
        )
        sales = self._insert(sales_by_store_day)
        t = sales_by_store_day.c
        self._upsert_sales = sales.on_conflict_do_update(
            index_elements=["store_id", "day", "currency"],
            set_={
                "sales_count": t.sales_count + sales.excluded.sales_count,
                "total_minor": t.total_minor + sales.excluded.total_minor,
                "items_sold": t.items_sold + sales.excluded.items_sold,
            },
        )
        payments = self._insert(payment_mix)
        p = payment_mix.c
        self._upsert_payments = payments.on_conflict_do_update(
            index_elements=["store_id", "day", "tender", "scheme", "currency"],
            set_={
                "count": p.count + payments.excluded.count,
                "total_minor": p.total_minor + payments.excluded.total_minor,
            },
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> ProjectionStore:
        store = cls(create_projection_engine(settings))
        store.create()
        return store

    # Schema ----------------------------------------------------------------------------

    def create(self) -> None:
        """Create the schema (PostgreSQL) and the tables when missing."""
        with self.engine.begin() as conn:
            if self.dialect == "postgresql":
                conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{POSTGRES_SCHEMA}"'))
            metadata.create_all(conn)

    def reset(self) -> None:
        """Drop and recreate every table, tracking included: a consumer from 0 rebuilds it."""
        with self.engine.begin() as conn:
            metadata.drop_all(conn)
            metadata.create_all(conn)

    def dispose(self) -> None:
        self.engine.dispose()

    # Writing ---------------------------------------------------------------------------

    def position(self, tracking_name: str) -> int:
        with self.engine.connect() as conn:
            return self._position(conn, tracking_name)

    def _position(self, conn: Connection, tracking_name: str, lock: bool = False) -> int:
        query = self._lock_position if lock else self._select_position
        return int(conn.execute(query, {"tracking_name": tracking_name}).scalar_one_or_none() or 0)

    def apply_batch(
        self, tracking_name: str, deliveries: Sequence[Delivery], fold: ProjectionHandler
    ) -> None:
        """Fold the not-yet-applied deliveries and write them with the tracking row, at once."""
        if not deliveries:
            return
        with self.engine.begin() as conn:
            # Make sure the tracking row exists, then lock it: two writers of one partition
            # (a replica taking over) serialize here, and the later one sees what is done.
            conn.execute(self._ensure_tracking, {"name": tracking_name, "position": 0})
            tracked = self._position(conn, tracking_name, lock=True)
            fresh = [d for d in deliveries if d.position > tracked]
            if not fresh:
                return  # a redelivered batch: already in the tables
            batch = ProjectionBatch()
            for delivery in fresh:
                fold(delivery.event, batch)
            self._add(conn, batch)
            conn.execute(
                self._set_position,
                {"tracking_name": tracking_name,
                 "new_position": max(d.position for d in fresh)},
            )

    def _insert(self, table: Table) -> Any:
        # Both dialects speak INSERT ... ON CONFLICT, each through its own construct.
        return (postgresql.insert if self.dialect == "postgresql" else sqlite.insert)(table)

    def _add(self, conn: Connection, batch: ProjectionBatch) -> None:
        if batch.sales:
            conn.execute(
                self._upsert_sales,
                [
                    {"store_id": k.store_id, "day": k.day, "currency": k.currency,
                     "sales_count": v.sales_count, "total_minor": v.total_minor,
                     "items_sold": v.items_sold}
                    for k, v in sorted(batch.sales.items())
                ],
            )
        if batch.payments:
            conn.execute(
                self._upsert_payments,
                [
                    {"store_id": k.store_id, "day": k.day, "tender": k.tender,
                     "scheme": k.scheme, "currency": k.currency, "count": v.count,
                     "total_minor": v.total_minor}
                    for k, v in sorted(batch.payments.items())
                ],
            )

    # Reading ---------------------------------------------------------------------------

    def sales_totals(
        self, store_id: str | None = None, day: date | None = None
    ) -> list[dict[str, Any]]:
        t = sales_by_store_day.c
        query = select(sales_by_store_day).order_by(t.store_id, t.day, t.currency)
        if store_id:
            query = query.where(t.store_id == store_id)
        if day:
            query = query.where(t.day == day)
        with self.engine.connect() as conn:
            return [
                {"store_id": r.store_id, "day": r.day.isoformat(), "currency": r.currency,
                 "sales_count": r.sales_count, "total_minor": r.total_minor,
                 "items_sold": r.items_sold}
                for r in conn.execute(query)
            ]

    def payment_mix(
        self, store_id: str | None = None, day: date | None = None
    ) -> list[dict[str, Any]]:
        p = payment_mix.c
        query = select(payment_mix).order_by(p.store_id, p.day, p.tender, p.scheme, p.currency)
        if store_id:
            query = query.where(p.store_id == store_id)
        if day:
            query = query.where(p.day == day)
        with self.engine.connect() as conn:
            return [
                {"store_id": r.store_id, "day": r.day.isoformat(), "tender": r.tender,
                 "scheme": r.scheme, "currency": r.currency, "count": r.count,
                 "total_minor": r.total_minor}
                for r in conn.execute(query)
            ]

    def tracking(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(projection_tracking).order_by(projection_tracking.c.name))
            return {r.name: int(r.position) for r in rows}

    def stats(self) -> dict[str, Any]:
        with self.engine.connect() as conn:
            sales_rows = conn.execute(select(func.count()).select_from(sales_by_store_day))
            payment_rows = conn.execute(select(func.count()).select_from(payment_mix))
            counts = {"sales_rows": sales_rows.scalar_one(),
                      "payment_mix_rows": payment_rows.scalar_one()}
        return {**counts, "tracked": self.tracking()}


class ProjectionSink:
    """A tillstream.consumer.Sink that writes upstream events into the report tables.

    One sink serves every subscription: each has its own tracking name, so each upstream
    partition is tracked on its own row.
    """

    def __init__(self, store: ProjectionStore, handlers: dict[str, ProjectionHandler]) -> None:
        self.store = store
        self.handlers = handlers

    def position(self, tracking_name: str) -> int:
        return self.store.position(tracking_name)

    def apply(self, tracking_name: str, deliveries: Sequence[Delivery]) -> None:
        self.store.apply_batch(tracking_name, deliveries, self._fold)

    def _fold(self, event: ReceivedEvent, batch: ProjectionBatch) -> None:
        handler = self.handlers.get(event.event_type)
        if handler is not None:  # other event types of the stream are not reported on
            handler(event, batch)
