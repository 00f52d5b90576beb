"""The analytics projection store: report tables in SQL, kept with their tracking positions.

SQLite (<data_dir>/analytics/analytics.sqlite) by default, PostgreSQL schema "analytics" when
a DSN is configured. Analytics has no event store and no aggregates: a batch of upstream
events becomes row increments (counter tables) and latest values (state tables) plus a
tracking row, written in one transaction; a redelivered batch finds its tracking row and
changes nothing. The tables live in generations (analytics.tables): `analytics.rebuild`
replays the streams into a new generation and swaps it in under readers and writers.
After each committed batch, listeners (`add_listener`) hear the completed sales it projected.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import date
from typing import Any

from psycopg.conninfo import conninfo_to_dict
from sqlalchemy import (
    URL,
    Connection,
    Engine,
    Table,
    create_engine,
    event,
    func,
    select,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite

from analytics.domainmodel import CompletedSale, ProjectionBatch
from analytics.tables import (
    SPEC_BY_NAME,
    SPECS,
    Generation,
    control_metadata,
    generation,
    projection_generation,
)
from tillstream.codec import ReceivedEvent
from tillstream.consumer import Delivery
from tillstream.settings import Settings

log = logging.getLogger(__name__)

SERVICE = "analytics"
POSTGRES_SCHEMA = "analytics"

GEN0 = generation(0)
metadata = GEN0.metadata
sales_by_store_day = GEN0["sales_by_store_day"]
payment_mix = GEN0["payment_mix"]
projection_tracking = GEN0["projection_tracking"]

#: Called after each committed batch with the completed sales it projected (in upstream order),
#: on the thread that wrote the batch (the consumer's database thread): hop to your own loop.
SalesListener = Callable[[Sequence[CompletedSale]], None]

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
    engine = create_engine(f"sqlite+pysqlite:///{path}", connect_args={"timeout": 10})
    event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """WAL: the dashboard's and partners' reads never wait for the consumers' writes (nor a
    rebuild's swap), and a commit costs one append instead of a journal round trip.
    synchronous=NORMAL may lose the last commits on a power cut, never corrupt: their
    tracking rows go with them, so the consumers redeliver and the tables stay exact."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


