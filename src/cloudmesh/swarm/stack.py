"""Stacks on the swarm over the tool's own SSH: deploy (compose files streamed to a manager,
then wait until every service runs its tasks), remove, and list services with their nodes.

No docker CLI is needed on this machine; the manager's own `docker stack deploy` does the work.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import shlex
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cloudmesh.swarm.actions import host_results
from cloudmesh.swarm.errors import CommandError, HostError
from cloudmesh.swarm.inventory import Inventory
from cloudmesh.swarm.options import RunOptions
from cloudmesh.swarm.report import Reporter
from cloudmesh.swarm.runner import Runner
from cloudmesh.swarm.transport import Transport

_REPLICAS = re.compile(r"^(\d+)/(\d+)")


@dataclass
class Service:
    """One service as the manager lists it, plus where its tasks run and the latest task error."""

    name: str
    mode: str = ""
    running: int = 0
    desired: int = 0
    image: str = ""
    ports: str = ""
    nodes: list[str] = field(default_factory=list)
    error: str = ""

    @property
    def converged(self) -> bool:
        return self.running == self.desired

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "mode": self.mode, "running": self.running,
                "desired": self.desired, "image": self.image, "ports": self.ports,
                "nodes": self.nodes, "error": self.error or None}


def services_script(stack: str = "") -> str:
    """One round trip: services (tab-separated), a marker, then their tasks, newest first."""
    where = f" --filter label=com.docker.stack.namespace={shlex.quote(stack)}" if stack else ""
    return (f"docker service ls{where} --format '{{{{.Name}}}}\t{{{{.Mode}}}}\t{{{{.Replicas}}}}\t"
            "{{.Image}}\t{{.Ports}}' || exit 1\necho '--- tasks'\n"
            f"ids=$(docker service ls -q{where}) || exit 1\n"
            "[ -z \"$ids\" ] || docker service ps $ids --no-trunc --format "
            "'{{.Name}}\t{{.Node}}\t{{.DesiredState}}\t{{.CurrentState}}\t{{.Error}}'\n")


def parse_services(text: str) -> list[Service]:
    """Services and their tasks from `services_script` output (pure: tested on recordings)."""
    head, _, tasks = text.partition("--- tasks")
    services: dict[str, Service] = {}
    for line in head.splitlines():
        parts = line.split("\t")
        if len(parts) < 5 or not parts[0]:
            continue
        match = _REPLICAS.match(parts[2])
        running, desired = (int(match[1]), int(match[2])) if match else (0, 0)
        services[parts[0]] = Service(parts[0], parts[1], running, desired, parts[3], parts[4])
    for line in tasks.splitlines():
        parts = line.split("\t")
        if len(parts) < 5:
            continue
        task = parts[0].strip().removeprefix("\\_").strip()
        service = services.get(task.rsplit(".", 1)[0])
        if service is None:
            continue
        node, wanted, current, error = parts[1], parts[2], parts[3], parts[4].strip()
        if wanted == "Running" and current.startswith("Running") and node not in service.nodes:
            service.nodes.append(node)
        if error and not service.error:  # the newest task's error comes first
            service.error = f"task on {node}: {error}"
    return list(services.values())


async def _manager(runner: Runner) -> tuple[str, Transport]:
    """The leader (or an active manager) among the reachable hosts."""
    await runner.connect()
    await runner.refresh()
    runner.reporter.close()  # the live view of the connections ends; progress lines follow
    leader = runner.ctx.leader()
    if leader is None:
        raise HostError(runner.inventory.hosts[0].name,
                        "no reachable swarm manager among these hosts (cms-swarm create first)")
    return leader, runner.transports[leader]


async def _list(transport: Transport, name: str, stack: str = "") -> list[Service]:
    result = await transport.run(services_script(stack), sudo=True, timeout=60)
    if not result.ok:
        raise CommandError(name, "list services", result.exit_status, result.stderr)
    return parse_services(result.stdout)


def _runner(inventory: Inventory, options: RunOptions, reporter: Reporter) -> Runner:
    return Runner(inventory, options, reporter)


def services(inventory: Inventory, options: RunOptions, reporter: Reporter,
             stack: str = "") -> dict[str, Any]:
    """The swarm's services (or one stack's): replicas, ports, nodes running them."""

    async def work() -> dict[str, Any]:
        runner = _runner(inventory, options, reporter)
        try:
            manager, transport = await _manager(runner)
            found = await _list(transport, manager, stack)
        finally:
            reporter.close()
            await runner.close()
        return {"cluster": inventory.name, "hosts": host_results(runner, reporter),
                "manager": manager, "services": [s.as_dict() for s in found]}

    return asyncio.run(work())


def deploy(inventory: Inventory, options: RunOptions, reporter: Reporter, stack: str,
           files: list[Path], timeout: float, resolve_image: str,
           archives: tuple[Path, ...] = ()) -> dict[str, Any]:
    """Stream the compose files to a manager, `docker stack deploy` there, then wait until
    every service of the stack runs its desired tasks (or `timeout` passes). `archives`
    (`docker save` files) are loaded on every host first: images without a registry."""

    async def work() -> dict[str, Any]:
        runner = _runner(inventory, options, reporter)
        try:
            manager, transport = await _manager(runner)
            for archive in archives:
                await _load_everywhere(runner, archive)
            await _deploy(transport, manager, stack, files, resolve_image, reporter)
            found = await _wait(transport, manager, stack, timeout, reporter)
        finally:
            reporter.close()
            await runner.close()
        ok = bool(found) and all(s.converged for s in found)
        return {"cluster": inventory.name, "hosts": host_results(runner, reporter),
                "manager": manager, "stack": stack, "converged": ok,
                "services": [s.as_dict() for s in found]}

    return asyncio.run(work())


async def _load_everywhere(runner: Runner, archive: Path) -> None:
    """`docker load` the archive on every reachable host (in parallel); a host that fails
    stops the deploy, naming it."""
    data = archive.read_bytes()  # read once, sent to each host over its own connection

    async def load(name: str) -> None:
        transport = runner.transports[name]
        remote = f"/tmp/cms-swarm-image-{hashlib.sha256(data).hexdigest()[:16]}.tar"
        sent = await transport.put(data, remote, mode="0600")
        if not sent.ok:
            raise CommandError(name, f"upload {archive.name}", sent.exit_status, sent.stderr)
        done = await transport.run(f"docker load -i {remote}; s=$?; rm -f {remote}; exit $s",
                                   sudo=True, timeout=600)
        if not done.ok:
            raise CommandError(name, f"docker load {archive.name}", done.exit_status, done.stderr)
        loaded = ", ".join(line.split(":", 1)[1].strip() for line in done.stdout.splitlines()
                           if line.startswith("Loaded image"))
        runner.reporter.line(f"{name}: loaded {loaded or archive.name}")

    await runner.each(runner.alive(runner.results), load)
    failed = [n for n, r in runner.results.items() if r.failed and n in runner.transports]
    if failed:
        raise HostError(failed[0], f"{archive.name} could not be loaded on {', '.join(failed)}")


async def _deploy(transport: Transport, manager: str, stack: str, files: list[Path],
                  resolve_image: str, reporter: Reporter) -> None:
    made = await transport.run("mktemp -d /tmp/cms-swarm-deploy.XXXXXX", timeout=30)
    if not made.ok or not made.stdout.strip().startswith("/tmp/cms-swarm-deploy."):
        raise CommandError(manager, "make a temporary directory", made.exit_status, made.stderr)
    tmp = made.stdout.strip()
    try:
        paths = []
        for index, path in enumerate(files):
            remote = f"{tmp}/{index}-{path.name}"
            sent = await transport.put(path.read_bytes(), remote, mode="0600")
            if not sent.ok:
                raise CommandError(manager, f"upload {path}", sent.exit_status, sent.stderr)
            paths.append(remote)
        options = " ".join(f"-c {shlex.quote(p)}" for p in paths)
        # Docker 26+ waits in the foreground unless --detach; we wait ourselves, with errors
        command = (f"cd {shlex.quote(tmp)} && d=; docker stack deploy --help 2>&1 | grep -q -- "
                   f"--detach && d=--detach=true; docker stack deploy {options} --resolve-image "
                   f"{shlex.quote(resolve_image)} --prune $d {shlex.quote(stack)}")
        reporter.line(f"{manager}: docker stack deploy {stack} ({', '.join(str(f) for f in files)})")
        done = await transport.run(command, sudo=True, timeout=300)
        if not done.ok:
            hint = ("; Docker before 25 needs a top-level `version: \"3.8\"` in the compose file"
                    if "unsupported Compose file version: 1.0" in done.stderr else "")
            raise CommandError(manager, f"docker stack deploy {stack}", done.exit_status,
                               done.stderr + hint, done.stdout)
    finally:
        await transport.run(f"rm -rf {shlex.quote(tmp)}", sudo=True, timeout=30)


async def _wait(transport: Transport, manager: str, stack: str, timeout: float,
                reporter: Reporter) -> list[Service]:
    """Poll every 2 s; a line per service whenever its count changes; errors at the deadline."""
    deadline = time.monotonic() + timeout
    shown: dict[str, tuple[int, int]] = {}
    while True:
        found = await _list(transport, manager, stack)
        for service in found:
            now = (service.running, service.desired)
            if shown.get(service.name) != now:
                shown[service.name] = now
                reporter.line(f"{service.name}: {service.running}/{service.desired} running")
        if found and all(s.converged for s in found):
            reporter.line(f"stack {stack}: {_count(len(found))} running")
            return found
        if time.monotonic() > deadline:
            for service in found:
                if not service.converged:
                    why = service.error or "no task error reported yet"
                    reporter.error(f"{service.name}: {service.running}/{service.desired} running "
                                   f"after {timeout:.0f} s; {why}")
            return found
        await asyncio.sleep(2)


def _count(n: int) -> str:
    return f"{n} service" + ("" if n == 1 else "s")


def remove(inventory: Inventory, options: RunOptions, reporter: Reporter, stack: str) -> dict[str, Any]:
    """docker stack rm on a manager; a stack that is not there is no error (nothing to do)."""

    async def work() -> dict[str, Any]:
        runner = _runner(inventory, options, reporter)
        try:
            manager, transport = await _manager(runner)
            before = await _list(transport, manager, stack)
            if before:
                done = await transport.run(f"docker stack rm {shlex.quote(stack)}", sudo=True,
                                           timeout=120)
                if not done.ok:
                    raise CommandError(manager, f"docker stack rm {stack}", done.exit_status,
                                       done.stderr)
            reporter.line(f"stack {stack}: " + (f"removed {_count(len(before))}" if before
                                                 else "not deployed; nothing to do"))
        finally:
            reporter.close()
            await runner.close()
        return {"cluster": inventory.name, "hosts": host_results(runner, reporter),
                "manager": manager, "stack": stack, "removed": [s.name for s in before]}

    return asyncio.run(work())
