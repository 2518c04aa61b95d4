"""The Phase shape: facts in, problems and plans out; the runner does all I/O.

A phase is prepare, install, configure or reset: each says per host what is wrong
(`problems`), what it would run (`plan`), and in which order hosts go (`batches`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from cloudmesh.swarm.facts import HostFacts, NodeRow
from cloudmesh.swarm.inventory import HostSpec, Inventory
from cloudmesh.swarm.options import RunOptions
from cloudmesh.swarm.plan import Plan, Secret

if TYPE_CHECKING:
    from cloudmesh.swarm.transport import Transport


@dataclass(frozen=True)
class Problem:
    """One finding about one host; warnings are reported but do not fail the host."""

    message: str
    fix: str = ""
    warning: bool = False

    def __str__(self) -> str:
        return f"{self.message} (fix: {self.fix})" if self.fix else self.message


@dataclass(frozen=True)
class Batch:
    """Hosts that run a phase's stage together; `stage` lets one phase plan several kinds."""

    stage: str
    hosts: tuple[str, ...]


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

    def spec(self, name: str) -> HostSpec:
        return self.inventory.host(name)

    def role(self, name: str) -> str:
        return "manager" if name in self.managers else "worker"

    def ip(self, name: str) -> str:
        return self.addresses.get(name) or self.spec(name).address

    def swarm_managers(self) -> list[str]:
        """Inventory managers that are active managers of a swarm now, in inventory order."""
        return [
            name
            for name in self.managers
            if (f := self.facts.get(name)) and f.swarm and f.swarm.local_state == "active"
            and f.swarm.is_manager
        ]

    def leader(self) -> str | None:
        """The inventory host that is the swarm leader, else any active manager of ours."""
        active = self.swarm_managers()
        for name in active:
            if any(row.self and row.is_leader for row in self.facts[name].nodes):
                return name
        return active[0] if active else None

    def node_rows(self) -> tuple[NodeRow, ...]:
        """The swarm's node list as the leader (or an active manager) sees it."""
        leader = self.leader()
        return self.facts[leader].nodes if leader else ()

    def cluster_id(self) -> str:
        leader = self.leader()
        state = self.facts[leader].swarm if leader else None
        return state.cluster_id if state else ""


class Phase:
    """Base phase: no problems, one batch of all hosts; subclasses plan."""

    title = "phase"
    changes_hosts = True
    converges = True  # False: applying does not empty the plan (e.g. rotating tokens)

    def problems(self, ctx: Context, host: str) -> list[Problem]:
        return []

    def batches(self, ctx: Context) -> list[Batch]:
        return [Batch("all", tuple(h.name for h in ctx.inventory.hosts))]

    def plan(self, ctx: Context, host: str, stage: str) -> Plan:
        return Plan.noop("nothing to do")

    async def before_batch(self, ctx: Context, batch: Batch, transports: dict[str, Transport]) -> None:
        """Cluster-wide reads a batch needs that are not facts (e.g. join tokens)."""


def leader_batch(ctx: Context, stage: str) -> list[Batch]:
    """One batch on the swarm's leader (none without a swarm): for cluster-wide changes."""
    leader = ctx.leader()
    return [Batch(stage, (leader,))] if leader else []


def no_swarm_problem(ctx: Context, host: str) -> list[Problem]:
    """For commands that need a swarm: said once (on the first host) when there is none."""
    if ctx.leader() is None and host == ctx.inventory.hosts[0].name:
        return [Problem("no swarm found on these hosts", "cms-swarm create first")]
    return []
