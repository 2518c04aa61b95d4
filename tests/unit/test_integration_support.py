"""What the integration tests stand on: the one bounded wait (returns what held, fails loudly
with what it last saw) and the hook that runs tests marked `last` after all others."""

from __future__ import annotations

import time

import pytest

from tests.integration.cli import eventually
from tests.integration.conftest import pytest_collection_modifyitems


def test_returns_the_first_value_that_holds() -> None:
    seen = iter([0, 1, 2, 3])
    assert eventually("three", lambda: next(seen), seconds=5, interval=0.01, until=lambda n: n == 2) == 2
    assert eventually("truthy", lambda: "up", seconds=0) == "up"


def test_gives_up_after_the_deadline_naming_what_and_the_last_value() -> None:
    start = time.monotonic()
    with pytest.raises(AssertionError) as failed:
        eventually("pi3 Ready", lambda: {"pi3": "Down"}, seconds=0.2, interval=0.05,
                   until=lambda seen: seen["pi3"] == "Ready")
    assert 0.2 <= time.monotonic() - start < 2
    assert str(failed.value) == "gave up waiting for pi3 Ready after 0.2 s; last saw: {'pi3': 'Down'}"


def test_an_error_in_the_check_ends_the_wait_at_once() -> None:
    def check() -> bool:
        raise AssertionError("create ended before the moment to kill it")

    start = time.monotonic()
    with pytest.raises(AssertionError, match="create ended"):
        eventually("the moment", check, seconds=30)
    assert time.monotonic() - start < 1


class Item:
    def __init__(self, name: str, last: bool = False) -> None:
        self.name, self.last = name, last

    def get_closest_marker(self, name: str) -> object | None:
        return object() if name == "last" and self.last else None


def test_tests_marked_last_go_to_the_end_the_others_keep_their_order() -> None:
    items = [Item("a"), Item("secrets", last=True), Item("b"), Item("c")]
    pytest_collection_modifyitems(None, items)  # type: ignore[arg-type]
    assert [i.name for i in items] == ["a", "b", "c", "secrets"]
