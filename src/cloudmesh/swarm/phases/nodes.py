"""Day-two node operations, run on the leader: promote, demote, drain, activate, label,
rebalance. Each is planned from the leader's node list, so a re-run changes nothing.

Quorum rule (Raft): a swarm with M managers survives the loss of (M-1)//2 of them, so an
even count adds risk without adding tolerance, and losing a majority stops the swarm.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from cloudmesh.swarm.facts import NodeRow
from cloudmesh.swarm.phase_context import Context
from cloudmesh.swarm.phases import Phase, leader_batch, no_swarm_problem
from cloudmesh.swarm.plan import Batch, Plan, Problem, Step
from cloudmesh.swarm.swarm_view import count_problem, quorum

OPS = ("promote", "demote", "drain", "activate", "label", "rebalance")


def rebalance_target(ready: int) -> int:
    """Managers for `ready` nodes: odd, at most 5 (1-2 -> 1, 3-4 -> 3, 5+ -> 5)."""
    return max(1, min(5, ready if ready % 2 else ready - 1))


@dataclass(frozen=True)
class NodeOpsPhase(Phase):
    """One node operation on some inventory hosts (`targets`), planned for the leader."""

    op: str
    targets: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()  # "key=value" to set, "key-" to remove
    force: bool = False

    @property
    def title(self) -> str:  # type: ignore[override]  # computed where Phase has a plain str
        return "Rebalance managers" if self.op == "rebalance" else f"{self.op.capitalize()} nodes"

    def problems(self, ctx: Context, host: str) -> list[Problem]:
        if ctx.leader() is None:
            return no_swarm_problem(ctx, host)
        if host in self.targets and ctx.node_of(host) is None:
            return [Problem("is not a node of this swarm", "cms-swarm add HOST, or create")]
        if host == ctx.leader() and (refused := self._count_refused(ctx)):
            return [Problem(refused, refused=True)]  # said once; exit 2, nothing changed
        return []

    def _count_refused(self, ctx: Context) -> str:
        """Promote/demote that leave no manager or an even count are refused unless --force."""
        if self.op not in ("promote", "demote") or self.force:
            return ""
        rows = [row for row in (ctx.node_of(name) for name in self.targets) if row is not None]
        changed = [row for row in rows if row.is_manager == (self.op == "demote")]
        if not changed:
            return ""
        managers = quorum(ctx.node_rows()).managers + (len(changed) if self.op == "promote" else -len(changed))
        return count_problem(self.op, managers)

    def batches(self, ctx: Context) -> list[Batch]:
        return leader_batch(ctx, self.op)

    def plan(self, ctx: Context, host: str, stage: str) -> Plan:
        if self.op == "rebalance":
            return self._rebalance(ctx)
        steps: list[Step] = []
        for name in self.targets:
            row = ctx.node_of(name)
            if row is None:
                continue
            if self.op == "promote" and not row.is_manager:
                steps.append(Step(f"promote {name}", f"docker node promote {row.id}", sudo=True))
            elif self.op == "demote" and row.is_manager:
                steps.append(Step(f"demote {name}", f"docker node demote {row.id}", sudo=True))
            elif self.op in ("drain", "activate") and row.availability.lower() != _availability(self.op):
                steps.append(Step(f"{self.op} {name}", f"docker node update --availability "
                                  f"{_availability(self.op)} {row.id}", sudo=True))
            elif self.op == "label":
                steps += _label_steps(name, row, self.labels)
        if not steps:
            return Plan.noop("nothing to change")
        return Plan(tuple(steps))

    def _rebalance(self, ctx: Context) -> Plan:
        rows = {row.id: row for row in ctx.node_rows()}
        ours = [(spec.name, ctx.node_of(spec.name)) for spec in ctx.inventory.hosts]
        ready = [(name, row) for name, row in ours if row and row.status == "Ready"]
        managers = [(name, row) for name, row in ours if row and row.is_manager]
        target = rebalance_target(len(ready))
        steps: list[Step] = []
        if len(managers) < target:
            for name, row in ready:
                if len(managers) + len(steps) >= target:
                    break
                if not row.is_manager and row.availability == "Active":
                    steps.append(Step(f"promote {name}", f"docker node promote {row.id}", sudo=True))
        elif len(managers) > target:
            # demote unreachable managers first, then the last ones in inventory order; never the leader
            last_first = managers[::-1]
            order = ([m for m in last_first if m[1].manager_status != "Reachable"]
                     + [m for m in last_first if m[1].manager_status == "Reachable"])
            for name, row in order:
                if len(managers) - len(steps) <= target:
                    break
                if not row.is_leader:
                    steps.append(Step(f"demote {name}", f"docker node demote {row.id}", sudo=True))
        if not steps:
            return Plan.noop(f"{len(managers)} managers for {len(ready)} ready nodes: balanced"
                             + ("" if len(rows) == len(ready) else f" ({len(rows) - len(ready)} not ready)"))
        return Plan(tuple(steps))


def _availability(op: str) -> str:
    return "drain" if op == "drain" else "active"


def _label_steps(name: str, row: NodeRow, labels: tuple[str, ...]) -> list[Step]:
    current = dict(row.labels)
    adds = [item for item in labels if "=" in item and current.get(item.split("=", 1)[0]) != item.split("=", 1)[1]]
    removes = [item[:-1] for item in labels if item.endswith("-") and item[:-1] in current]
    if not adds and not removes:
        return []
    flags = " ".join([*(f"--label-add {shlex.quote(a)}" for a in adds),
                      *(f"--label-rm {shlex.quote(r)}" for r in removes)])
    return [Step(f"label {name}: {', '.join([*adds, *(r + '-' for r in removes)])}",
                 f"docker node update {flags} {row.id}", sudo=True)]
