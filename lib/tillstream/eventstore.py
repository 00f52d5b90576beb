"""Event-store wiring for every service's eventsourcing Application.

SQLite file per service under the data directory by default; PostgreSQL (a schema per service)
when a DSN is configured; the AES-GCM payload cipher whenever a key is configured. Everything
goes through eventsourcing's own persistence modules.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.application import Application, ProcessingEvent
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import (
    Notification,
    ProcessRecorder,
    Recording,
    Tracking,
)
from psycopg.conninfo import conninfo_to_dict

from tillstream.settings import Settings
from tillstream.telemetry import current_traceparent

A = TypeVar("A", bound=Aggregate)


def event_store_env(settings: Settings, service: str) -> dict[str, str]:
    """The eventsourcing environment for one service's event store."""
    env: dict[str, str] = {"AGGREGATE_CACHE_MAXSIZE": "10000"}
    if settings.postgres_dsn:
        params = conninfo_to_dict(settings.postgres_dsn)
        env.update(
            PERSISTENCE_MODULE="eventsourcing.postgres",
            POSTGRES_DBNAME=str(params.get("dbname", "postgres")),
            POSTGRES_HOST=str(params.get("host", "127.0.0.1")),
            POSTGRES_PORT=str(params.get("port", "5432")),
            POSTGRES_USER=str(params.get("user", "postgres")),
            POSTGRES_PASSWORD=str(params.get("password", "")),
            POSTGRES_SCHEMA=service,
            POSTGRES_POOL_SIZE="4",
        )
    else:
        path = settings.service_dir(service) / "events.sqlite"
        env.update(
            PERSISTENCE_MODULE="eventsourcing.sqlite",
            SQLITE_DBNAME=str(path),
            SQLITE_LOCK_TIMEOUT="10",
            # A SQLite file has one service process writing it, so the aggregate cache is
            # never stale: skip the "newer events?" query on every load. (On PostgreSQL,
            # replicas share the store and the cache must fast-forward.)
            AGGREGATE_CACHE_FASTFORWARD="n",
        )
    if settings.cipher_key:
        env.update(
            CIPHER_TOPIC="eventsourcing.cryptography:AESCipher",
            CIPHER_KEY=settings.cipher_key,
        )
    return env


class ServiceApplication(Application[UUID]):
    """An eventsourcing Application whose recorder also keeps tracking records.

    Its notification log is the outbox the relay reads; consumers record the events they cause
    together with the upstream position (a tracking record) in one transaction.
    """

    def __init__(self, env: dict[str, str] | None = None) -> None:
        super().__init__(env)
        self._listeners: list[Callable[[], None]] = []
        #: Aggregates lent uncopied from the cache in the current `session` (None: none open).
        self._lent: dict[UUID, Aggregate] | None = None

    def construct_recorder(self) -> ProcessRecorder:  # type: ignore[override]
        self._ensure_postgres_schema()
        return self.factory.process_recorder()

    def _ensure_postgres_schema(self) -> None:
        """Create the service's PostgreSQL schema (POSTGRES_SCHEMA) when it is missing.

        event_store_env names a schema per service, but eventsourcing only creates tables in
        it, never the schema itself: on a fresh database the first write failed with
        'schema "<service>" does not exist'. Only when tables may be created (CREATE_TABLE).
        """
        from eventsourcing.postgres import PostgresDatastore, PostgresFactory
        from psycopg import errors, sql

        factory = self.factory
        if not isinstance(factory, PostgresFactory) or not factory.env_create_table():
            return
        datastore = factory.datastore
        if not isinstance(datastore, PostgresDatastore) or datastore.schema == "public":
            return
        statement = sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(
            sql.Identifier(datastore.schema)
        )
        try:
            with datastore.transaction(commit=True) as cursor:
                cursor.execute(statement)
        except errors.UniqueViolation:  # another process created it at the same moment
            pass

    @property
    def process_recorder(self) -> ProcessRecorder:
        assert isinstance(self.recorder, ProcessRecorder)
        return self.recorder

    def on_recorded(self, listener: Callable[[], None]) -> None:
        """Call `listener` (from the writing thread) after every committed write."""
        self._listeners.append(listener)

    def _notify(self, recordings: list[Recording[UUID]]) -> None:
        for listener in self._listeners:
            listener()

    def _record(self, processing_event: ProcessingEvent[UUID]) -> list[Recording[UUID]]:
        # Stamp the current trace context on the new events, so the relay can carry it on.
        trace_headers = current_traceparent()
        if trace_headers.get("traceparent"):
            for domain_event in processing_event.events:
                domain_event.__dict__.setdefault("traceparent", trace_headers["traceparent"])
        try:
            return super()._record(processing_event)
        except Exception:
            # IntegrityError: someone else wrote these aggregates first, so the cached copies
            # are stale (the cache does not fast-forward on SQLite) and the caller's reload must
            # read the store. Any other failure: an aggregate lent uncopied by `session` is
            # now ahead of the store. Either way the cache must forget them.
            self._evict(processing_event.aggregates)
            raise

    def _evict(self, aggregate_ids: Iterable[UUID]) -> None:
        cache = self.repository.cache
        if cache is not None:
            for aggregate_id in aggregate_ids:
                with contextlib.suppress(KeyError):
                    cache.get(aggregate_id, evict=True)

    @contextlib.contextmanager
    def session(self) -> Iterator[None]:
        """One command or one consumer batch, run on the application's one writer thread.

        Inside it, `get_or_none` lends aggregates from the cache without the repository's
        deep copy (the costliest part of a load). The copy is there so that a failed or
        abandoned change never leaves the cached aggregate altered; the session keeps that
        promise instead: when the block raises, or leaves a lent aggregate with unsaved
        events, those aggregates are evicted and the next load reads the store. A save that
        fails evicts what it tried to write (`_record`). Changes made outside events are not
        caught: domain objects change only through events. Sessions nest (the outer wins).
        """
        if self._lent is not None or self.repository.cache is None:
            yield
            return
        lent: dict[UUID, Aggregate] = {}
        self._lent = lent
        ok = False
        try:
            yield
            ok = True
        finally:
            self._lent = None
            self._evict(
                aggregate_id for aggregate_id, aggregate in lent.items()
                if not ok or getattr(aggregate, "pending_events", None)
            )

    def record_processed(
        self, aggregates: Iterable[Aggregate], tracking: Tracking
    ) -> list[Recording[UUID]]:
        """Write the pending events of `aggregates` and `tracking` in one transaction."""
        processing: ProcessingEvent[UUID] = ProcessingEvent(tracking=tracking)
        processing.collect_events(*aggregates)
        recordings = self._record(processing)
        self._notify(recordings)
        return recordings

    def tracked_position(self, upstream: str) -> int:
        """The last upstream position recorded for `upstream` (0 when none)."""
        return self.process_recorder.max_tracking_id(upstream) or 0

    def notifications(self, start: int, limit: int) -> Sequence[Notification]:
        return self.recorder.select_notifications(start=start, limit=limit)

    def events_stored(self) -> int:
        return self.recorder.max_notification_id() or 0

    def get_or_none(self, aggregate_id: UUID) -> Any:
        """The aggregate, or None when it does not exist."""
        from eventsourcing.application import AggregateNotFoundError

        lent = self._lent
        try:
            if lent is None:
                return self.repository.get(aggregate_id)
            aggregate: Aggregate = self.repository.get(aggregate_id, deepcopy_from_cache=False)
        except AggregateNotFoundError:
            return None
        lent[aggregate_id] = aggregate
        return aggregate
