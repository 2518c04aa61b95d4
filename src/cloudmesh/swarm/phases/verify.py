"""Verify: the seed's 'test'. Nodes healthy, a global test service answering on every node,
tasks reaching each other over an overlay network, and the routing mesh where IPVS exists.

Its stages are plans like any phase's: the test image on every node, the test services on
the leader, then checks (plan.py) the runner runs on every node: task running, host port,
overlay, routing mesh. Its declared clean-up removes the service, network and image again
whatever happens; a `create` that changed nothing reuses an earlier pass on the same state.

No registry is needed: unless `--test-image` names one, each node makes its own one-layer
test image from the host's `busybox-static` (installed by `install` from the host's own apt
sources, so it is built for the node's architecture) and removes it afterwards.
"""

from __future__ import annotations

import hashlib
import json
import re
import shlex
import time
from pathlib import Path

from cloudmesh.swarm.checks import overlay_ip
from cloudmesh.swarm.errors import UsageError, VerifyError
from cloudmesh.swarm.hostlog import state_dir
from cloudmesh.swarm.phase_context import Context
from cloudmesh.swarm.phases import Phase
from cloudmesh.swarm.plan import (
    Batch,
    Check,
    HttpAnswers,
    OverlayReach,
    Plan,
    Problem,
    Step,
    TasksRunning,
)
from cloudmesh.swarm.private_files import private_dir, write_private
from cloudmesh.swarm.swarm_view import own_row, reachable_manager

__all__ = ["VerifyError", "VerifyPhase", "check_image", "overlay_ip"]

NAME = "cms-swarm-verify"
MESH = "cms-swarm-verify-mesh"
NETWORK = "cms-swarm-verify"
OWN_IMAGE = "cms-swarm-verify:busybox"
APPLETS = "sh nc httpd mkdir hostname cat printf sleep true"
SERVE = "mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 80 -h /www"
WAIT_TASKS = 120.0
WAIT_HTTP = 30.0


