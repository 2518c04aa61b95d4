"""Values a phase returns and the runner runs: Secret, Step, the checks, Plan, Problem, Batch,
SecretRead. No I/O here.

The printed plan is what apply runs, so `--dry-run` cannot drift from the real run.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field


class Secret:
    """A value that must never be shown: str() and repr() are `***`."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The real value; only the transport's stdin feed should call this."""
        return self._value

    def __str__(self) -> str:
        return "***"

    def __repr__(self) -> str:
        return "Secret('***')"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


def unsent(parts: tuple[str | Secret, ...]) -> bool:
    """Some secret among these parts is empty (never read or given): the runner refuses to
    send it, so a missing token or key is a clear error and never an empty one on a host."""
    return any(isinstance(part, Secret) and not part.reveal() for part in parts)


NOT_READ = Secret("")  # a secret the runner reads only once the swarm exists (--dry-run before)


@dataclass(frozen=True)
class Step:
    """One remote command: what it does in words, the command, and how to run it.

    `stdin` may hold Secrets: they reach the host on the channel's stdin only,
    never on a command line that `ps` or sudo's log could show.
    """

    description: str
    command: str
    sudo: bool = False
    stdin: tuple[str | Secret, ...] = ()
    timeout: float = 120.0

    def stdin_text(self) -> str:
        """The stdin to send, secrets revealed (for the transport only)."""
        return "".join(p.reveal() if isinstance(p, Secret) else p for p in self.stdin)

    def shown(self) -> str:
        """The command as --dry-run and -v print it; secrets stay `***`."""
        text = f"sudo {self.command}" if self.sudo else self.command
        if self.stdin:
            text += "  <<< " + "".join(str(p) for p in self.stdin).replace("\n", "\\n")
        return text


# Checks: steps that read and never change, run by the runner (checks.py) like commands.
# A failed check fails the host it belongs to with `failure: <why>`; a passed one adds `ok`
# to the host's notes. `shown()` is what --dry-run prints, as it does for a command.


@dataclass(frozen=True)
class TasksRunning:
    """Check: `service` runs a task on node `node`, as manager `via` lists the tasks; polled
    until `timeout`. A task error seen there is the reason given."""

    description: str
    service: str
    node: str  # the node's hostname, as `docker service ps` names it
    via: str  # the inventory host that asks (the leader)
    timeout: float = 120.0
    ok: str = ""

    def command(self) -> str:
        return (f"docker service ps {self.service} --no-trunc "
                "--format '{{.Node}}|{{.CurrentState}}|{{.Error}}'")

    def shown(self) -> str:
        return (f"on {self.via}, until node {self.node} runs a task (at most {self.timeout:.0f} s): "
                f"sudo {self.command()}")


@dataclass(frozen=True)
class HttpAnswers:
    """Check: GET / on address:port from this machine answers (with `expected`, when given);
    polled until `timeout`."""

    description: str
    address: str
    port: int
    expected: str | None
    failure: str
    timeout: float = 30.0
    ok: str = ""

    def shown(self) -> str:
        wanted = f"answers {self.expected!r}" if self.expected is not None else "answers"
        return (f"from this machine, until GET http://{self.address}:{self.port}/ {wanted} "
                f"(at most {self.timeout:.0f} s)")


@dataclass(frozen=True)
class OverlayReach:
    """Check: this host's task of `service` fetches / from the tasks of up to `peers` other
    hosts of the same check (the next ones in inventory order) at their `network` addresses."""

    description: str
    service: str
    network: str
    peers: int = 4
    ok: str = "overlay ok ({n} peers)"

    def find_task(self) -> str:
        return f"docker ps -q --filter label=com.docker.swarm.service.name={self.service} | head -n 1"

    def address_command(self) -> str:
        """The overlay address of this host's task."""
        return (f"docker inspect -f '{{{{(index .NetworkSettings.Networks \"{self.network}\").IPAddress}}}}' "
                f"$({self.find_task()})")

    def fetch_command(self, address: str) -> str:
        """From this host's task, GET / from the task at `address` (port 80)."""
        request = "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 5 " + shlex.quote(address) + " 80"
        return f"docker exec $({self.find_task()}) sh -c {shlex.quote(request)}"

    def shown(self) -> str:
        return (f"up to {self.peers} peers' task addresses (sudo {self.address_command()}), then for "
                f"each: sudo {self.fetch_command('PEER')}")


Check = TasksRunning | HttpAnswers | OverlayReach


@dataclass(frozen=True)
class Plan:
    """The ordered steps (commands, checks) that close the gap on one host; empty means
    converged. `notes` go to the host's line at the end of the phase (verify: "node ok")."""

    steps: tuple[Step | Check, ...] = ()
    reason: str = ""
    notes: tuple[str, ...] = field(default=())

    @property
    def needs_work(self) -> bool:
        return bool(self.steps)

    @classmethod
    def noop(cls, reason: str, *notes: str) -> Plan:
        return cls((), reason, tuple(notes))


@dataclass(frozen=True)
class Problem:
    """One finding about one host; warnings are reported but do not fail the host."""

    message: str
    fix: str = ""
    warning: bool = False
    # the command asks for something refused (exit 2 like bad input, nothing changed anywhere)
    refused: bool = False

    def __str__(self) -> str:
        return f"{self.message} (fix: {self.fix})" if self.fix else self.message


@dataclass(frozen=True)
class Batch:
    """Hosts that run a phase's stage together; `stage` lets one phase plan several kinds."""

    stage: str
    hosts: tuple[str, ...]
    stop_on_failure: bool = True  # False: a host that fails drops out, the others go on (checks)


@dataclass(frozen=True)
class SecretRead:
    """A secret a batch needs that is not a fact (a join token): the runner runs `step` on
    `host` before planning the batch, in --dry-run too (it changes nothing), and keeps its
    stdout as `ctx.secrets[name]`, never shown or logged. `what` names it and where it
    comes from, for the error when the read fails or prints nothing. `planned`: in a dry run
    on hosts where what holds the secret does not exist yet (no swarm): shown, not run."""

    name: str
    host: str
    step: Step
    what: str
    planned: bool = False


_TOKEN = re.compile(r"SWMTKN-[A-Za-z0-9-]+")
_UNLOCK = re.compile(r"SWMKEY-[A-Za-z0-9+/=-]+")


def redact(text: str) -> str:
    """Mask swarm join tokens and unlock keys in any text bound for a screen or a log."""
    return _UNLOCK.sub("SWMKEY-***", _TOKEN.sub("SWMTKN-***", text))


# ESC/CSI/OSC sequences, then any other control character but tab and newline (C1 included)
_TERMINAL = re.compile(r"\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b\[[0-?]*[ -/]*[@-~]|\x1b[@-_]?"
                       r"|[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """Text from a host made safe for a terminal: no escape sequences or control characters
    (a hostname cannot retitle the window or hide a line), secrets masked."""
    return _TERMINAL.sub("", redact(text))
