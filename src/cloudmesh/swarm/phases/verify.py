"""Verify: the seed's 'test'. Nodes healthy, a global test service answering on every node,
tasks reaching each other over an overlay network, and the routing mesh where IPVS exists.

Unlike the other phases it acts and checks in turns, so it drives the runner itself; the
service and network it creates are removed again whatever happens.

No registry is needed: unless `--test-image` names one, each node makes its own one-layer
test image from the host's `busybox-static` (installed by `install` from the host's own apt
sources, so it is built for the node's architecture) and removes it afterwards.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import shlex
import time
from pathlib import Path
from typing import TYPE_CHECKING

from cloudmesh.swarm.errors import HostError, UsageError
from cloudmesh.swarm.hostlog import private_dir, state_dir
from cloudmesh.swarm.phase_context import Context
from cloudmesh.swarm.plan import Problem, Step

if TYPE_CHECKING:
    from cloudmesh.swarm.runner import Runner

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


def overlay_ip(text: str) -> str:
    """The overlay address a host printed, as an IP address; anything else is refused."""
    import ipaddress

    return str(ipaddress.ip_address(text.strip()))


class VerifyError(HostError):
    """A verify check failed on this host."""


def node_problems(ctx: Context, host: str) -> list[str]:
    """Node health as the leader sees it: Ready, Active, manager Reachable."""
    facts = ctx.facts.get(host)
    rows = {row.id: row for row in ctx.node_rows()}
    node_id = facts.swarm.node_id if facts and facts.swarm else ""
    row = rows.get(node_id)
    if row is None:
        return ["not a node of this swarm"]
    found = []
    if row.status != "Ready":
        found.append(f"node is {row.status}, not Ready")
    if row.availability != "Active":
        found.append(f"node availability is {row.availability}, not Active")
    if ctx.role(host) == "manager" and row.manager_status not in ("Leader", "Reachable"):
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
    """What verify creates on the leader; shown by --dry-run, run for real by `run`."""
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
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump({"fingerprint": fingerprint(ctx), "at": time.strftime("%Y-%m-%d %H:%M:%S")}, handle)


def mesh_available(ctx: Context) -> bool:
    return bool(ctx.facts) and all(f.ipvs == "yes" for f in ctx.facts.values())


async def http_get(address: str, port: int, timeout: float = 5.0) -> str:
    """Body of GET / on address:port (HTTP/1.0), from this machine."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection(address, port), timeout)
    try:
        writer.write(b"GET / HTTP/1.0\r\nHost: verify\r\n\r\n")
        await writer.drain()
        data = await asyncio.wait_for(reader.read(65536), timeout)
    finally:
        writer.close()
    return data.decode("utf-8", "replace").partition("\r\n\r\n")[2].strip()


async def answers(address: str, port: int, expected: str | None, deadline: float) -> str:
    """Poll until the port answers (with `expected` when given); '' on success, else why."""
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            body = await http_get(address, port)
            if expected is None or body == expected:
                return ""
            last = f"answered {body[:40]!r}, expected {expected!r}"
        except (OSError, asyncio.TimeoutError) as error:
            last = str(error) or type(error).__name__
        await asyncio.sleep(0.3)
    return last


