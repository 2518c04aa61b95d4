"""Remove nodes from a running swarm without losing it or its services.

The order matters (Docker's admin guide): demote a manager first, drain it and wait until
its tasks run elsewhere, let it leave, and only then remove its entry on a manager. A host
that cannot be reached (a dead board) skips the leave and its entry is removed by force.
Removing the last manager, or managers whose loss breaks quorum, is refused unless --force.

The phase keeps no state: the node IDs of the targets are read from the facts before
anything ran and travel in the `rm` stage's name (afterwards a host no longer knows its own
ID), so --dry-run prints the removal that apply runs.
"""

from __future__ import annotations

from dataclasses import dataclass

from cloudmesh.swarm.facts import NodeRow
from cloudmesh.swarm.phase_context import Context
from cloudmesh.swarm.phases import Phase
from cloudmesh.swarm.plan import Batch, Plan, Problem, Step
from cloudmesh.swarm.swarm_view import quorum

WAIT_TASKS = 180  # seconds for the tasks of a drained node to stop
WAIT_CONVERGE = 60  # seconds for services to have all replicas running elsewhere


@dataclass(frozen=True)
class RemovePhase(Phase):
    targets: tuple[str, ...] = ()
    force: bool = False
    title = "Remove nodes"

    def _row(self, ctx: Context, name: str, stage: str = "") -> NodeRow | None:
        """The target's row: by the ID the stage carries (see batches), else node_of."""
        ids = dict(item.split("=", 1) for item in stage.partition(":")[2].split(",") if "=" in item)
        if name in ids:
            return next((r for r in ctx.node_rows() if r.id == ids[name]), None)
        return ctx.node_of(name)

    def problems(self, ctx: Context, host: str) -> list[Problem]:
        if host != self.targets[0]:
            return []
        if ctx.leader() is None:
            return [Problem("no swarm found among the other hosts", "nothing to remove from")]
        if len(self.targets) >= len(ctx.inventory.hosts):
            return [Problem("that would remove every host", "cms-swarm reset")]
        leaving = [r for r in (self._row(ctx, t) for t in self.targets) if r is not None and r.is_manager]
        if not leaving or self.force:
            return []
        left = quorum(ctx.node_rows()).without(leaving)
        if not left.managers:
            return [Problem("that would remove the last manager", "promote another node first, or --force")]
        if not left.held:
            return [Problem(f"that would break quorum: {left.reachable} of the {left.managers} remaining "
                            "managers are reachable", "bring managers back first, or --force")]
        return []

    def batches(self, ctx: Context) -> list[Batch]:
        managers = tuple(m for m in ctx.managers if m not in self.targets) or tuple(
            h.name for h in ctx.inventory.hosts if h.name not in self.targets)
        ids = ",".join(f"{name}={row.id}" for name in self.targets if (row := ctx.node_of(name)))
        return [Batch("demote-drain", managers), Batch("wait-drained", managers),
                Batch("leave", self.targets), Batch(f"rm:{ids}", managers)]

    def plan(self, ctx: Context, host: str, stage: str) -> Plan:
        if stage == "leave":
            swarm = ctx.facts[host].swarm
            if swarm is None or swarm.local_state == "inactive":
                return Plan.noop("not in a swarm")
            return Plan((Step("leave the swarm", "docker swarm leave", sudo=True, timeout=90),))
        if host != ctx.leader():
            return Plan.noop("the leader does this")
        steps: list[Step] = []
        for name in self.targets:
            row = self._row(ctx, name, stage)
            if row is None:
                continue
            reachable = name in ctx.facts
            if stage == "demote-drain":
                if row.is_manager:
                    steps.append(Step(f"demote {name}", f"docker node demote {row.id}", sudo=True))
                if row.availability != "Drain":
                    steps.append(Step(f"drain {name}",
                                      f"docker node update --availability drain {row.id}", sudo=True))
            elif stage == "wait-drained" and reachable and row.status == "Ready":
                steps.append(Step(f"wait until the tasks of {name} run elsewhere",
                                  _wait_moved(row.id), sudo=True, timeout=WAIT_TASKS + 30))
            elif stage.startswith("rm:"):
                # a failed leave stops the runner before this stage; --dry-run shows it too.
                # it left (or is unreachable): --force spares the wait for the heartbeat to time out
                why = "" if reachable else " (unreachable)"
                steps.append(Step(f"remove the node entry of {name}{why}",
                                  f"docker node rm --force {row.id}", sudo=True))
        if not steps:
            return Plan.noop("nothing to do")
        return Plan(tuple(steps))


def tasks_stopped(node_id: str) -> str:
    """Until no task runs on the node any more (fail after WAIT_TASKS)."""
    on_node = f"docker node ps {node_id} --format '{{{{.CurrentState}}}}' | grep -q '^Running'"
    return (f"i=0; while {on_node}; do i=$((i+1)); if [ $i -ge {WAIT_TASKS * 2} ]; then "
            f"echo 'tasks still run on the node after {WAIT_TASKS} s' >&2; exit 1; fi; sleep 0.5; done")


def services_back() -> str:
    """Until every service has all its replicas running; after WAIT_CONVERGE only a warning
    (a task no other node can take: constraints, one per node)."""
    short = ("docker service ls --format '{{.Name}} {{.Replicas}}' "
             "| awk '{split($2, r, \"/\"); if (r[1]+0 < r[2]+0) print $1 \" \" $2}'")
    return (f"i=0; while [ -n \"$({short})\" ]; do i=$((i+1)); if [ $i -ge {WAIT_CONVERGE * 2} ]; then "
            f"echo \"warning: services short of replicas after {WAIT_CONVERGE} s: $({short})\"; break; fi; "
            f"sleep 0.5; done")


def _wait_moved(node_id: str) -> str:
    """Until no task runs on the node (else fail), then until services are whole again."""
    return f"{tasks_stopped(node_id)}; {services_back()}"
