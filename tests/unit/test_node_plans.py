"""Day-two node operations and hostnames: facts in, steps out, quorum rules enforced."""

from __future__ import annotations

import pytest

from cloudmesh.swarm.errors import UsageError
from cloudmesh.swarm.phases.hostname import HostnamePhase
from cloudmesh.swarm.phases.nodes import NodeOpsPhase, rebalance_target

from .harness import context, descriptions, inventory
from .probes import node_row, probe, swarm_info


def cluster(n: int, managers: int, statuses: dict[int, str] | None = None,
            availability: dict[int, str] | None = None) -> dict[str, str]:
    """n hosts, the first `managers` of them managers, pi1 the leader."""
    rows = []
    for i in range(1, n + 1):
        row = node_row(f"n{i}", f"pi{i}", "Leader" if i == 1 else ("Reachable" if i <= managers else ""),
                       status=(statuses or {}).get(i, "Ready"), me=i == 1)
        if (statuses or {}).get(i) == "Down" and i <= managers:
            row["ManagerStatus"] = "Unreachable"
        row["Availability"] = (availability or {}).get(i, "Active")
        rows.append(row)
    probes = {}
    for i in range(1, n + 1):
        manager = i <= managers
        probes[f"pi{i}"] = probe(hostname=f"pi{i}", docker="20.10.24",
                                 swarm=swarm_info(f"n{i}", manager),
                                 nodes=rows if i == 1 else ([r for r in rows] if manager else None))
    return probes


def plan_of(op: str, probes: dict[str, str], targets: tuple[str, ...] = (), **kw: object):  # type: ignore[no-untyped-def]
    n = len(probes)
    ctx = context(inventory(n), probes)
    phase = NodeOpsPhase(op, targets, **kw)  # type: ignore[arg-type]
    assert [b.hosts for b in phase.batches(ctx)] == [("pi1",)]
    return phase.plan(ctx, "pi1", op), phase, ctx


def test_drain_and_activate_are_idempotent() -> None:
    plan, _, _ = plan_of("drain", cluster(3, 3), ("pi3",))
    assert descriptions(plan) == ["drain pi3"] and "--availability drain n3" in plan.steps[0].command
    plan, _, _ = plan_of("drain", cluster(3, 3, availability={3: "Drain"}), ("pi3",))
    assert plan.reason == "nothing to change"
    plan, _, _ = plan_of("activate", cluster(3, 3, availability={3: "Drain"}), ("pi3",))
    assert descriptions(plan) == ["activate pi3"]


def test_promote_and_demote_keep_an_odd_manager_count() -> None:
    plan, _, _ = plan_of("promote", cluster(5, 3), ("pi4", "pi5"))
    assert descriptions(plan) == ["promote pi4", "promote pi5"]
    with pytest.raises(UsageError, match="would leave 4 managers"):
        plan_of("promote", cluster(5, 3), ("pi4",))
    plan, _, _ = plan_of("promote", cluster(5, 3), ("pi4",), force=True)
    assert descriptions(plan) == ["promote pi4"]
    with pytest.raises(UsageError, match="would leave 2 managers"):
        plan_of("demote", cluster(3, 3), ("pi3",))
    with pytest.raises(UsageError, match="no manager"):
        plan_of("demote", cluster(2, 1), ("pi1",), force=False)
    plan, _, _ = plan_of("demote", cluster(3, 1), ("pi3",))
    assert plan.reason == "nothing to change"  # already a worker


def test_labels_set_and_remove_only_what_differs() -> None:
    probes = cluster(3, 3)
    plan, _, _ = plan_of("label", probes, ("pi2",), labels=("disk=ssd", "gone-"))
    assert descriptions(plan) == ["label pi2: disk=ssd"]
    assert "--label-add disk=ssd n2" in plan.steps[0].command


def test_a_target_outside_the_swarm_is_a_problem() -> None:
    probes = cluster(3, 3)
    probes["pi3"] = probe(hostname="pi3", docker="20.10.24")
    ctx = context(inventory(3), probes)
    phase = NodeOpsPhase("drain", ("pi3",))
    assert [p.message for p in phase.problems(ctx, "pi3")] == ["is not a node of this swarm"]


@pytest.mark.parametrize("ready,target", [(1, 1), (2, 1), (3, 3), (4, 3), (5, 5), (6, 5), (12, 5)])
def test_rebalance_target(ready: int, target: int) -> None:
    assert rebalance_target(ready) == target


def test_rebalance_promotes_up_to_the_target_and_demotes_down_first() -> None:
    plan, _, _ = plan_of("rebalance", cluster(5, 3))
    assert descriptions(plan) == ["promote pi4", "promote pi5"]
    plan, _, _ = plan_of("rebalance", cluster(4, 3))
    assert plan.reason.startswith("3 managers for 4 ready nodes: balanced")
    plan, _, _ = plan_of("rebalance", cluster(3, 3, statuses={3: "Down"}))  # 2 ready -> 1 manager
    assert descriptions(plan) == ["demote pi3", "demote pi2"]  # the unreachable one first, never pi1


def test_hostname_sets_name_and_loopback_line_once() -> None:
    ctx = context(inventory(1), {"pi1": probe(hostname="raspberrypi")})
    step = HostnamePhase().plan(ctx, "pi1", "all").steps[0]
    assert step.description == "set hostname raspberrypi -> pi1" and step.sudo
    assert "hostnamectl set-hostname pi1" in step.command and "127.0.1.1" in step.command
    ctx = context(inventory(1), {"pi1": probe(hostname="pi1", extra={"loopback-name": "pi1"})})
    assert HostnamePhase().plan(ctx, "pi1", "all").reason == "hostname is pi1"
