"""The one swarm view: leader, a host's node row, quorum arithmetic (pure, facts in)."""

from __future__ import annotations

import pytest

from cloudmesh.swarm.facts import NodeRow
from cloudmesh.swarm.swarm_view import count_problem, quorum

from .harness import context, inventory
from .test_node_plans import cluster


def rows(*statuses: str) -> list[NodeRow]:
    """Manager rows with these manager statuses (Leader, Reachable, Unreachable), pi1.."""
    return [NodeRow(f"n{i}", f"pi{i}", "Ready", "Active", s, "27.0", i == 1)
            for i, s in enumerate(statuses, 1)]


@pytest.mark.parametrize("statuses,held,tolerates", [
    (("Leader",), True, 0),
    (("Leader", "Reachable", "Reachable"), True, 1),
    (("Leader", "Reachable", "Unreachable"), True, 0),
    (("Leader", "Unreachable", "Unreachable"), False, 0),
    (("Leader", "Reachable", "Reachable", "Reachable", "Reachable"), True, 2),
    (("Leader", "Reachable", "Unreachable", "Unreachable"), False, 0),
])
def test_quorum_is_a_majority_and_tolerates_the_rest(statuses: tuple[str, ...], held: bool,
                                                     tolerates: int) -> None:
    found = quorum(rows(*statuses))
    assert (found.held, found.tolerates) == (held, tolerates)
    assert found.unreachable == tuple(f"pi{i}" for i, s in enumerate(statuses, 1) if s == "Unreachable")


def test_without_some_managers_counts_what_is_left() -> None:
    three = rows("Leader", "Reachable", "Unreachable")
    left = quorum(three).without([three[1]])
    assert (left.managers, left.reachable, left.held, left.unreachable) == (2, 1, False, ("pi3",))
    assert quorum(three).without([three[2]]).held  # losing the unreachable one keeps quorum


def test_count_rule() -> None:
    assert count_problem("demote", 0) == "demote: that would leave no manager; the swarm needs one"
    assert count_problem("promote", 4).startswith("promote: that would leave 4 managers, an even count")
    assert count_problem("promote", 5) == ""


def test_leader_and_the_row_of_a_host_by_id_or_by_address_when_unreachable() -> None:
    probes = cluster(4, 3, statuses={4: "Down"})
    ctx = context(inventory(4), probes)
    assert ctx.leader() == "pi1"
    row = ctx.node_of("pi2")
    assert row is not None and row.id == "n2"
    del ctx.facts["pi4"]  # unreachable: its entry by hostname (not Ready)
    row = ctx.node_of("pi4")
    assert row is not None and row.id == "n4"
