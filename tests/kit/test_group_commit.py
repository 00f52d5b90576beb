"""Group commit: commands waiting for the database thread run together and are committed in
one transaction; a failing command is isolated, replies come only after the commit, and a
group that cannot commit falls back to one command at a time."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.domain import Aggregate, event

from tillstream.bus import command_subject, connect
from tillstream.eventstore import ServiceApplication, event_store_env
from tillstream.grpcserver import DbRunner
from tillstream.natsserver import NatsServer
from tillstream.service import CommandError, ServiceDefinition, ServiceHost
from tillstream.settings import Settings
from tillstream.testing import ask_service, test_settings


class Counter(Aggregate):
    def __init__(self) -> None:
        self.value = 0
        self.seen: list[str] = []

    @event("Bumped")
    def bump(self, by: str = "") -> None:
        self.value += 1
        self.seen.append(by)


def store_path(tmp_path: Path) -> Path:
    return Settings(data_dir=tmp_path).service_dir("kit") / "events.sqlite"


class Grouping(ServiceApplication):
    """An application whose commands allow their saves to wait for a group commit."""

    group_commit = True


def new_app(tmp_path: Path) -> ServiceApplication:
    return Grouping(env=event_store_env(Settings(data_dir=tmp_path), "kit"))


@pytest.fixture
def app(tmp_path: Path) -> Iterator[ServiceApplication]:
    application = new_app(tmp_path)
    yield application
    application.close()


def stored_versions(tmp_path: Path, aggregate_id: UUID) -> list[int]:
    """The versions in the store, read through a connection of its own."""
    with sqlite3.connect(store_path(tmp_path)) as conn:
        rows = conn.execute(
            "SELECT originator_version FROM stored_events WHERE originator_id = ?"
            " ORDER BY originator_version",
            (aggregate_id.hex,),
        ).fetchall()
    return [row[0] for row in rows]


def count_inserts(app: ServiceApplication, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many events each insert (one transaction each) wrote."""
    inserts: list[int] = []
    recorder = app.recorder
    insert = recorder.insert_events

    def counted(events: Any, **kwargs: Any) -> Any:
        inserts.append(len(events))
        return insert(events, **kwargs)

    monkeypatch.setattr(recorder, "insert_events", counted)
    return inserts


def bump(app: ServiceApplication, counter_id: UUID, by: str = "") -> int:
    counter = app.get_or_none(counter_id)
    counter.bump(by)
    app.save(counter)
    return int(counter.value)


def bump_then_refuse(app: ServiceApplication, counter_id: UUID) -> int:
    app.get_or_none(counter_id).bump("refused")
    raise ValueError("refused after the change")


def test_sqlite_store_is_wal_with_full_sync(app: ServiceApplication) -> None:
    """The durability the replies rely on: every commit is on disk (synchronous=FULL, 2)."""
    with app.recorder.datastore.transaction(commit=False) as cursor:  # type: ignore[attr-defined]
        cursor.execute("PRAGMA journal_mode")
        assert cursor.fetchone()[0] == "wal"
        cursor.execute("PRAGMA synchronous")
        assert cursor.fetchone()[0] == 2


