"""Event-store wiring for every service's eventsourcing Application.

SQLite file per service under the data directory by default; PostgreSQL (a schema per service)
when a DSN is configured; the AES-GCM payload cipher whenever a key is configured. Everything
goes through eventsourcing's own persistence modules.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, ClassVar, TypeVar
from uuid import UUID

from eventsourcing.application import Application, ProcessingEvent
from eventsourcing.domain import (
    Aggregate,
    BaseAggregate,
    CollectEventsProtocol,
    DomainEventProtocol,
)
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
T = TypeVar("T")

log = logging.getLogger(__name__)


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

    Durability: on SQLite eventsourcing opens the file in WAL mode and leaves `synchronous`
    at SQLite's default, FULL: a commit is fsynced before `save` returns, so a command is
    answered only once its events are on disk. Group commit (`group`) keeps that and shares
    one fsync among the commands that waited for the database thread together.
    """

    #: Whether commands may have their saves deferred to a group commit: true only when no
    #: command needs `save` durable before it goes on (a write-ahead record before asking an
    #: outside party, as payments does before its acquirer; an IntegrityError caught from
    #: `save` is fine: the group falls back to one by one and the command sees it then).
    group_commit: ClassVar[bool] = False

    def __init__(self, env: dict[str, str] | None = None) -> None:
        super().__init__(env)
        self._listeners: list[Callable[[], None]] = []
        #: Aggregates lent uncopied from the cache in the current `session` (None: none open).
        self._lent: dict[UUID, Aggregate] | None = None
        #: The command group being run (see `group`), None outside one.
        self._group: CommandGroup | None = None

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

    def save(self, *objs: Any, **kwargs: Any) -> list[Recording[UUID]]:
        """Save at once, or, inside a command of a `group`, stage the events for its commit
        (nothing recorded yet: the group's one transaction records them)."""
        group = self._group
        if group is None or group.staged is None:
            return super().save(*objs, **kwargs)
        group.stage(objs, kwargs)
        return []

    @staticmethod
    def _stamp_trace(events: Sequence[Any]) -> None:
        """Stamp the current trace context on new events, so the relay can carry it on."""
        traceparent = current_traceparent().get("traceparent")
        if traceparent:
            for domain_event in events:
                domain_event.__dict__.setdefault("traceparent", traceparent)

    @contextlib.contextmanager
    def group(self) -> Iterator[CommandGroup]:
        """Run several commands as one group and save them in one transaction (group commit).

        Why: each command committing on its own makes every command wait for its own fsync,
        and under load commands queue behind each other's. See `CommandGroup`.
        """
        if self._group is not None or self._lent is not None:
            raise RuntimeError("a command group does not nest in a session or another group")
        group = CommandGroup(self)
        self._group = group
        try:
            yield group
        finally:
            self._group = None
            if not group.committed:
                group.forget()

    def _record(self, processing_event: ProcessingEvent[UUID]) -> list[Recording[UUID]]:
        self._stamp_trace(processing_event.events)
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
                aggregate_id
                for aggregate_id, aggregate in lent.items()
                if not ok or getattr(aggregate, "pending_events", None)
            )

    def record_processed(
        self, aggregates: Iterable[Aggregate], tracking: Tracking
    ) -> list[Recording[UUID]]:
        """Write the pending events of `aggregates` and `tracking` in one transaction."""
        processing: ProcessingEvent[UUID] = ProcessingEvent(tracking=tracking)
        collect_pending(processing, aggregates)
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
        group = self._group
        written = group.written(aggregate_id) if group is not None else None
        if written is not None:
            # Changed by an earlier command of the group, not in the store yet: that command's
            # state is what this one must see (ordering per aggregate).
            if lent is not None:
                lent[aggregate_id] = written
            return written
        try:
            if lent is None:
                return self.repository.get(aggregate_id)
            aggregate: Aggregate = self.repository.get(aggregate_id, deepcopy_from_cache=False)
        except AggregateNotFoundError:
            return None
        lent[aggregate_id] = aggregate
        return aggregate


def collect_pending(processing: ProcessingEvent[UUID], objs: Iterable[Any]) -> None:
    """`processing.collect_events(*objs)` without its two protocol checks per object.

    Why: eventsourcing asks of each object `isinstance(obj, DomainEventProtocol)` and then
    `isinstance(obj, CollectEventsProtocol)`, runtime-checkable protocols that Python 3.11
    checks slowly (7-18% of a consumer batch in profiles). For an eventsourcing aggregate the
    answers do not change from one instance of a class to the next (no, not an event; yes, it
    collects), so they are asked once per class and the aggregate goes straight to what the
    library then does. Anything else (an event, None, another object) goes the library's way.
    """
    events, aggregates = processing.events, processing.aggregates
    for obj in objs:
        if isinstance(obj, BaseAggregate) and _plain_aggregate(obj):
            events.extend(obj.collect_events())
            aggregates[obj.id] = obj
        else:
            processing.collect_events(obj)


