"""Reset: every host leaves the swarm, workers first, the leader last; `--purge` removes Docker."""

from __future__ import annotations

from cloudmesh.swarm.phase_context import Context
from cloudmesh.swarm.phases import Phase
from cloudmesh.swarm.phases.shell import APT
from cloudmesh.swarm.plan import Batch, Plan, Step

PURGE = (
    Step("stop the engine", "systemctl disable --now docker.socket docker containerd 2>/dev/null; true",
         sudo=True),
    Step("remove docker.io", f"{APT} purge -y docker.io containerd runc && {APT} autoremove -y",
         sudo=True, timeout=600),
    Step("remove Docker's data", "rm -rf /var/lib/docker/* /var/lib/containerd /etc/docker", sudo=True),
)


class ResetPhase(Phase):
    """Undo configure (and with --purge, install), in an order that keeps quorum longest."""

    title = "Reset swarm"

    def batches(self, ctx: Context) -> list[Batch]:
        names = [h.name for h in ctx.inventory.hosts]
        swarms = {n: ctx.facts[n].swarm for n in names}
        is_manager = {n: bool(state and state.is_manager) for n, state in swarms.items()}
        leader = ctx.leader()
        workers = tuple(n for n in names if not is_manager[n])
        others = [n for n in names if is_manager[n] and n != leader]
        batches = [Batch("leave", workers)] if workers else []
        batches += [Batch("leave", (n,)) for n in others]
        if leader is not None:
            batches.append(Batch("leave", (leader,)))
        return batches

    def plan(self, ctx: Context, host: str, stage: str) -> Plan:
        facts = ctx.facts[host]
        steps: list[Step] = []
        if facts.in_swarm or (facts.swarm and facts.swarm.local_state == "error"):
            steps.append(Step("leave the swarm", "docker swarm leave --force", sudo=True, timeout=90))
        if ctx.options.purge and (facts.docker_package or facts.docker_version):
            steps += PURGE
        if not steps:
            return Plan.noop("not in a swarm" + (", Docker not installed" if ctx.options.purge else ""))
        return Plan(tuple(steps))
