"""What the integration tests stand on: the one bounded wait (returns what held, fails loudly
with what it last saw) and the hook that orders tests by what they need of the lab, `last` ones at the end."""

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


class Marker:
    def __init__(self, *args: str) -> None:
        self.args = args


class Item:
    def __init__(self, name: str, lab: str = "", last: bool = False) -> None:
        self.name, self.lab, self.last = name, lab, last

    def get_closest_marker(self, name: str) -> Marker | None:
        if name == "last":
            return Marker() if self.last else None
        return Marker(self.lab) if name == "lab" and self.lab else None


def test_tests_run_fresh_then_create_then_on_the_swarm_and_last_ones_at_the_end() -> None:
    """Named so that file order would get it wrong: the order comes from the markers."""
    items = [Item("a_secrets", last=True), Item("b_swarm", "swarm"), Item("c_lifecycle", "creates"),
             Item("d_check", "fresh"), Item("e_own_lab"), Item("f_swarm", "swarm")]
    pytest_collection_modifyitems(None, items)  # type: ignore[arg-type]
    assert [i.name for i in items] == ["d_check", "e_own_lab", "c_lifecycle", "b_swarm", "f_swarm",
                                       "a_secrets"]