_PLAIN_AGGREGATE: dict[type, bool] = {}


def _plain_aggregate(obj: BaseAggregate[Any]) -> bool:
    """Whether eventsourcing would collect `obj` as an aggregate (not as an event)."""
    plain = _PLAIN_AGGREGATE.get(type(obj))
    if plain is None:
        plain = not isinstance(obj, DomainEventProtocol) and isinstance(obj, CollectEventsProtocol)
        _PLAIN_AGGREGATE[type(obj)] = plain
    return plain


class CommandGroup:
    """Commands run one after another on the writer thread, committed in one transaction.

    Each command runs with its own failure isolation: its saves are staged, and join the
    group's events only when it returns; when it raises, its staged events are dropped and
    the aggregates it touched are evicted from the cache (as a failed `session` does). The
    group's events are then recorded by ONE `_record` (one insert, one commit, one fsync),
    and only after that may the caller reply to any of the commands.

    When a failing command (or one that leaves unsaved changes) touched an aggregate that an
    earlier command of the group changed, that aggregate cannot be put back to the earlier
    command's state: the group is spoiled, `commit` records nothing and returns False, and
    the caller runs the commands again one by one. The same when the commit fails (e.g. an
    optimistic-concurrency conflict): nothing of the group reached the store, every
    aggregate it wrote is evicted, and the caller falls back to one by one.

    Commands must write through `save` (a command calling `record_processed` would commit
    on its own, outside the group).
    """

    def __init__(self, app: ServiceApplication) -> None:
        self.app = app
        #: the events of the commands that succeeded so far, in order
        self.processing: ProcessingEvent[UUID] = ProcessingEvent()
        #: the saves of the running command (None between commands)
        self.staged: ProcessingEvent[UUID] | None = None
        self.spoiled = False
        self.committed = False
        self.commands = 0

    def written(self, aggregate_id: UUID) -> Aggregate | None:
        """The aggregate as saved by the running command or an earlier one of the group."""
        staged = self.staged
        if staged is not None and aggregate_id in staged.aggregates:
            return staged.aggregates[aggregate_id]  # type: ignore[return-value]
        return self.processing.aggregates.get(aggregate_id)  # type: ignore[return-value]

    def stage(self, objs: Sequence[Any], kwargs: dict[str, Any]) -> None:
        """`save` inside a command: collect the pending events, stamped with its trace."""
        staged = self.staged
        assert staged is not None
        before = len(staged.events)
        collect_pending(staged, objs)
        staged.saved_kwargs.update(kwargs)
        self.app._stamp_trace(staged.events[before:])

    def run(self, fn: Callable[..., T], *args: Any) -> T:
        """`fn(*args)` as one command of the group; its exception is raised again after its
        changes are discarded."""
        app = self.app
        if self.spoiled or self.committed:
            raise RuntimeError("the command group is spoiled or committed already")
        staged: ProcessingEvent[UUID] = ProcessingEvent()
        lent: dict[UUID, Aggregate] = {}
        self.staged, app._lent = staged, lent
        try:
            result = fn(*args)
        except BaseException:
            self._discard(set(lent) | set(staged.aggregates))
            raise
        finally:
            self.staged, app._lent = None, None
        # As a session: a change a command made but did not save is dropped.
        unsaved = {i for i, a in lent.items() if getattr(a, "pending_events", None)}
        unsaved |= {i for i, a in staged.aggregates.items() if getattr(a, "pending_events", None)}
        if unsaved & staged.aggregates.keys():
            self.spoiled = True  # saved, then changed again: the staged object is ahead
        if unsaved:
            self._discard(unsaved)
        self.processing.events.extend(staged.events)
        self.processing.aggregates.update(staged.aggregates)
        self.processing.saved_kwargs.update(staged.saved_kwargs)
        self.commands += 1
        return result

    def _discard(self, aggregate_ids: set[UUID]) -> None:
        if aggregate_ids & self.processing.aggregates.keys():
            self.spoiled = True
        self.app._evict(aggregate_ids)

    def commit(self) -> bool:
        """Record the group's events in one transaction; False when nothing was recorded
        (spoiled, or the write failed) and the commands must be run again one by one."""
        if self.spoiled:
            return False
        self.committed = True
        if not self.processing.events:
            return True
        app = self.app
        try:
            recordings = app._record(self.processing)
        except Exception as exc:  # _record evicted what it tried to write
            log.info("group commit of %d commands failed (%r): one by one", self.commands, exc)
            self.committed = False
            return False
        app._take_snapshots(self.processing)
        app._notify(recordings)
        return True

    def forget(self) -> None:
        """Nothing of the group is in the store: evict everything it wrote."""
        self.app._evict(list(self.processing.aggregates))