class VerifyPhase:
    """Checks the whole swarm; a failed check fails the host it was seen on."""

    title = "Verify swarm"

    async def run(self, runner: Runner, reuse_earlier: bool = False) -> bool:
        """Verify the swarm. With `reuse_earlier` (a `create` that changed nothing), the node
        checks run but the service checks are skipped when they passed on this same state."""
        ctx = runner.ctx
        names = runner.alive(h.name for h in ctx.inventory.hosts)
        runner.reporter.phase(self.title, names)
        # facts are fresh after the phases before (they re-probe what they changed)
        await runner.refresh()
        leader = ctx.leader()
        if leader is None and ctx.options.dry_run:  # `create --dry-run`: no swarm exists yet
            runner.reporter.line("verify: would test the swarm once it is formed (node health, "
                                 "a global test service, overlay; removed afterwards)")
            return True
        if leader is None:
            for name in runner.alive(names):
                runner.fail(name, VerifyError(name, "not in a swarm: run `cms-swarm init` first"))
            return False
        if ctx.options.dry_run:
            for name in runner.alive(names):
                for step in image_steps(ctx):
                    runner.reporter.step(name, step, dry_run=True)
            for step in setup_steps(ctx):
                runner.reporter.step(leader, step, dry_run=True)
            return True
        for name in runner.alive(names):
            found = node_problems(ctx, name)
            if found:
                runner.fail(name, VerifyError(name, "; ".join(found)))
            else:
                runner.results[name].notes.append("node ok")
        leaders = [r for r in ctx.node_rows() if r.is_leader]
        if len(leaders) != 1:
            runner.fail(leader, VerifyError(leader, f"{len(leaders)} leaders, expected 1"))
        earlier = verified_at(ctx) if reuse_earlier else None
        if earlier and not any(runner.results[n].failed for n in names):
            for name in runner.alive(names):
                runner.results[name].notes.append(f"services verified {earlier}, swarm unchanged "
                                                  "since (`verify` tests again)")
        else:
            await self._service_checks_and_cleanup(runner, leader, names)
        ok = not any(runner.results[n].failed for n in names)
        if ok and not earlier:
            remember_verified(ctx)
        for name in runner.alive(names):
            runner.reporter.host_done(name, self.title, changed=False,
                                      note=", ".join(runner.results[name].notes))
        return ok

    async def _service_checks_and_cleanup(self, runner: Runner, leader: str, names: list[str]) -> None:
        try:
            await self._bring_image(runner, names)
            if any(runner.results[n].failed for n in names):
                return  # a node without the test image would only fail again, less clearly
            await self._service_checks(runner, leader, names)
        finally:
            started = time.monotonic()
            await runner.transports[leader].run(cleanup_command(background=True), sudo=True,
                                                timeout=90)
            if image_steps(runner.ctx):
                await asyncio.gather(*(runner.transports[name].run(
                    node_cleanup_command(), sudo=True, timeout=30) for name in runner.alive(names)),
                    return_exceptions=True)
            runner.log(leader, f"verify: cleanup started after {time.monotonic() - started:.1f} s")

    async def _bring_image(self, runner: Runner, names: list[str]) -> None:
        """Every node makes its own test image (unless --test-image names one)."""
        steps = image_steps(runner.ctx)

        async def bring(name: str) -> None:
            for step in steps:
                runner.reporter.step(name, step)
                runner.log(name, f"run: {step.description}: {step.shown()}")
                result = await runner.transports[name].run(step.command, sudo=True,
                                                            timeout=step.timeout)
                if not result.ok:
                    from cloudmesh.swarm.errors import CommandError

                    raise CommandError(name, step.description, result.exit_status, result.stderr)

        if steps:
            await runner.each(runner.alive(names), bring)

    async def _service_checks(self, runner: Runner, leader: str, names: list[str]) -> None:
        ctx = runner.ctx
        leader_t = runner.transports[leader]
        for step in setup_steps(ctx):
            runner.reporter.step(leader, step)
            runner.log(leader, f"run: {step.description}: {step.shown()}")
            result = await leader_t.run(step.command, sudo=True, timeout=step.timeout)
            if not result.ok:
                from cloudmesh.swarm.errors import CommandError

                raise CommandError(leader, step.description, result.exit_status, result.stderr)
        hosts = runner.alive(names)
        started = time.monotonic()
        await self._wait_tasks(runner, leader, hosts)
        runner.log(leader, f"verify: test tasks running after {time.monotonic() - started:.1f} s")
        deadline = time.monotonic() + WAIT_HTTP

        async def host_port(name: str) -> None:
            why = await answers(ctx.ip(name), ctx.options.verify_port, ctx.facts[name].hostname, deadline)
            if why:
                raise VerifyError(name, f"test service on port {ctx.options.verify_port}: {why}")
            runner.results[name].notes.append("host port ok")

        await runner.each(runner.alive(hosts), host_port)
        runner.log(leader, f"verify: host ports answered after {time.monotonic() - started:.1f} s")
        await self._overlay(runner, runner.alive(hosts))
        runner.log(leader, f"verify: overlay checked after {time.monotonic() - started:.1f} s")
        if mesh_available(ctx):
            async def mesh(name: str) -> None:
                why = await answers(ctx.ip(name), ctx.options.mesh_port, None, deadline + WAIT_HTTP)
                if why:
                    raise VerifyError(name, f"routing mesh port {ctx.options.mesh_port}: {why}")
                runner.results[name].notes.append("routing mesh ok")

            await runner.each(runner.alive(hosts), mesh)
        else:
            runner.reporter.problem(leader, Problem(
                "routing mesh: unavailable (kernel lacks IPVS)",
                "modprobe ip_vs or a kernel with CONFIG_IP_VS; host-mode ports work", warning=True))

    async def _wait_tasks(self, runner: Runner, leader: str, hosts: list[str]) -> None:
        """Until every host runs its test task (bounded); hosts without one fail."""
        ctx = runner.ctx
        wanted = {ctx.facts[h].hostname: h for h in hosts}
        deadline = time.monotonic() + WAIT_TASKS
        running: set[str] = set()
        errors: dict[str, str] = {}  # node -> the newest task error seen there
        while time.monotonic() < deadline:
            result = await runner.transports[leader].run(
                f"docker service ps {NAME} --no-trunc --format '{{{{.Node}}}}|{{{{.CurrentState}}}}|{{{{.Error}}}}'",
                sudo=True, timeout=30)
            running = set()
            for line in result.stdout.splitlines():
                node, _, rest = line.partition("|")
                state, _, error = rest.partition("|")
                if state.startswith("Running"):
                    running.add(node)
                elif error and node in wanted:
                    errors.setdefault(node, error)
            if set(wanted) <= running:
                return
            await asyncio.sleep(0.25)
        for hostname, name in wanted.items():
            if hostname not in running:
                why = errors.get(hostname, "")
                runner.fail(name, VerifyError(name, f"test task did not start on node {hostname}"
                                              + (f": {why}" if why else "")))

    async def _overlay(self, runner: Runner, hosts: list[str]) -> None:
        """Each task fetches from up to 4 peers' tasks over the overlay network."""
        ctx = runner.ctx
        ips: dict[str, str] = {}
        find = (f"docker ps -q --filter label=com.docker.swarm.service.name={NAME} | head -n 1")

        async def own_ip(name: str) -> None:
            result = await runner.transports[name].run(
                f"docker inspect -f '{{{{(index .NetworkSettings.Networks \"{NETWORK}\").IPAddress}}}}' "
                f"$({find})", sudo=True, timeout=30)
            if not result.ok or not result.stdout.strip():
                raise VerifyError(name, "test task has no overlay address")
            try:
                ips[name] = overlay_ip(result.stdout)
            except ValueError:
                raise VerifyError(name, "test task's overlay address is not an IP address") from None

        await runner.each(hosts, own_ip)
        hosts = [h for h in hosts if h in ips]
        if len(hosts) < 2:
            return

        async def reach(name: str) -> None:
            index = hosts.index(name)
            peers = [hosts[(index + k) % len(hosts)] for k in range(1, min(len(hosts), 5))]
            failed = []
            for peer in peers:
                request = "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 5 " + shlex.quote(ips[peer]) + " 80"
                body = ""
                for _ in range(10):
                    result = await runner.transports[name].run(
                        f"docker exec $({find}) sh -c {shlex.quote(request)}", sudo=True, timeout=30)
                    body = result.stdout
                    if ctx.facts[peer].hostname in body:
                        break
                    await asyncio.sleep(0.5)
                else:
                    failed.append(peer)
            if failed:
                raise VerifyError(name, f"overlay network: cannot reach the task on {', '.join(failed)}")
            runner.results[name].notes.append(f"overlay ok ({len(peers)} peers)")

        await runner.each(hosts, reach)
