"""The one fake host and the one context builder every unit test shares.

`context` turns probe texts into the Context a phase plans from; `FakeTransport` answers
the probe (and, through a handler, any other command) and records what was run; `Lab` hands
the runner one FakeTransport per host (k0sctl's rigtest MockRunner, httpx's MockTransport).
"""

from __future__ import annotations

import io
import re
import threading
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cloudmesh.swarm.errors import ConnectError
from cloudmesh.swarm.facts import PROBE_SCRIPT, parse_facts
from cloudmesh.swarm.inventory import Inventory, managers
from cloudmesh.swarm.options import RunOptions
from cloudmesh.swarm.phase_context import Context
from cloudmesh.swarm.plan import Check, Step
from cloudmesh.swarm.report import Reporter
from cloudmesh.swarm.transport import Result, SshTarget, Transport

from .probes import at_now, probe

Handler = Callable[[str, str], Result]


def inventory(n: int = 3, **host: object) -> Inventory:
    """pi1..pi<n> at 10.0.0.11.., the last host updated with `host` (role, labels, ...)."""
    hosts: list[dict[str, object]] = [{"name": f"pi{i}", "address": f"10.0.0.{10 + i}"} for i in range(1, n + 1)]
    hosts[-1].update(host)
    return Inventory.model_validate({"name": "t", "hosts": hosts})


def named_inventory(names: list[str]) -> Inventory:
    """The hosts `names` at 10.0.0.1.. in that order."""
    return Inventory.model_validate(
        {"name": "t", "hosts": [{"name": h, "address": f"10.0.0.{i}"} for i, h in enumerate(names, 1)]})


def context(inv: Inventory | None, probes: dict[str, str], **options: object) -> Context:
    """The Context a phase sees after probing: facts parsed from `probes` (host -> probe text);
    without an inventory, the probed hosts are it (see named_inventory)."""
    inv = inv if inv is not None else named_inventory(list(probes))
    ctx = Context(inv, RunOptions(**options), managers(inv))  # type: ignore[arg-type]
    ctx.facts = {name: parse_facts(text) for name, text in probes.items()}
    return ctx


def descriptions(plan: object) -> list[str]:
    return [step.description for step in plan.steps]  # type: ignore[attr-defined]


def bare(name: str, command: str) -> Result:
    """A fresh host: the probe shows no Docker, every other command succeeds quietly."""
    if command == PROBE_SCRIPT:
        return Result(0, probe(name), "")
    return Result(0, "", "")


def canned(probes: dict[str, str]) -> Handler:
    """The probe answers `probes[host]`; any other command is unexpected (exit 99)."""

    def handler(name: str, command: str) -> Result:
        return Result(0, probes[name], "") if command == PROBE_SCRIPT else Result(99, "", "unexpected")

    return handler


class FakeTransport:
    """One host: answers every command from `handler(host, command)` and records it in
    `calls` (shared by a Lab's hosts); `read_only` makes any upload a test failure."""

    def __init__(self, name: str, handler: Handler, calls: list[tuple[str, str]] | None = None,
                 *, read_only: bool = False) -> None:
        self.name = name
        self.handler = handler
        self.calls: list[tuple[str, str]] = [] if calls is None else calls
        self.read_only = read_only

    @property
    def commands(self) -> list[str]:
        """What ran on this host, the probe included, in order."""
        return [c for h, c in self.calls if h == self.name]

    async def run(self, command: str, *, sudo: bool = False, stdin: str = "",
                  timeout: float = 60.0) -> Result:
        self.calls.append((self.name, command))
        result = self.handler(self.name, command)
        if command == PROBE_SCRIPT:
            return Result(result.exit_status, at_now(result.stdout), result.stderr)
        return result

    async def put(self, data: bytes, path: str, *, mode: str = "0644", sudo: bool = False) -> Result:
        if self.read_only:
            raise AssertionError(f"{self.name}: must not write to a host ({path})")
        return Result(0, "", "")

    async def stream_out(self, command: str, sink: Callable[[bytes], Awaitable[None] | None], *,
                         sudo: bool = False, timeout: float | None = None,
                         chunk: int = 1 << 20) -> Result:
        """Like `run`, the handler's stdout handed to `sink` (Result.stdout stays empty)."""
        result = await self.run(command, sudo=sudo)
        done = sink(result.stdout.encode())
        if done is not None:
            await done
        return Result(result.exit_status, "", result.stderr)

    async def close(self) -> None:
        pass


class Lab:
    """A connector for the runner: one FakeTransport per host, all recording into `calls`."""

    def __init__(self, handler: Handler = bare, unreachable: tuple[str, ...] = (),
                 *, read_only: bool = False) -> None:
        self.calls: list[tuple[str, str]] = []
        self.handler = handler
        self.unreachable = unreachable
        self.read_only = read_only
        self.transports: dict[str, FakeTransport] = {}

    async def connect(self, target: SshTarget, options: RunOptions) -> Transport:
        if target.name in self.unreachable:
            raise ConnectError(target.name, f"cannot connect to {target.address}:22: refused")
        transport = FakeTransport(target.name, self.handler, self.calls, read_only=self.read_only)
        self.transports[target.name] = transport
        return transport

    def commands(self, host: str | None = None) -> list[str]:
        """What ran besides the probe, on `host` or on all hosts."""
        return [c for h, c in self.calls if c != PROBE_SCRIPT and (host is None or h == host)]


# -- verify's test service, faked: hosts pi<n> at 127.0.0.<n> ---------------------------------
@contextmanager
def serve_hostnames(count: int) -> Iterator[int]:
    """The test service on 127.0.0.1..count, one port (yielded): each address answers its
    host's name (pi<n>), as verify's global service does on every node's host port."""

    class Answer(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = f"pi{str(self.server.server_address[0]).rsplit('.', 1)[1]}\n".encode()
            self.send_response(200)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    first = ThreadingHTTPServer(("127.0.0.1", 0), Answer)
    port = first.server_address[1]
    servers = [first] + [ThreadingHTTPServer((f"127.0.0.{i}", port), Answer) for i in range(2, count + 1)]
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield port
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()


def verify_answer(name: str, command: str, hosts: tuple[str, ...]) -> Result | None:
    """What a node of a working swarm prints for verify's commands (None for others): every
    host runs its test task, each task's overlay address is 10.0.1.<n>, and a fetch over the
    overlay answers that task's host name."""
    if command.startswith("docker service ps"):
        return Result(0, "".join(f"{h}|Running 2 seconds ago|\n" for h in hosts), "")
    if command.startswith("docker inspect -f"):
        return Result(0, f"10.0.1.{name[2:]}\n", "")
    if command.startswith("docker exec"):
        peer = re.search(r"nc -w 5 10\.0\.1\.(\d+) 80", command)
        return Result(0, f"HTTP/1.0 200 OK\r\n\r\npi{peer.group(1) if peer else '?'}\n", "")
    return None


class StepRecorder(Reporter):
    """A quiet reporter that keeps every step and check it is told about, per host, as
    (description, what --dry-run shows); what it printed is in `out` and `errors`."""

    def __init__(self) -> None:
        self.out, self.errors = io.StringIO(), io.StringIO()
        super().__init__(file=self.out, err=self.errors, live=False)
        self.seen: dict[str, list[tuple[str, str]]] = {}

    def said(self) -> str:
        return self.out.getvalue() + self.errors.getvalue()

    def step(self, host: str, step: Step | Check, dry_run: bool = False) -> None:
        self.seen.setdefault(host, []).append((step.description, step.shown()))
        super().step(host, step, dry_run)