class ProjectionStore:
    """The report tables and their tracking rows, with the queries the commands answer.

    `fixed_generation` None: follow the generation pointer (the live store); a number: write
    that generation whatever the pointer says (a rebuild filling its new tables).
    """

    def __init__(self, engine: Engine, fixed_generation: int | None = None) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        self.fixed_generation = fixed_generation
        self._listeners: list[SalesListener] = []
        self._statements: dict[tuple[int, str], Any] = {}

    @classmethod
    def from_settings(cls, settings: Settings) -> ProjectionStore:
        store = cls(create_projection_engine(settings))
        store.create()
        return store

    # Live listeners --------------------------------------------------------------------

    def add_listener(self, listener: SalesListener) -> Callable[[], None]:
        """Hear about completed sales as they are committed; returns the way to stop."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    @property
    def listener_count(self) -> int:
        return len(self._listeners)

    def _notify(self, sales: Sequence[CompletedSale]) -> None:
        for listener in list(self._listeners):
            try:
                listener(sales)
            except Exception:  # a broken listener must not fail (and redeliver) the batch
                log.exception("analytics: sales listener failed")

    # Schema ----------------------------------------------------------------------------

    def create(self) -> None:
        """Create the schema (PostgreSQL), the pointer and the current generation's tables."""
        with self.engine.begin() as conn:
            if self.dialect == "postgresql":
                conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{POSTGRES_SCHEMA}"'))
            control_metadata.create_all(conn)
            if conn.execute(select(projection_generation.c.generation)).first() is None:
                conn.execute(projection_generation.insert().values(id=1, generation=0))
            generation(self._generation(conn)).metadata.create_all(conn)

    def reset(self) -> None:
        """Drop and recreate the current generation, tracking included: a consumer from 0
        rebuilds it. (A rebuild without downtime is `analytics.rebuild`.)"""
        with self.engine.begin() as conn:
            gen = generation(self._generation(conn))
            gen.metadata.drop_all(conn)
            gen.metadata.create_all(conn)

    def dispose(self) -> None:
        self.engine.dispose()

    def current_generation(self) -> int:
        with self.engine.connect() as conn:
            return self._generation(conn)

    def _generation(self, conn: Connection) -> int:
        if self.fixed_generation is not None:
            return self.fixed_generation
        return read_generation(conn)

    def tables(self, conn: Connection) -> Generation:
        """The tables this store reads and writes now (in `conn`'s transaction)."""
        return generation(self._generation(conn))

    # Writing ---------------------------------------------------------------------------

    def position(self, tracking_name: str) -> int:
        with self.engine.connect() as conn:
            return self._position(conn, self.tables(conn), tracking_name)

    def _position(self, conn: Connection, gen: Generation, tracking_name: str) -> int:
        t = gen["projection_tracking"]
        query = select(t.c.position).where(t.c.name == tracking_name)
        return int(conn.execute(query).scalar_one_or_none() or 0)

    def apply_batch(
        self, tracking_name: str, deliveries: Sequence[Delivery], fold: ProjectionHandler
    ) -> None:
        """Fold the not-yet-applied deliveries and write them with the tracking row, at once."""
        if not deliveries:
            return
        with self.engine.begin() as conn:
            # Take the write lock first (the pointer row): two writers of one partition (a
            # replica taking over, or a rebuild swapping generations) serialize here, and the
            # later one sees what the earlier did, in the generation that is current then.
            self.lock_pointer(conn)
            batch = self.apply_in(conn, self.tables(conn), tracking_name, deliveries, fold)
        if batch.completed:
            self._notify(batch.completed)

    def apply_in(
        self,
        conn: Connection,
        gen: Generation,
        tracking_name: str,
        deliveries: Sequence[Delivery],
        fold: ProjectionHandler,
    ) -> ProjectionBatch:
        """Apply deliveries past the tracked position to `gen` within `conn`'s transaction."""
        batch = ProjectionBatch()
        tracking = gen["projection_tracking"]
        conn.execute(
            self._insert(tracking).on_conflict_do_nothing(index_elements=["name"]),
            {"name": tracking_name, "position": 0},
        )
        tracked = self._position(conn, gen, tracking_name)
        fresh = [d for d in deliveries if d.position > tracked]
        if not fresh:
            return batch  # a redelivered batch: already in the tables
        for delivery in fresh:
            fold(delivery.event, batch)
        self.write(conn, gen, batch)
        conn.execute(
            tracking.update()
            .where(tracking.c.name == tracking_name)
            .values(position=max(d.position for d in fresh))
        )
        return batch

    def lock_pointer(self, conn: Connection) -> None:
        p = projection_generation
        if self.dialect == "postgresql":
            conn.execute(select(p.c.generation).with_for_update(read=True))
        else:
            # SQLite: a no-op write takes the database's write lock before anything is read.
            conn.execute(p.update().values(generation=p.c.generation))

    def _insert(self, table: Table) -> Any:
        # Both dialects speak INSERT ... ON CONFLICT, each through its own construct.
        return (postgresql.insert if self.dialect == "postgresql" else sqlite.insert)(table)

    def _upsert(self, gen: Generation, name: str, columns: tuple[str, ...]) -> Any:
        """The upsert of one table (built once per generation and column set: building the
        statements, and their cache keys, per batch cost more CPU than executing them)."""
        cache_key = (gen.number, name + ":" + ",".join(columns))
        statement = self._statements.get(cache_key)
        if statement is None:
            table = gen[name]
            spec = SPEC_BY_NAME[name]
            insert = self._insert(table)
            if spec.counter:
                set_ = {c: table.c[c] + insert.excluded[c] for c in columns}
            else:
                set_ = {c: insert.excluded[c] for c in columns}
            statement = insert.on_conflict_do_update(index_elements=list(spec.keys), set_=set_)
            self._statements[cache_key] = statement
        return statement

    def write(self, conn: Connection, gen: Generation, batch: ProjectionBatch) -> None:
        """Write a folded batch's increments and states into generation `gen`."""
        for key, totals in batch.sales.items():
            batch.count(
                "sales_by_store_day",
                (key.store_id, key.day, key.currency),
                totals.sales_count,
                totals.total_minor,
                totals.items_sold,
            )
        for pkey, ptotals in batch.payments.items():
            batch.count(
                "payment_mix",
                (pkey.store_id, pkey.day, pkey.tender, pkey.scheme, pkey.currency),
                ptotals.count,
                ptotals.total_minor,
            )
        batch.sales.clear()
        batch.payments.clear()
        for name, rows in batch.counters.items():
            spec = SPEC_BY_NAME[name]
            conn.execute(
                self._upsert(gen, name, spec.values),
                [
                    {
                        **dict(zip(spec.keys, k, strict=True)),
                        **dict(zip(spec.values, v, strict=True)),
                    }
                    for k, v in sorted(rows.items())
                ],
            )
        for name, states in batch.state.items():
            spec = SPEC_BY_NAME[name]
            for k, values in states.items():  # insertion (upstream) order
                columns = tuple(sorted(values))
                conn.execute(
                    self._upsert(gen, name, columns),
                    {**dict(zip(spec.keys, k, strict=True)), **values},
                )

    # Reading ---------------------------------------------------------------------------

    def sales_totals(
        self, store_id: str | None = None, day: date | None = None
    ) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            table = self.tables(conn)["sales_by_store_day"]
            t = table.c
            query = select(table).order_by(t.store_id, t.day, t.currency)
            if store_id:
                query = query.where(t.store_id == store_id)
            if day:
                query = query.where(t.day == day)
            return [
                {
                    "store_id": r.store_id,
                    "day": r.day.isoformat(),
                    "currency": r.currency,
                    "sales_count": r.sales_count,
                    "total_minor": r.total_minor,
                    "items_sold": r.items_sold,
                }
                for r in conn.execute(query)
            ]

    def payment_mix(
        self, store_id: str | None = None, day: date | None = None
    ) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            table = self.tables(conn)["payment_mix"]
            p = table.c
            query = select(table).order_by(p.store_id, p.day, p.tender, p.scheme, p.currency)
            if store_id:
                query = query.where(p.store_id == store_id)
            if day:
                query = query.where(p.day == day)
            return [
                {
                    "store_id": r.store_id,
                    "day": r.day.isoformat(),
                    "tender": r.tender,
                    "scheme": r.scheme,
                    "currency": r.currency,
                    "count": r.count,
                    "total_minor": r.total_minor,
                }
                for r in conn.execute(query)
            ]

    def tracking(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            t = self.tables(conn)["projection_tracking"]
            rows = conn.execute(select(t).order_by(t.c.name))
            return {r.name: int(r.position) for r in rows}

    def dump(self) -> dict[str, list[tuple[Any, ...]]]:
        """Every table of the current generation, rows sorted: what rebuild tests compare."""
        with self.engine.connect() as conn:
            gen = self.tables(conn)
            return {
                spec.name: sorted(tuple(r) for r in conn.execute(select(gen[spec.name])))
                for spec in SPECS
            }

    def stats(self) -> dict[str, Any]:
        with self.engine.connect() as conn:
            gen = self.tables(conn)
            sales_rows = conn.execute(select(func.count()).select_from(gen["sales_by_store_day"]))
            payment_rows = conn.execute(select(func.count()).select_from(gen["payment_mix"]))
            counts = {
                "sales_rows": sales_rows.scalar_one(),
                "payment_mix_rows": payment_rows.scalar_one(),
                "generation": gen.number,
            }
        return {**counts, "tracked": self.tracking()}


def read_generation(conn: Connection) -> int:
    """The generation readers use now (0 before the pointer row exists)."""
    value = conn.execute(select(projection_generation.c.generation)).scalar_one_or_none()
    return int(value or 0)


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
        self.store.apply_batch(tracking_name, deliveries, self.fold)

    def fold(self, event: ReceivedEvent, batch: ProjectionBatch) -> None:
        handler = self.handlers.get(event.event_type)
        if handler is not None:  # other event types of the stream are not reported on
            handler(event, batch)
