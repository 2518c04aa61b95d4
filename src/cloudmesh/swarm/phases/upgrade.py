"""Rolling Docker engine upgrade, one node at a time, so services keep running.

Per node: drain it (on the leader) and wait until its tasks stopped, upgrade its engine
(docker.io and docker-cli, or docker-ce and docker-ce-cli) on it, then (on the leader, which may be a new one by then) wait until it is Ready again,
make it active and wait until services have their replicas back. Workers go first, the
leader last; after the leader, the new leader also waits until every node is Ready again.
A node that does not come back Ready fails, and the runner stops there.

The phase keeps no state: each stage is planned from the facts of the moment, and the
batches (made once, from the facts before anything ran) say which node a user had drained
already, so that it stays drained. `--dry-run` thus prints the steps apply runs.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from cloudmesh.swarm.phase_context import Context
from cloudmesh.swarm.phases import Phase, no_swarm_problem
from cloudmesh.swarm.phases.membership import services_back, tasks_stopped
from cloudmesh.swarm.phases.shell import APT, ENGINE_UP, REFRESH_LISTS, WAIT_FOR_APT
from cloudmesh.swarm.plan import Batch, Plan, Problem, Step

WAIT_READY = 180  # seconds for an upgraded node to be Ready again


@dataclass(frozen=True)
class UpgradePhase(Phase):
    version: str = ""  # an apt version of the engine package; empty: what apt offers now
    title = "Upgrade Docker engine"

    def target(self, ctx: Context, host: str) -> str:
        facts = ctx.facts[host]
        candidate = facts.install.ce_candidate if facts.install.engine == "docker-ce" else facts.docker_candidate
        return self.version or candidate

    @staticmethod
    def packages(ctx: Context, host: str) -> list[str]:
        """The engine package first, then its CLI where that is a package of its own."""
        install = ctx.facts[host].install
        names = ["docker-ce", "docker-ce-cli"] if install.engine == "docker-ce" else ["docker.io", "docker-cli"]
        return [names[0]] + [name for name in names[1:] if install.package(name)]

    def needs(self, ctx: Context, host: str) -> bool:
        facts = ctx.facts.get(host)
        return bool(facts and facts.docker_package and self.target(ctx, host)
                    and facts.docker_package != self.target(ctx, host))

    def problems(self, ctx: Context, host: str) -> list[Problem]:
        if found := no_swarm_problem(ctx, host):
            return found
        if ctx.facts[host].docker_package is None:
            return [Problem("Docker is not installed here", "cms-swarm install or create")]
        return []

    def batches(self, ctx: Context) -> list[Batch]:
        leader = ctx.leader()
        names = [h.name for h in ctx.inventory.hosts]
        order = ([n for n in names if n not in ctx.managers]
                 + [n for n in names if n in ctx.managers and n != leader]
                 + ([leader] if leader else []))
        managers = tuple(ctx.managers)
        batches = [Batch("lists", tuple(names))]
        for name in order:
            back = f"back:{name}"
            row = ctx.node_of(name)
            if row is not None and row.availability == "Drain" and not self.needs(ctx, name):
                back += ":stays-drained"  # the user drained it: an upgrade does not activate it
            elif name == order[-1]:
                back += ":settle"  # after the last (the leader), a new leader sees all nodes again
            batches += [Batch(f"drain:{name}", managers), Batch(f"upgrade:{name}", (name,)),
                        Batch(back, managers)]
        return batches

    def plan(self, ctx: Context, host: str, stage: str) -> Plan:
        if stage == "lists":
            fresh = ctx.facts[host].apt_lists_fresh or self.version
            return Plan.noop("package lists are fresh") if fresh else Plan((REFRESH_LISTS,))
        kind, node, *how = stage.split(":")
        if kind == "upgrade":
            if not self.needs(ctx, host):
                return Plan.noop(f"{self.packages(ctx, host)[0]} {ctx.facts[host].docker_package} is the target")
            specs = [n + (f"={self.version}" if self.version else "") for n in self.packages(ctx, host)]
            spec = " ".join(shlex.quote(s) for s in specs)
            return Plan((Step(f"upgrade {spec}",
                              f"{WAIT_FOR_APT}{APT} install -y --only-upgrade --no-install-recommends "
                              f"{spec} && systemctl restart docker && {ENGINE_UP}",
                              sudo=True, timeout=900),))
        if host != ctx.leader():
            return Plan.noop("the leader does this")
        row = ctx.node_of(node)
        if row is None:
            return Plan.noop(f"{node} is not a node")
        if kind == "drain":
            if not self.needs(ctx, node):
                return Plan.noop(f"{node} needs no upgrade")
            steps = [Step(f"drain {node}", f"docker node update --availability drain {row.id}", sudo=True)]
            return Plan((*steps, Step(f"wait until the tasks of {node} stopped",
                                      tasks_stopped(row.id), sudo=True, timeout=240)))
        # a node this run drains (or, before the upgrade, --dry-run: will drain) comes back
        if "stays-drained" in how or not (row.availability == "Drain" or self.needs(ctx, node)):
            return Plan.noop(f"{node}: nothing to bring back")
        steps = [
            Step(f"wait until {node} is Ready",
                 f"i=0; until [ \"$(docker node inspect -f '{{{{.Status.State}}}}' {row.id})\" = ready ]; "
                 f"do i=$((i+1)); if [ $i -ge {WAIT_READY * 2} ]; then "
                 f"echo '{node} did not come back Ready after the upgrade' >&2; exit 1; fi; sleep 0.5; done",
                 sudo=True, timeout=WAIT_READY + 30),
            Step(f"activate {node}", f"docker node update --availability active {row.id}", sudo=True),
        ]
        if "settle" in how:  # a new leader first sees every node as Unknown until it reports
            steps.append(Step("wait until every node is Ready again",
                              "i=0; while docker node ls --format '{{.Status}}' | grep -vqx Ready; do "
                              f"i=$((i+1)); [ $i -ge {WAIT_READY * 2} ] && exit 1; sleep 0.5; done",
                              sudo=True, timeout=WAIT_READY + 30))
        steps.append(Step("wait until services have their replicas back", services_back(), sudo=True,
                          timeout=120))
        return Plan(tuple(steps))
