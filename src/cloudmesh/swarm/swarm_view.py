"""The swarm as our facts show it: its leader, the node row of a host, quorum arithmetic.

Pure (facts in, answers out), so that status, configure, nodes, membership and verify
agree on one reading instead of four. Raft: M managers need a majority (M//2 + 1) reachable,
so they tolerate the loss of (M-1)//2.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass

from cloudmesh.swarm.facts import HostFacts, NodeRow


def active_managers(facts: Mapping[str, HostFacts], managers: Sequence[str]) -> list[str]:
    """Inventory managers that are active managers of a swarm now, in inventory order."""
    return [name for name in managers
            if (f := facts.get(name)) and f.swarm and f.swarm.local_state == "active"
            and f.swarm.is_manager]


def leader_of(facts: Mapping[str, HostFacts], managers: Sequence[str]) -> str | None:
    """The inventory host that is the swarm leader, else any active manager of ours."""
    active = active_managers(facts, managers)
    for name in active:
        if any(row.self and row.is_leader for row in facts[name].nodes):
            return name
    return active[0] if active else None


def rows_of(facts: Mapping[str, HostFacts], managers: Sequence[str]) -> tuple[NodeRow, ...]:
    """The swarm's node list as the leader (or an active manager) sees it."""
    leader = leader_of(facts, managers)
    return facts[leader].nodes if leader else ()


def own_row(rows: Iterable[NodeRow], facts: HostFacts | None) -> NodeRow | None:
    """The row of a reachable host by the node ID it reports itself; None when it reports
    none, or one the swarm does not list (it is in another swarm)."""
    node_id = facts.swarm.node_id if facts and facts.swarm else ""
    return next((row for row in rows if row.id == node_id), None) if node_id else None


def node_row(rows: Iterable[NodeRow], facts: HostFacts | None, names: Collection[str],
             addresses: Collection[str]) -> NodeRow | None:
    """A host's row: by its own node ID; when it cannot be reached or has left the swarm,
    by its address or hostname (`names`), and then only an entry that is not Ready (a
    reachable host outside the swarm is not the Ready node at its address)."""
    if facts and facts.swarm and facts.swarm.node_id:
        return own_row(rows, facts)
    return next((row for row in rows
                 if (row.addr in addresses or row.hostname in names)
                 and (facts is None or row.status != "Ready")), None)


@dataclass(frozen=True)
class Quorum:
    """Managers of a swarm and how many of them are reachable (Leader or Reachable)."""

    managers: int
    reachable: int
    unreachable: tuple[str, ...] = ()  # hostnames, sorted

    @property
    def held(self) -> bool:
        """A majority of the managers is reachable: the swarm can change."""
        return self.reachable > self.managers // 2

    @property
    def tolerates(self) -> int:
        """How many more managers may fail before quorum is lost."""
        return max(0, self.reachable - (self.managers // 2 + 1))

    def without(self, rows: Iterable[NodeRow]) -> Quorum:
        """The quorum after these manager rows leave (removed or demoted)."""
        gone = [row for row in rows if row.is_manager]
        reachable = sum(1 for row in gone if reachable_manager(row))
        names = tuple(sorted(set(self.unreachable) - {r.hostname for r in gone if not reachable_manager(r)}))
        return Quorum(self.managers - len(gone), self.reachable - reachable, names)


def reachable_manager(row: NodeRow) -> bool:
    return row.manager_status in ("Leader", "Reachable")


def quorum(rows: Iterable[NodeRow]) -> Quorum:
    """The quorum of the swarm whose node list is `rows`."""
    managers = [row for row in rows if row.is_manager]
    reachable = [row for row in managers if reachable_manager(row)]
    return Quorum(len(managers), len(reachable),
                  tuple(sorted(r.hostname for r in managers if not reachable_manager(r))))


def count_problem(op: str, managers: int) -> str:
    """Why a manager count after promote/demote is refused ("" when it is fine): none left,
    or an even count, which tolerates no more failures than one fewer."""
    if managers < 1:
        return f"{op}: that would leave no manager; the swarm needs one"
    if managers % 2 == 0:
        return (f"{op}: that would leave {managers} managers, an even count that tolerates no "
                "more failures than one fewer; use --force, or rebalance")
    return ""
