"""Day-two node operations: the manager count rebalance aims at, and the cluster builder other
node tests share. Plans per operation are the cases in data/plans/nodes/ and hostname/."""

from __future__ import annotations

import pytest

from cloudmesh.swarm.phases.nodes import rebalance_target

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


@pytest.mark.parametrize("ready,target", [(1, 1), (2, 1), (3, 3), (4, 3), (5, 5), (6, 5), (12, 5)])
def test_rebalance_target(ready: int, target: int) -> None:
    assert rebalance_target(ready) == target