def test_failing_command_is_discarded_and_the_others_commit_together(
    app: ServiceApplication, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b, c = Counter(), Counter(), Counter()
    app.save(a, b, c)
    inserts = count_inserts(app, monkeypatch)
    with app.group() as group:
        assert group.run(bump, app, a.id) == 1
        with pytest.raises(ValueError, match="refused"):
            group.run(bump_then_refuse, app, c.id)
        assert group.run(bump, app, b.id) == 1
        assert stored_versions(tmp_path, a.id) == [1]  # nothing written before the commit
        assert group.commit()
    assert inserts == [2]  # one transaction for both commands' events
    assert stored_versions(tmp_path, a.id) == [1, 2]
    assert stored_versions(tmp_path, b.id) == [1, 2]
    assert stored_versions(tmp_path, c.id) == [1]
    assert app.get_or_none(c.id).value == 0  # the cache does not keep the refused change
    assert app.get_or_none(a.id).value == 1


def test_commands_of_a_group_see_each_others_changes_in_order(
    app: ServiceApplication, tmp_path: Path
) -> None:
    """Ordering per aggregate: one created and changed twice within one group."""
    created: list[UUID] = []

    def create() -> None:
        counter = Counter()
        app.save(counter)
        created.append(counter.id)

    with app.group() as group:
        group.run(create)
        group.run(bump, app, created[0], "first")
        group.run(bump, app, created[0], "second")
        assert group.commit()
    assert stored_versions(tmp_path, created[0]) == [1, 2, 3]
    reloaded = new_app(tmp_path)
    try:
        assert reloaded.repository.get(created[0]).seen == ["first", "second"]
    finally:
        reloaded.close()


def test_failure_on_an_aggregate_changed_earlier_in_the_group_spoils_it(
    app: ServiceApplication, tmp_path: Path
) -> None:
    """Its state before the failing command is not in the store: nothing is committed, the
    cache forgets, and the caller has to run the commands one by one."""
    counter = Counter()
    app.save(counter)
    with app.group() as group:
        group.run(bump, app, counter.id)
        with pytest.raises(ValueError):
            group.run(bump_then_refuse, app, counter.id)
        assert group.spoiled
        assert not group.commit()
    assert stored_versions(tmp_path, counter.id) == [1]
    assert app.get_or_none(counter.id).value == 0


async def test_runner_groups_waiting_commands_and_replies_after_the_commit(
    app: ServiceApplication, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    counters = [Counter() for _ in range(5)]
    app.save(*counters)
    inserts = count_inserts(app, monkeypatch)
    with ThreadPoolExecutor(1) as executor:
        runner = DbRunner(executor, app)
        seen_at_reply: dict[int, list[int]] = {}

        async def command(n: int) -> int:
            value = await runner.call(bump, app, counters[n].id)
            # The reply came: the change is in the store, seen through another connection.
            seen_at_reply[n] = stored_versions(tmp_path, counters[n].id)
            return value

        async def refused() -> int:
            return await runner.call(bump_then_refuse, app, counters[4].id)

        gate = threading.Event()
        blocker = asyncio.ensure_future(runner.call(gate.wait, 10))
        await asyncio.sleep(0.05)
        tasks = [asyncio.ensure_future(command(n)) for n in range(4)]
        tasks.insert(2, asyncio.ensure_future(refused()))
        await asyncio.sleep(0.05)
        gate.set()
        assert await blocker
        outcomes = await asyncio.gather(*tasks, return_exceptions=True)
    assert outcomes[:2] == [1, 1] and outcomes[3:] == [1, 1]
    assert isinstance(outcomes[2], ValueError)
    assert seen_at_reply == {n: [1, 2] for n in range(4)}
    assert inserts == [4]  # the blocker wrote nothing; the group of five, one transaction
    assert (runner.groups, runner.grouped_calls, runner.fallbacks) == (1, 5, 0)
    assert stored_versions(tmp_path, counters[4].id) == [1]


async def test_group_that_cannot_commit_runs_its_commands_one_by_one(
    app: ServiceApplication, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A conflict at the commit (another writer got to an aggregate first): nothing of the
    group is stored, and each command runs again on its own against the store."""
    contested, other = Counter(), Counter()
    app.save(contested, other)
    assert app.get_or_none(contested.id).value == 0  # cached at version 1
    rival = new_app(tmp_path)
    try:
        bump(rival, contested.id, "rival")  # version 2, behind the cache's back
    finally:
        rival.close()
    inserts = count_inserts(app, monkeypatch)
    with ThreadPoolExecutor(1) as executor:
        runner = DbRunner(executor, app)
        gate = threading.Event()
        blocker = asyncio.ensure_future(runner.call(gate.wait, 10))
        await asyncio.sleep(0.05)
        tasks = [
            asyncio.ensure_future(runner.call(bump, app, other.id, "other")),
            asyncio.ensure_future(runner.call(bump, app, contested.id, "ours")),
        ]
        await asyncio.sleep(0.05)
        gate.set()
        await blocker
        outcomes = await asyncio.gather(*tasks)
    assert outcomes == [1, 2]  # the contested one counted the rival's bump when run again
    assert inserts == [2, 1, 1]  # the failed group, then one transaction each
    assert (runner.groups, runner.fallbacks) == (0, 1)
    assert stored_versions(tmp_path, contested.id) == [1, 2, 3]
    assert stored_versions(tmp_path, other.id) == [1, 2]
    assert app.repository.get(contested.id).seen == ["rival", "ours"]


async def test_lone_call_runs_at_once_in_its_own_session(
    app: ServiceApplication, tmp_path: Path
) -> None:
    counter = Counter()
    app.save(counter)
    with ThreadPoolExecutor(1) as executor:
        runner = DbRunner(executor, app)
        assert await runner.call(bump, app, counter.id) == 1
        with pytest.raises(ValueError):
            await runner.call(bump_then_refuse, app, counter.id)
    assert runner.groups == 0
    assert stored_versions(tmp_path, counter.id) == [1, 2]
    assert app.get_or_none(counter.id).value == 1


async def test_application_without_group_commit_commits_each_call_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """E.g. payments: its write-ahead save must be on disk before the acquirer is asked."""
    app = ServiceApplication(env=event_store_env(Settings(data_dir=tmp_path), "kit"))
    try:
        counters = [Counter() for _ in range(3)]
        app.save(*counters)
        inserts = count_inserts(app, monkeypatch)
        with ThreadPoolExecutor(1) as executor:
            runner = DbRunner(executor, app)
            gate = threading.Event()
            blocker = asyncio.ensure_future(runner.call(gate.wait, 10))
            await asyncio.sleep(0.05)
            tasks = [asyncio.ensure_future(runner.call(bump, app, c.id)) for c in counters]
            await asyncio.sleep(0.05)
            gate.set()
            await blocker
            assert await asyncio.gather(*tasks) == [1, 1, 1]
        assert inserts == [1, 1, 1] and runner.groups == 0
    finally:
        app.close()


async def test_commands_of_one_subject_over_nats_are_committed_in_groups(
    nats: NatsServer, tmp_path: Path
) -> None:
    """The host answers each command in a task of its own, so the commands of one subject
    (every lane's add_line) reach the database thread together; each reply only once its
    change is committed, a refused one answered with its refusal."""
    app = new_app(tmp_path)
    counter = Counter()
    app.save(counter)

    def handle_bump(body: dict[str, Any]) -> dict[str, Any]:
        if body["n"] % 5 == 0:
            raise CommandError("every fifth is refused", "refused")
        time.sleep(0.005)  # a command's work: the others queue meanwhile
        return {"value": bump(app, counter.id, str(body["n"]))}

    definition = ServiceDefinition(name="kit", app=app, commands={"bump": handle_bump})
    host = ServiceHost(definition, test_settings(tmp_path), nats.url)
    stop = asyncio.Event()
    running = asyncio.create_task(host.run(stop))
    nc = await connect(nats.url, "test-group-commit")
    try:
        first = await ask_service(nc, "kit", "bump", {"n": 1})
        assert first == {"ok": True, "value": 1}

        async def ask(n: int) -> dict[str, Any]:
            msg = await nc.request(
                command_subject("kit", "bump", "s001"), json.dumps({"n": n}).encode(), timeout=20
            )
            reply = dict(json.loads(msg.data))
            if reply["ok"]:  # committed before the reply: seen through another connection
                assert len(stored_versions(tmp_path, counter.id)) >= reply["value"] + 1
            return reply

        replies = await asyncio.gather(*(ask(n) for n in range(2, 42)))
    finally:
        await nc.close()
        stop.set()
        await running
    refused = [r for r in replies if not r["ok"]]
    assert len(refused) == 8 and all(r["error"]["code"] == "refused" for r in refused)
    values = sorted(r["value"] for r in replies if r["ok"])
    assert values == list(range(2, 34))  # each bump once, none lost, none twice
    assert host.db_runner.groups >= 1 and host.db_runner.grouped_calls > host.db_runner.groups
    assert stored_versions(tmp_path, counter.id) == list(range(1, 35))
    seen = new_app(tmp_path)
    try:
        order = [int(n) for n in seen.repository.get(counter.id).seen]
    finally:
        seen.close()
    assert order[0] == 1 and sorted(order) == [n for n in range(1, 42) if n % 5]
