"""ServiceApplication.session: aggregates lent from the cache without a deep copy, and the
cache never left holding a change that did not reach the store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from eventsourcing.domain import Aggregate, event

from tillstream.eventstore import ServiceApplication, event_store_env
from tillstream.settings import Settings


class Counter(Aggregate):
    def __init__(self) -> None:
        self.value = 0

    @event("Bumped")
    def bump(self) -> None:
        self.value += 1


@pytest.fixture
def app(tmp_path: Path) -> Iterator[ServiceApplication]:
    application = ServiceApplication(env=event_store_env(Settings(data_dir=tmp_path), "kit"))
    yield application
    application.close()


def test_failed_command_leaves_the_cache_as_the_store_has_it(app: ServiceApplication) -> None:
    counter = Counter()
    app.save(counter)
    with pytest.raises(RuntimeError), app.session():
        lent = app.get_or_none(counter.id)
        lent.bump()
        raise RuntimeError("refused after the change")
    assert app.get_or_none(counter.id).value == 0


def test_unsaved_change_is_evicted(app: ServiceApplication) -> None:
    counter = Counter()
    app.save(counter)
    with app.session():
        app.get_or_none(counter.id).bump()  # changed, never saved
    reloaded = app.get_or_none(counter.id)
    assert reloaded.value == 0 and not reloaded.pending_events


def test_saved_change_is_kept_and_lent_without_copy(app: ServiceApplication) -> None:
    counter = Counter()
    app.save(counter)
    with app.session():
        first = app.get_or_none(counter.id)
        assert app.get_or_none(counter.id) is first  # lent, not copied
        first.bump()
        app.save(first)
    assert app.get_or_none(counter.id).value == 1
    assert app.repository.get(counter.id).value == 1


def test_outside_a_session_loads_are_copies(app: ServiceApplication) -> None:
    counter = Counter()
    app.save(counter)
    assert app.get_or_none(counter.id) is not app.get_or_none(counter.id)
