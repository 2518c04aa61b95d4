"""The runner: connect once per host, then per phase facts -> problems -> plan -> apply -> re-check.

Hosts of a batch run concurrently; batches run in order. A host that fails (cannot be
reached, a command fails) is recorded and left out from then on; the others finish, and
the exit code says a host failed. A preflight problem is different: it stops the phase for
every host, so nothing changes anywhere until it is fixed; a refused one (the command asks
for something it must not do) ends the command as bad input. Secrets a batch needs that are
not facts (join tokens) are read here, before the batch is planned, as the phase declares.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, TypeVar

from cloudmesh.swarm.checks import CheckEnv, run_check
from cloudmesh.swarm.errors import (
    CommandError,
    HostError,
    NotConverged,
    PreflightError,
    SwarmError,
    UsageError,
)
from cloudmesh.swarm.facts import PROBE_SCRIPT, parse_facts
from cloudmesh.swarm.hostlog import HostLog
from cloudmesh.swarm.inventory import Inventory, managers
from cloudmesh.swarm.options import RunOptions
from cloudmesh.swarm.phase_context import Context
from cloudmesh.swarm.plan import (
    Batch,
    Check,
    Plan,
    Problem,
    Secret,
    SecretRead,
    Step,
    redact,
    unsent,
)
from cloudmesh.swarm.ssh_settings import ssh_target
from cloudmesh.swarm.transport import Result, SshTarget, SshTransport, Transport

if TYPE_CHECKING:
    from cloudmesh.swarm.phases import Phase
    from cloudmesh.swarm.report import Reporter

T = TypeVar("T")
Connector = Callable[[SshTarget, RunOptions], Awaitable[Transport]]


@dataclass
class HostResult:
    """How one host ended a command: changed, unchanged or failed (with the error)."""

    host: str
    changed: bool = False
    error: SwarmError | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return self.error is not None


async def ssh_connector(target: SshTarget, options: RunOptions) -> Transport:
    return await SshTransport.connect(target, options.become_password)


class Runner:
    """Holds the connections, the context and the per-host results of one command."""

    def __init__(self, inventory: Inventory, options: RunOptions, reporter: Reporter,
                 connector: Connector = ssh_connector) -> None:
        self.inventory = inventory
        self.options = options
        self.reporter = reporter
        self.connector = connector
        # the CLI refuses an even manager count where it matters (create, init, add)
        self.ctx = Context(inventory, options, managers(inventory, force=True))
        self.transports: dict[str, Transport] = {}
        self.results = {h.name: HostResult(h.name) for h in inventory.hosts}
        self.logs: dict[str, HostLog] = {}
        self._stale: set[str] = {h.name for h in inventory.hosts}
        self._warned: set[str] = set()
        self._limit = asyncio.Semaphore(max(1, options.concurrency))

    # -- connections -------------------------------------------------------------------
    def target(self, name: str) -> SshTarget:
        return ssh_target(self.inventory, self.inventory.host(name),
                          strict_host_keys=self.options.strict_host_keys,
                          connect_timeout=self.options.connect_timeout)

    async def connect(self) -> None:
        """One connection per host, all at once; a host that cannot connect fails."""
        names = [h.name for h in self.inventory.hosts]
        for name in names:
            self.logs[name] = HostLog(self.inventory.name, name)
        self.reporter.phase("Connect", names)

        async def one(name: str) -> None:
            target = self.target(name)
            self.log(name, f"connect {target.user}@{target.address}:{target.port}")
            transport = await self.connector(target, self.options)
            self.transports[name] = transport
            for warning in getattr(transport, "warnings", ()):
                if warning not in self._warned:  # once per command, not once per host
                    self._warned.add(warning)
                    self.reporter.problem(name, Problem(warning, warning=True))
            peer = getattr(transport, "peer_address", None)
            if isinstance(peer, str) and peer:
                self.ctx.addresses[name] = peer

        await self.each(names, one)

    async def close(self) -> None:
        await asyncio.gather(*(t.close() for t in self.transports.values()), return_exceptions=True)
        for log in self.logs.values():
            log.close()

    # -- helpers -------------------------------------------------------------------------
    def log(self, host: str, text: str) -> None:
        if host in self.logs:
            self.logs[host].write(text)

    def alive(self, names: Iterable[str]) -> list[str]:
        """Hosts that are connected and have not failed."""
        return [n for n in names if n in self.transports and not self.results[n].failed]

    def fail(self, name: str, error: SwarmError) -> None:
        if self.results[name].error is None:
            self.results[name].error = error
        self.log(name, f"FAILED: {error}")
        self.reporter.host_failed(name, error)

    async def each(self, names: Iterable[str], work: Callable[[str], Awaitable[None]]) -> None:
        """Run `work` on each host concurrently (bounded); errors fail only that host."""

        async def guarded(name: str) -> None:
            async with self._limit:
                try:
                    await work(name)
                except HostError as error:
                    self.fail(name, error)
                except SwarmError as error:
                    self.fail(name, error)
                except Exception as error:  # noqa: BLE001 - a bug: one host fails, the traceback goes to its log
                    import traceback

                    self.log(name, traceback.format_exc())
                    self.fail(name, HostError(name, f"internal error: {type(error).__name__}: {error}"))

        await asyncio.gather(*(guarded(n) for n in names))

    # -- facts ---------------------------------------------------------------------------
    async def refresh(self, names: Iterable[str] | None = None) -> None:
        """Probe the stale hosts (or `names`): one round trip each, in parallel."""
        wanted = self.alive(names if names is not None else self._stale)

        async def probe(name: str) -> None:
            transport = self.transports[name]
            before = time.time()
            result = await transport.run(PROBE_SCRIPT, sudo=self._probe_sudo(), timeout=60,
                                         stdin="")
            after = time.time()
            if result.exit_status is None:
                raise CommandError(name, "gather facts", None, result.stderr)
            facts = parse_facts(result.stdout)
            self.ctx.facts[name] = facts
            if facts.clock is not None:
                self.ctx.clock_offsets[name] = facts.clock - (before + after) / 2
            self._stale.discard(name)

        await self.each(wanted, probe)

    def _probe_sudo(self) -> bool:
        """With a become password, the probe itself runs under sudo so docker facts are read."""
        return self.options.become_password is not None

    def mark_stale(self, names: Iterable[str] | None = None) -> None:
        self._stale.update(names if names is not None else self.results)

    # -- phases --------------------------------------------------------------------------
    async def run_phase(self, phase: Phase) -> bool:
        """Run one phase on every live host; True when no host failed."""
        names = self.alive(h.name for h in self.inventory.hosts)
        self.ctx.unchanged = not any(r.changed for r in self.results.values())
        self.reporter.phase(phase.title, names)
        await self.refresh()
        names = self.alive(names)
        self._report_problems(phase, names)
        if len(self.alive(names)) < len(names):  # a preflight problem stops the phase for all
            return False
        names = self.alive(names)
        batches = phase.batches(self.ctx)
        applied: set[str] = set()
        try:
            for index, batch in enumerate(batches):
                if not self.alive(batch.hosts):
                    continue
                if index and self._stale:
                    await self.refresh()
                todo = await self._run_batch(phase, batch)
                applied.update(todo)
                if any(self.results[h].failed for h in batch.hosts if h in self.results) \
                        and batch.stop_on_failure:
                    break
        finally:
            await self._clean_up(phase)
        if applied and not self.options.dry_run and phase.converges:
            await self._recheck(phase, batches, applied)
        failed = [n for n in names if self.results[n].failed]
        for name in names:
            if not self.results[name].failed:
                changed = name in applied and not phase.leaves_hosts_as_found
                self.reporter.host_done(name, phase.title, changed, note=", ".join(self.results[name].notes))
        if not failed and not self.options.dry_run:
            phase.passed(self.ctx)
        return not failed

    async def _read_secrets(self, reads: list[SecretRead], hosts: list[str]) -> bool:
        """Read the secrets a batch needs (in --dry-run too: reading changes nothing) into
        ctx.secrets; the value is never reported or logged. A failed or empty read fails
        `hosts` (those that need it) with one clear error; False then. A `planned` read (a dry
        run before what holds the secret exists) is shown only."""
        for read in reads:
            self.reporter.step(read.host, read.step, dry_run=self.options.dry_run)
            if read.planned and self.options.dry_run:
                continue
            self.log(read.host, f"read: {read.step.description}: {read.step.shown()}")
            transport = self.transports.get(read.host)
            if transport is None or self.results[read.host].failed:
                why = "it failed or cannot be reached"
            else:
                result = await transport.run(read.step.command, sudo=read.step.sudo,
                                             stdin=read.step.stdin_text(), timeout=read.step.timeout)
                self.log(read.host, f"exit {result.exit_status} (output withheld: a secret)")
                value = result.stdout.strip() if result.ok else ""
                if value:
                    self.ctx.secrets[read.name] = Secret(value)
                    continue
                said = " | ".join(line.strip() for line in redact(result.stderr).splitlines()[-3:]
                                  if line.strip())
                why = said or ("it printed nothing" if result.ok else f"exit {result.exit_status}")
            for host in hosts:
                self.fail(host, HostError(host, f"could not read {read.what}: {why}"))
            return False
        return True

    async def _run_batch(self, phase: Phase, batch: Batch, cleanup: bool = False) -> list[str]:
        """Plan the batch's live hosts, report the plans, apply them (not in a dry run);
        the hosts that had work."""
        hosts = self.alive(batch.hosts) if not cleanup else [h for h in batch.hosts if h in self.transports]
        if not hosts:
            return []
        reads = [] if cleanup else phase.secret_reads(self.ctx, batch)
        if reads:  # a failed read fails the hosts that need it (plans are pure: plan twice)
            needing = [h for h in hosts if phase.plan(self.ctx, h, batch.stage).needs_work]
            if not await self._read_secrets(reads, needing):
                return []
        plan_of = phase.cleanup_plan if cleanup else phase.plan
        plans = {h: plan_of(self.ctx, h, batch.stage) for h in hosts}
        for host, plan in plans.items():
            self.reporter.plan(host, phase.title, plan, dry_run=self.options.dry_run)
            if not self.options.dry_run:
                self.results[host].notes.extend(plan.notes)
        if self.options.dry_run:
            return []
        todo = [h for h in hosts if plans[h].needs_work]
        env = CheckEnv(self.transports, {h: f.hostname for h, f in self.ctx.facts.items()}, tuple(todo))
        await self.each(todo, partial(self._apply_planned, plans, env, not phase.leaves_hosts_as_found))
        if any(isinstance(step, Step) for h in todo for step in plans[h].steps):
            self.mark_stale()
        return todo

    async def _clean_up(self, phase: Phase) -> None:
        """The phase's declared clean-up, on every connected host it names, failed or not."""
        for batch in phase.cleanup(self.ctx):
            await self._run_batch(phase, batch, cleanup=True)

    def _report_problems(self, phase: Phase, names: list[str]) -> None:
        problems_of = {name: phase.problems(self.ctx, name) for name in names}
        refused = [p for problems in problems_of.values() for p in problems if p.refused]
        if refused:  # the command asks for something refused: bad input, nothing was done
            raise UsageError("; ".join(str(p) for p in refused))
        for name in names:
            problems = problems_of[name]
            for problem in problems:
                self.log(name, f"{'warning' if problem.warning else 'problem'}: {problem}")
                self.reporter.problem(name, problem)
            errors = [str(p) for p in problems if not p.warning]
            if errors:
                self.fail(name, PreflightError(name, errors))

    async def _apply_planned(self, plans: dict[str, Plan], env: CheckEnv, changes: bool,
                             host: str) -> None:
        await self.apply(host, plans[host], env, changes)

    async def apply(self, host: str, plan: Plan, env: CheckEnv | None = None,
                    changes: bool = True) -> Result | None:
        """Run the plan's steps and checks in order; stop at the first that fails. The last
        command's result (what it printed), None when none ran."""
        transport = self.transports[host]
        if changes:
            self.results[host].changed = True
        result: Result | None = None
        for step in plan.steps:
            if isinstance(step, Step) and unsent(step.stdin):
                raise HostError(host, f"{step.description}: a secret it needs was not read or given")
            self.reporter.step(host, step)
            if not isinstance(step, Step):
                await self._check(host, step, env or CheckEnv(self.transports, {}, (host,)))
                continue
            self.log(host, f"run: {step.description}: {step.shown()}")
            started = time.monotonic()
            result = await _execute(transport, step)
            self.log(host, f"exit {result.exit_status} after {time.monotonic() - started:.1f} s"
                     + (f"\nstdout: {result.stdout.strip()}" if result.stdout.strip() else "")
                     + (f"\nstderr: {result.stderr.strip()}" if result.stderr.strip() else ""))
            if not result.ok:
                raise CommandError(host, step.description, result.exit_status, result.stderr,
                                   result.stdout)
        return result

    async def _check(self, host: str, check: Check, env: CheckEnv) -> None:
        self.log(host, f"check: {check.description}: {check.shown()}")
        started = time.monotonic()
        try:
            note = await run_check(check, host, env)
        finally:
            self.log(host, f"check done after {time.monotonic() - started:.1f} s")
        if note:
            self.results[host].notes.append(note)

    async def _recheck(self, phase: Phase, batches: list[Batch], applied: set[str]) -> None:
        """Probe again and re-plan: a host that still has work did not converge."""
        await self.refresh(self.alive(h.name for h in self.inventory.hosts))
        for batch in batches:
            for host in self.alive(batch.hosts):
                plan = phase.plan(self.ctx, host, batch.stage)
                if plan.needs_work and host in applied:
                    left = ", ".join(step.description for step in plan.steps)
                    self.fail(host, NotConverged(host, f"{phase.title}: still to do after apply: {left}"))


async def _execute(transport: Transport, step: Step) -> Result:
    """A step that moves bytes (an upload, a download into a local file) runs itself over
    the transport; any other step is its command."""
    execute = getattr(step, "execute", None)
    if callable(execute):
        moved: Result = await execute(transport)
        return moved
    return await transport.run(step.command, sudo=step.sudo, stdin=step.stdin_text(),
                               timeout=step.timeout)
