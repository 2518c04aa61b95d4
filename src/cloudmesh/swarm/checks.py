"""How the runner runs a check (plan.py: TasksRunning, HttpAnswers, OverlayReach).

Checks read and never change: they poll until what they wait for holds or their time is up,
then say why not (a VerifyError for the host the check belongs to). The parsing of what a
host printed is in small pure functions, tested on recorded output.
"""

from __future__ import annotations

import asyncio
import ipaddress
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from cloudmesh.swarm.errors import VerifyError
from cloudmesh.swarm.plan import Check, HttpAnswers, OverlayReach, TasksRunning
from cloudmesh.swarm.transport import Result, Transport

POLL = 0.5  # seconds between two looks at what a check waits for


class SharedLooks:
    """One look at a time at the same thing: checks of many hosts that wait on one command on
    one host (every node's task check polls `docker service ps` on the leader) share the look
    in flight or one younger than `POLL`, so a Pi leading 24 nodes answers one poll per
    interval, not 24."""

    def __init__(self) -> None:
        self._latest: dict[tuple[str, str], tuple[float, asyncio.Future[Result]]] = {}

    async def run(self, transport: Transport, host: str, command: str) -> Result:
        key, now = (host, command), time.monotonic()
        found = self._latest.get(key)
        if found is None or (found[1].done() and now - found[0] >= POLL):
            found = (now, asyncio.ensure_future(transport.run(command, sudo=True, timeout=30)))
            self._latest[key] = found
        return await asyncio.shield(found[1])  # one waiter cancelled leaves the look to others


@dataclass(frozen=True)
class CheckEnv:
    """What a check may use beyond its own host: the connections, each host's hostname, and
    the hosts running the same check now (in inventory order; overlay peers come from them);
    `looks` shares polls between them."""

    transports: Mapping[str, Transport]
    hostnames: Mapping[str, str]
    together: tuple[str, ...]
    looks: SharedLooks = field(default_factory=SharedLooks)


@dataclass(frozen=True)
class TaskList:
    """`docker service ps` as Node|CurrentState|Error lines: where tasks run, the errors."""

    running: frozenset[str]
    errors: Mapping[str, str]  # node -> the first task error listed there (the newest)


def parse_tasks(text: str) -> TaskList:
    running: set[str] = set()
    errors: dict[str, str] = {}
    for line in text.splitlines():
        node, _, rest = line.partition("|")
        state, _, error = rest.partition("|")
        if state.startswith("Running"):
            running.add(node)
        elif error:
            errors.setdefault(node, error)
    return TaskList(frozenset(running), errors)


def http_body(answer: str) -> str:
    """The body of an HTTP answer (after the blank line), stripped."""
    return answer.partition("\r\n\r\n")[2].strip()


def overlay_ip(text: str) -> str:
    """The overlay address a host printed, as an IP address; anything else is refused."""
    return str(ipaddress.ip_address(text.strip()))


def overlay_peers(host: str, together: tuple[str, ...], most: int) -> list[str]:
    """The next `most` hosts after `host`, round the list: each task is reached by some."""
    if host not in together:
        return []
    index = together.index(host)
    return [together[(index + k) % len(together)] for k in range(1, min(len(together), most + 1))]


async def run_check(check: Check, host: str, env: CheckEnv) -> str:
    """Run `check` for `host`; its note when it passes, VerifyError when it does not."""
    if isinstance(check, TasksRunning):
        return await tasks_running(check, host, env)
    if isinstance(check, HttpAnswers):
        why = await answers(check.address, check.port, check.expected,
                            time.monotonic() + check.timeout)
        if why:
            raise VerifyError(host, f"{check.failure}: {why}")
        return check.ok
    return await overlay_reach(check, host, env)


async def tasks_running(check: TasksRunning, host: str, env: CheckEnv) -> str:
    deadline = time.monotonic() + check.timeout
    why = ""
    while True:
        result = await env.looks.run(env.transports[check.via], check.via, check.command())
        tasks = parse_tasks(result.stdout)
        if check.node in tasks.running:
            return check.ok
        why = tasks.errors.get(check.node, why)
        if time.monotonic() >= deadline:
            break
        await asyncio.sleep(POLL)
    raise VerifyError(host, f"test task did not start on node {check.node}" + (f": {why}" if why else ""))


async def http_get(address: str, port: int, timeout: float = 5.0) -> str:
    """Body of GET / on address:port (HTTP/1.0), from this machine."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection(address, port), timeout)
    try:
        writer.write(b"GET / HTTP/1.0\r\nHost: verify\r\n\r\n")
        await writer.drain()
        data = await asyncio.wait_for(reader.read(65536), timeout)
    finally:
        writer.close()
    return http_body(data.decode("utf-8", "replace"))


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


async def task_address(check: OverlayReach, host: str, env: CheckEnv) -> str:
    """The overlay address of `host`'s test task; VerifyError (for `host`) without one."""
    result = await env.looks.run(env.transports[host], host, check.address_command())  # peers ask too
    if not result.ok or not result.stdout.strip():
        raise VerifyError(host, "test task has no overlay address")
    try:
        return overlay_ip(result.stdout)
    except ValueError:
        raise VerifyError(host, "test task's overlay address is not an IP address") from None


async def overlay_reach(check: OverlayReach, host: str, env: CheckEnv) -> str:
    """This host's task fetches / from its peers' tasks; a peer without an address is left
    out here (its own check fails it)."""
    await task_address(check, host, env)
    addresses: dict[str, str] = {}
    for peer in overlay_peers(host, env.together, check.peers):
        try:
            addresses[peer] = await task_address(check, peer, env)
        except VerifyError:
            continue
    if not addresses:
        return ""
    failed = []
    for peer, address in addresses.items():
        for _ in range(10):
            result = await env.transports[host].run(check.fetch_command(address), sudo=True, timeout=30)
            if env.hostnames.get(peer, peer) in result.stdout:
                break
            await asyncio.sleep(0.5)
        else:
            failed.append(peer)
    if failed:
        raise VerifyError(host, f"overlay network: cannot reach the task on {', '.join(failed)}")
    return check.ok.format(n=len(addresses))