_IMAGE = re.compile(  # Docker's reference grammar: [registry[:port]/]path[:tag][@digest]
    r"^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?(?::[0-9]+)?/)?"
    r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*"
    r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$")


def check_image(reference: str) -> str:
    """A Docker image reference, never an option (`--test-image -v/:/x`): bad input otherwise."""
    if len(reference) > 255 or not _IMAGE.fullmatch(reference):
        raise UsageError(f"--test-image: {reference!r} is not an image reference (e.g. busybox, "
                         "registry:5000/busybox:1.36)")
    return reference


def node_problems(ctx: Context, host: str) -> list[str]:
    """Node health as the leader sees it: Ready, Active, manager Reachable."""
    row = own_row(ctx.node_rows(), ctx.facts.get(host))
    if row is None:
        return ["not a node of this swarm"]
    found = []
    if row.status != "Ready":
        found.append(f"node is {row.status}, not Ready")
    if row.availability != "Active":
        found.append(f"node availability is {row.availability}, not Active")
    if ctx.role(host) == "manager" and not reachable_manager(row):
        found.append(f"manager status is {row.manager_status or 'none (a worker)'}")
    return found


def test_image(ctx: Context) -> str:
    return ctx.options.test_image or OWN_IMAGE


def build_image_command(tag: str = OWN_IMAGE) -> str:
    """Make image `tag` from the host's static busybox (one layer: /bin/busybox, its applet
    links, /tmp, /www), unless it exists; for the host's own architecture, no registry."""
    return (
        f"docker image inspect {tag} >/dev/null 2>&1 && exit 0; "
        "dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'ok installed' "
        "|| { echo 'busybox-static is not installed: run cms-swarm install' >&2; exit 1; }; "
        'set -e; d=$(mktemp -d); trap \'rm -rf "$d"\' EXIT; '
        'mkdir -p "$d/bin" "$d/tmp" "$d/www"; chmod 1777 "$d/tmp"; cp /bin/busybox "$d/bin/"; '
        f'for a in {APPLETS}; do ln -s busybox "$d/bin/$a"; done; '
        'tar -C "$d" -c . | docker import -c \'ENV PATH=/bin\' -c \'CMD ["sh"]\' '
        f"-c 'LABEL cloudmesh.swarm.verify=1' - {tag} >/dev/null")


def image_steps(ctx: Context) -> list[Step]:
    """What verify does on every node before the test service starts (none for --test-image)."""
    if ctx.options.test_image:
        return []
    return [Step("make the test image from this host's busybox-static (no registry)",
                 STOP_EARLIER_CLEANUP + build_image_command(), sudo=True, timeout=120)]


# Clean-up that must wait for task containers runs detached on the host, marked; a later
# verify stops it first, or it would remove the network or image that run has just made.
CLEANUP_MARK = "cms-swarm-verify-cleanup"
STOP_EARLIER_CLEANUP = "pkill -f 'cms-swarm-verify-clean[u]p' 2>/dev/null; "  # [u]: not itself


def in_background(script: str) -> str:
    """Run `script` detached from the SSH session, marked as verify's clean-up."""
    return f"setsid sh -c {shlex.quote(f': {CLEANUP_MARK}; {script}')} >/dev/null 2>&1 </dev/null & true"


def node_cleanup_command() -> str:
    """Remove the node's own test image once the task containers are gone (in the background)."""
    return in_background(
        f"i=0; while docker image inspect {OWN_IMAGE} >/dev/null 2>&1 && [ $i -lt 300 ]; "
        f"do docker image rm {OWN_IMAGE} >/dev/null 2>&1 || sleep 0.2; i=$((i+1)); done")


def setup_steps(ctx: Context) -> list[Step]:
    """What verify creates on the leader (stage `service`)."""
    image = shlex.quote(check_image(test_image(ctx)))
    port = ctx.options.verify_port
    steps = [
        Step("remove leftovers of an earlier verify", cleanup_command(), sudo=True),
        Step("create a test overlay network",
             f"docker network create --driver overlay --attachable {NETWORK}", sudo=True),
        Step("start a global test service (host-mode port)",
             f"docker service create --detach --quiet --name {NAME} --mode global "
             f"--endpoint-mode dnsrr --network {NETWORK} --no-resolve-image --stop-signal KILL "
             f"--hostname '{{{{.Node.Hostname}}}}' "
             f"--publish mode=host,target=80,published={port} {image} sh -c {shlex.quote(SERVE)}",
             sudo=True),
    ]
    if mesh_available(ctx):
        steps.append(Step("start a routing-mesh test service (ingress port)",
                          f"docker service create --detach --quiet --name {MESH} --replicas 1 "
                          f"--no-resolve-image --stop-signal KILL "
                          f"--publish published={ctx.options.mesh_port},target=80 "
                          f"{image} sh -c {shlex.quote(SERVE)}", sudo=True))
    return steps


def cleanup_command(background: bool = False) -> str:
    """Remove the test services and network. The network can only go once the tasks are gone
    on every node (seconds); `background` leaves that wait to a detached loop on the host."""
    remove_network = (f"i=0; while docker network inspect {NETWORK} >/dev/null 2>&1 && [ $i -lt 150 ]; "
                      f"do docker network rm {NETWORK} >/dev/null 2>&1 || sleep 0.2; i=$((i+1)); done")
    services = f"docker service rm {NAME} {MESH} >/dev/null 2>&1; "
    if background:
        return services + in_background(remove_network)
    return STOP_EARLIER_CLEANUP + services + remove_network + "; true"


def fingerprint(ctx: Context) -> str:
    """What a passing verify vouches for: the swarm, its nodes and their state, the test."""
    rows = sorted((r.id, r.hostname, r.status, r.availability, r.is_manager, r.engine_version)
                  for r in ctx.node_rows())
    data = [ctx.cluster_id(), rows, test_image(ctx), ctx.options.verify_port]
    return hashlib.sha256(json.dumps(data).encode()).hexdigest()


def _stamp_path(ctx: Context) -> Path:
    return state_dir() / "verified" / f"{ctx.inventory.name}.json"


def verified_at(ctx: Context) -> str | None:
    """When verify last passed on exactly this swarm state, or None."""
    try:
        stamp = json.loads(_stamp_path(ctx).read_text())
    except (OSError, ValueError):
        return None
    return stamp.get("at") if stamp.get("fingerprint") == fingerprint(ctx) else None


def remember_verified(ctx: Context) -> None:
    path = _stamp_path(ctx)
    private_dir(path.parent)
    write_private(path, json.dumps({"fingerprint": fingerprint(ctx),
                                    "at": time.strftime("%Y-%m-%d %H:%M:%S")}))


def mesh_available(ctx: Context) -> bool:
    return bool(ctx.facts) and all(f.ipvs == "yes" for f in ctx.facts.values())


MESH_MISSING = Problem("routing mesh: unavailable (kernel lacks IPVS)",
                       "modprobe ip_vs or a kernel with CONFIG_IP_VS; host-mode ports work", warning=True)


class VerifyPhase(Phase):
    """Checks the whole swarm; a failed check fails the host it was seen on.

    Stages: `image` (every node makes the test image), `service` (the leader starts the test
    services), then the checks `tasks`, `port`, `overlay` and `mesh` on every node, where a
    failed host drops out and the others go on. Clean-up: `cleanup` (leader), `cleanup-image`.
    """

    title = "Verify swarm"
    changes_hosts = False
    converges = False
    leaves_hosts_as_found = True

    def __init__(self, reuse_earlier: bool = False) -> None:
        self.reuse_earlier = reuse_earlier  # `create`: a swarm nothing changed keeps its pass

    def earlier(self, ctx: Context) -> str | None:
        """When verify passed on this same state, if this run may rely on it (else None)."""
        if not self.reuse_earlier or not ctx.unchanged or ctx.options.dry_run or ctx.leader() is None:
            return None
        return verified_at(ctx)

    def problems(self, ctx: Context, host: str) -> list[Problem]:
        leader = ctx.leader()
        if leader is None:  # a dry run before the swarm exists plans for the swarm to be
            return [] if ctx.options.dry_run else [Problem("not in a swarm: run `cms-swarm init` first")]
        found = [Problem(text) for text in node_problems(ctx, host)]
        if host == leader:
            leaders = [r for r in ctx.node_rows() if r.is_leader]
            if len(leaders) != 1:
                found.append(Problem(f"{len(leaders)} leaders, expected 1"))
            if not mesh_available(ctx) and self.earlier(ctx) is None:
                found.append(MESH_MISSING)
        return found

    def batches(self, ctx: Context) -> list[Batch]:
        hosts = tuple(h.name for h in ctx.inventory.hosts)
        leader = lead(ctx)
        if leader is None:
            return []
        if self.earlier(ctx):
            return [Batch("nodes", hosts)]
        found = [] if ctx.options.test_image else [Batch("image", hosts)]
        found += [Batch("service", (leader,)), Batch("tasks", hosts, stop_on_failure=False),
                  Batch("port", hosts, stop_on_failure=False),
                  Batch("overlay", hosts, stop_on_failure=False)]
        if mesh_available(ctx):
            found.append(Batch("mesh", hosts, stop_on_failure=False))
        return found

    def plan(self, ctx: Context, host: str, stage: str) -> Plan:
        if stage == "nodes":
            return Plan.noop("ok", "node ok", f"services verified {self.earlier(ctx)}, swarm "
                             "unchanged since (`verify` tests again)")
        first = next(b.stage for b in self.batches(ctx) if host in b.hosts)
        notes = ("node ok",) if stage == first else ()
        steps: list[Step | Check] = list(image_steps(ctx) if stage == "image" else
                                         setup_steps(ctx) if stage == "service" else
                                         [check_of(ctx, host, stage)])
        return Plan(tuple(steps), notes=notes)

    def cleanup(self, ctx: Context) -> list[Batch]:
        leader = lead(ctx)
        if leader is None or self.earlier(ctx):
            return []
        hosts = tuple(h.name for h in ctx.inventory.hosts)
        return [Batch("cleanup", (leader,))] + ([] if ctx.options.test_image else [Batch("cleanup-image", hosts)])

    def cleanup_plan(self, ctx: Context, host: str, stage: str) -> Plan:
        if stage == "cleanup":
            return Plan((Step("remove the test services, and the network once their tasks are gone",
                              cleanup_command(background=True), sudo=True, timeout=90),))
        return Plan((Step("remove the test image once its containers are gone",
                          node_cleanup_command(), sudo=True, timeout=30),))

    def passed(self, ctx: Context) -> None:
        if ctx.leader() is not None and not self.earlier(ctx):
            remember_verified(ctx)


def lead(ctx: Context) -> str | None:
    """The swarm's leader; in a dry run on hosts with no swarm yet, the first manager, which
    `init` makes the leader (so `create --dry-run` lists verify's steps as create runs them)."""
    return ctx.leader() or (ctx.managers[0] if ctx.options.dry_run and ctx.managers else None)


def check_of(ctx: Context, host: str, stage: str) -> Check:
    """The check of stage `tasks`, `port`, `overlay` or `mesh` for `host`."""
    hostname = ctx.facts[host].hostname
    if stage == "tasks":
        return TasksRunning("check that the test task runs on this node", NAME, hostname, lead(ctx) or host,
                            timeout=WAIT_TASKS)
    if stage == "port":
        port = ctx.options.verify_port
        return HttpAnswers("check that the test service answers on the host port with this node's name",
                           ctx.ip(host), port, hostname, f"test service on port {port}",
                           timeout=WAIT_HTTP, ok="host port ok")
    if stage == "overlay":
        return OverlayReach("check that the test task reaches other nodes' tasks over the overlay network",
                            NAME, NETWORK)
    if stage == "mesh":
        port = ctx.options.mesh_port
        return HttpAnswers("check that the routing mesh answers on this node", ctx.ip(host), port, None,
                           f"routing mesh port {port}", timeout=2 * WAIT_HTTP, ok="routing mesh ok")
    raise ValueError(f"verify has no stage {stage!r}")
