"""What a phase may read: the Context of one command (inventory, options, facts, secrets).

Kept apart from the phases package so that the runner and the report need not import it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cloudmesh.swarm.facts import HostFacts, NodeRow
from cloudmesh.swarm.inventory import HostSpec, Inventory
from cloudmesh.swarm.options import RunOptions
from cloudmesh.swarm.plan import Secret
from cloudmesh.swarm.swarm_view import active_managers, leader_of, node_row, rows_of


@dataclass
class Context:
    """What a phase may read: inventory, options, managers and the latest facts of all hosts."""

    inventory: Inventory
    options: RunOptions
    managers: list[str]
    facts: dict[str, HostFacts] = field(default_factory=dict)
    addresses: dict[str, str] = field(default_factory=dict)  # host -> IP the SSH link reached
    clock_offsets: dict[str, float] = field(default_factory=dict)  # host clock - ours, seconds
    secrets: dict[str, Secret] = field(default_factory=dict)
    unchanged: bool = False  # set by the runner: no phase of this command changed a host so far

    def spec(self, name: str) -> HostSpec:
        return self.inventory.host(name)

    def role(self, name: str) -> str:
        return "manager" if name in self.managers else "worker"

    def ip(self, name: str) -> str:
        return self.addresses.get(name) or self.spec(name).address

    def swarm_managers(self) -> list[str]:
        """Inventory managers that are active managers of a swarm now, in inventory order."""
        return active_managers(self.facts, self.managers)

    def leader(self) -> str | None:
        """The inventory host that is the swarm leader, else any active manager of ours."""
        return leader_of(self.facts, self.managers)

    def node_rows(self) -> tuple[NodeRow, ...]:
        """The swarm's node list as the leader (or an active manager) sees it."""
        return rows_of(self.facts, self.managers)

    def node_of(self, host: str) -> NodeRow | None:
        """The leader's row for an inventory host (swarm_view.node_row)."""
        facts = self.facts.get(host)
        spec = self.spec(host)
        return node_row(self.node_rows(), facts, {spec.name, facts.hostname if facts else spec.name},
                        {spec.address, self.ip(host)})

    def cluster_id(self) -> str:
        leader = self.leader()
        state = self.facts[leader].swarm if leader else None
        return state.cluster_id if state else ""
