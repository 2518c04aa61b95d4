"""Configure: form or complete the swarm: init, managers one at a time, workers, nodes.

Joins go through the Engine API on the host's socket with the token on stdin, because
`docker swarm join` only takes the token as an argument that `ps` and sudo's log show.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterable

from cloudmesh.swarm.facts import NodeRow
from cloudmesh.swarm.phase_context import Context
from cloudmesh.swarm.phases import Phase
from cloudmesh.swarm.phases.network import advertise_of, init_options, remote_addr
from cloudmesh.swarm.phases.shell import api_post
from cloudmesh.swarm.plan import NOT_READ, Batch, Plan, Problem, SecretRead, Step
from cloudmesh.swarm.swarm_view import own_row

SWARM_PORT = 2377

def host_port(address: str, port: int) -> str:
    """address:port, an IPv6 address in brackets ([fe80::1]:2377)."""
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def join_step(ctx: Context, host: str, role: str) -> Step:
    """POST /swarm/join with the token in the body; the shown command has `***`. The token
    is read by the runner (ConfigurePhase.secret_reads); before the swarm exists (--dry-run)
    it is NOT_READ, which the runner never sends."""
    token = ctx.secrets.get(role, NOT_READ)
    # through the leader, whose token it is: the same address in a dry run (the first manager,
    # which init makes the leader) as in the real run, whichever managers joined before
    leader = ctx.leader() or ctx.managers[0]
    remotes = [host_port(remote_addr(ctx, leader), SWARM_PORT)]
    body: dict[str, object] = {"ListenAddr": f"0.0.0.0:{SWARM_PORT}",
                               "AdvertiseAddr": advertise_of(ctx, host), "RemoteAddrs": remotes}
    if ctx.spec(host).data_path:
        body["DataPathAddr"] = ctx.spec(host).data_path
    head = json.dumps(body)[:-1] + ', "JoinToken": "'
    return Step(
        f"join the swarm as a {role}",
        api_post("/swarm/join"),
        sudo=True,
        stdin=(head, token, '"}'),
        timeout=120,
    )


class ConfigurePhase(Phase):
    """The seed's 'configure': one swarm over the inventory, roles and labels as written."""

    title = "Configure swarm"

    def problems(self, ctx: Context, host: str) -> list[Problem]:
        facts = ctx.facts[host]
        swarm = facts.swarm
        if swarm is None or swarm.local_state == "inactive":
            return []
        if swarm.local_state == "locked":
            return [Problem("the swarm on this host is locked (autolock)",
                            "docker swarm unlock, then re-run")]
        leader = ctx.leader()
        if swarm.local_state == "active" and (leader is None or own_row(ctx.node_rows(), facts) is None):
            where = ", ".join(swarm.remote_managers) or "unknown managers"
            return [Problem(f"is in another swarm (managers: {where})",
                            "leave it first: cms-swarm reset HOST, or sudo docker swarm leave --force")]
        return []

    def batches(self, ctx: Context) -> list[Batch]:
        workers = tuple(h.name for h in ctx.inventory.hosts if h.name not in ctx.managers)
        batches = [Batch("init", (ctx.managers[0],))]
        batches += [Batch("join-manager", (name,)) for name in ctx.managers]
        if workers:
            batches.append(Batch("join-worker", workers))
        batches.append(Batch("nodes", tuple(ctx.managers)))
        return batches

    def plan(self, ctx: Context, host: str, stage: str) -> Plan:
        if stage == "init":
            return self._plan_init(ctx, host)
        if stage in ("join-manager", "join-worker"):
            return self._plan_join(ctx, host)
        return self._plan_nodes(ctx, host)

    def _plan_init(self, ctx: Context, host: str) -> Plan:
        leader = ctx.leader()
        if leader is not None:
            return Plan.noop(f"swarm {ctx.cluster_id()[:12]} exists (leader {leader})")
        return Plan((Step("initialise the swarm",
                          f"docker swarm init {init_options(ctx, host)}",
                          sudo=True, timeout=120),))

    def _plan_join(self, ctx: Context, host: str) -> Plan:
        facts = ctx.facts[host]
        role = ctx.role(host)
        swarm = facts.swarm
        if ctx.leader() is None and host == ctx.managers[0]:  # --dry-run on fresh hosts
            return Plan.noop("initialises the swarm (above)")
        if swarm is not None and swarm.local_state == "active" and own_row(ctx.node_rows(), facts):
            return Plan.noop(f"already in this swarm (node {swarm.node_id[:12]})")
        steps = []
        if swarm is not None and swarm.local_state in ("pending", "error"):
            steps.append(Step("leave a half-joined swarm", "docker swarm leave --force", sudo=True))
        steps.append(join_step(ctx, host, role))
        return Plan(tuple(steps))

    def _plan_nodes(self, ctx: Context, host: str) -> Plan:
        """Roles, labels and stale entries, run on the leader only."""
        if host != ctx.leader():
            return Plan.noop("the leader updates nodes")
        rows = ctx.node_rows()
        steps: list[Step] = []
        for spec in ctx.inventory.hosts:
            row = own_row(rows, ctx.facts.get(spec.name))
            if row is None:
                continue
            steps += _stale_rows(rows, row)
            if ctx.role(spec.name) == "manager" and not row.is_manager:
                steps.append(Step(f"promote {spec.name} to manager", f"docker node promote {row.id}", sudo=True))
            missing = {k: v for k, v in spec.labels.items() if dict(row.labels).get(k) != v}
            if missing:
                adds = " ".join(f"--label-add {shlex.quote(f'{k}={v}')}" for k, v in sorted(missing.items()))
                steps.append(Step(f"label {spec.name}: {', '.join(sorted(missing))}",
                                  f"docker node update {adds} {row.id}", sudo=True))
        if not steps:
            return Plan.noop("roles and labels as in the inventory")
        return Plan(tuple(steps))

    def secret_reads(self, ctx: Context, batch: Batch) -> list[SecretRead]:
        """A join batch needs the join token of its role, read on the leader."""
        if not batch.stage.startswith("join-"):
            return []
        role = batch.stage.removeprefix("join-")
        leader = ctx.leader()
        if not any(self._plan_join(ctx, h).needs_work for h in batch.hosts):
            return []
        if leader is None:  # a dry run on fresh hosts: the first manager will lead after init
            return [token_read(role, ctx.managers[0], planned=True)] if ctx.options.dry_run else []
        return [token_read(role, leader)]


def token_read(role: str, leader: str, planned: bool = False) -> SecretRead:
    """The join token of `role` (manager, worker), read on the leader."""
    return SecretRead(role, leader, Step(f"read the {role} join token",
                                         f"docker swarm join-token -q {role}", sudo=True, timeout=30),
                      f"the {role} join token from the leader {leader}", planned)


def _stale_rows(rows: Iterable[NodeRow], current: NodeRow) -> list[Step]:
    """Down entries left behind by an earlier life of the same host: remove them."""
    steps = []
    for row in rows:
        if row.id != current.id and row.hostname == current.hostname and row.status == "Down":
            command = f"docker node rm --force {row.id}"
            if row.is_manager:
                command = f"docker node demote {row.id} && {command}"
            steps.append(Step(f"remove stale node entry {row.id[:12]} of {row.hostname}", command, sudo=True))
    return steps
