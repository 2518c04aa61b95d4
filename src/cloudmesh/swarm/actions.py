"""Run a command (declared in commands.py): its phases in order, then its after-steps.

An action is a list of phases (k0sctl's action/apply.go): a command names them, PHASES
builds them from its options.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cloudmesh.swarm.commands import COMMANDS, Command
from cloudmesh.swarm.errors import HostError
from cloudmesh.swarm.facts import HostFacts
from cloudmesh.swarm.inventory import Inventory
from cloudmesh.swarm.options import RunOptions
from cloudmesh.swarm.phases import Phase
from cloudmesh.swarm.phases.access import HardenPhase, KeysPhase
from cloudmesh.swarm.phases.configure import ConfigurePhase
from cloudmesh.swarm.phases.hostname import HostnamePhase
from cloudmesh.swarm.phases.install import InstallPhase
from cloudmesh.swarm.phases.membership import RemovePhase
from cloudmesh.swarm.phases.nodes import NodeOpsPhase
from cloudmesh.swarm.phases.prepare import PreparePhase
from cloudmesh.swarm.phases.reset import ResetPhase
from cloudmesh.swarm.phases.tokens import AutolockPhase, RotateTokensPhase, UnlockPhase
from cloudmesh.swarm.phases.upgrade import UpgradePhase
from cloudmesh.swarm.phases.verify import VerifyPhase
from cloudmesh.swarm.plan import Secret
from cloudmesh.swarm.report import Reporter
from cloudmesh.swarm.runner import Connector, Runner, ssh_connector
from cloudmesh.swarm.swarm_view import own_row, quorum
from cloudmesh.swarm.transport import SshTransport


@dataclass(frozen=True)
class Extras:
    """What some commands need beyond the options: secrets held in memory, never shown."""

    secrets: dict[str, Secret] = field(default_factory=dict)  # e.g. the unlock key
    autolock: bool = False  # create/init --autolock
    key_path: Path | None = None  # keys: the key whose login is proved afterwards
    targets: tuple[str, ...] = ()  # node operations: the inventory hosts they act on
    labels: tuple[str, ...] = ()  # label: key=value to set, key- to remove
    version: str = ""  # upgrade: the docker.io version; empty: what apt offers
    use_context: bool = False  # create/context --use: make swarm-<cluster> the current context


def run_action(name: str, inventory: Inventory, options: RunOptions, reporter: Reporter,
               skip_verify: bool = False, show_status: bool = False, as_json: bool = False,
               connector: Connector = ssh_connector, extras: Extras | None = None) -> int:
    """Run the named action on every host; return the exit code (0 ok, 1 a host failed)."""
    return asyncio.run(_run(name, inventory, options, reporter, skip_verify, show_status,
                            as_json, connector, extras or Extras()))


PhaseMaker = Callable[[str, "Extras", RunOptions], "Phase | None"]
PHASES: dict[str, PhaseMaker] = {  # the phase names commands.py uses; None: left out this time
    "prepare": lambda name, extras, options: PreparePhase(),
    "install": lambda name, extras, options: InstallPhase(),
    "configure": lambda name, extras, options: ConfigurePhase(),
    "autolock": lambda name, extras, options: AutolockPhase() if extras.autolock else None,
    "verify": lambda name, extras, options: VerifyPhase(reuse_earlier=name == "create"),
    "reset": lambda name, extras, options: ResetPhase(),
    "keys": lambda name, extras, options: KeysPhase(),
    "harden": lambda name, extras, options: HardenPhase(),
    "rotate-tokens": lambda name, extras, options: RotateTokensPhase(),
    "unlock": lambda name, extras, options: UnlockPhase(),
    "hostname": lambda name, extras, options: HostnamePhase(),
    "nodes": lambda name, extras, options: NodeOpsPhase(name, extras.targets, extras.labels,
                                                         options.force),
    "remove": lambda name, extras, options: RemovePhase(extras.targets, options.force),
    "upgrade": lambda name, extras, options: UpgradePhase(extras.version),
}


def phases_of(name: str, extras: Extras, options: RunOptions) -> list[Phase]:
    """The phases command `name` runs with these options, in order."""
    made = (PHASES[phase](name, extras, options) for phase in COMMANDS[name].phases)
    return [phase for phase in made if phase is not None]


async def _run(name: str, inventory: Inventory, options: RunOptions, reporter: Reporter,
               skip_verify: bool, show_status: bool, as_json: bool, connector: Connector,
               extras: Extras) -> int:
    command = COMMANDS[name]
    runner = Runner(inventory, options, reporter, connector)
    runner.ctx.secrets.update(extras.secrets)
    try:
        await runner.connect()
        ok = True
        if "remove" in command.phases:  # a dead board can still be removed: its entry goes by force
            for target in extras.targets:
                if target not in runner.transports:
                    runner.results[target].error = None
                    runner.reporter.line(f"{target}: unreachable; its node entry will be removed by force")
        # hosts that cannot be reached have failed; the others go on, and the exit code says so
        ok = bool(runner.transports)
        if ok and not await _enough_reached(runner, command):
            return 1
        for phase in phases_of(name, extras, options) if ok else []:
            if skip_verify and isinstance(phase, VerifyPhase):
                continue
            ok = await runner.run_phase(phase)
            if ok and isinstance(phase, AutolockPhase) and not options.dry_run:
                await show_unlock_key(runner)
            if isinstance(phase, PreparePhase) and options.fix_identities and not options.dry_run:
                record_host_keys(runner)
            if not ok:
                break
        if ok and "key-login" in command.after and not options.dry_run:
            await prove_key_login(runner, extras.key_path)
        failed = [n for n, r in runner.results.items() if r.failed]
        if command.report == "summary":
            changed = [n for n, r in runner.results.items() if r.changed]
            reporter.summary(failed, changed, len(runner.results), options.dry_run)
        result: dict[str, Any] = {}
        code = 1 if failed else 0
        if command.report != "summary" or (show_status and ok and not options.dry_run):
            await runner.refresh()  # `status` probes here; after `create` the facts are fresh
            result = status_data(runner)
            if not as_json:
                reporter.status(result, False)
            if command.report == "status":
                code = 0 if all(n["state"] == "ready" for n in result["nodes"]) else 1
        moves_context = {"write-context", "keep-context"} & set(command.after)
        if ok and not options.dry_run and moves_context:
            if not result:
                await runner.refresh()
                result = status_data(runner)
            result["context"] = docker_context(command, runner, reporter, result, extras.use_context)
            if command.report == "context" and result["context"] is None:
                code = 1
        if as_json:
            reporter.document(json_document(name, runner, reporter, options, code, result))
        return code
    finally:
        reporter.close()
        await runner.close()


def docker_context(command: Command, runner: Runner, reporter: Reporter, status: dict[str, Any],
                   use: bool) -> dict[str, Any] | None:
    """create/context write the context `swarm-<cluster>` at the leader; status/remove move an
    existing one to a reachable manager. What it points at now, for the report."""
    from cloudmesh.swarm import context

    inventory = runner.inventory
    writes = "write-context" in command.after
    if writes:
        manager = context.pick_manager(status)
        if manager is None:
            reporter.error("no reachable manager for the Docker context")
            return None
        written: context.Written | None = context.write(inventory, manager, use=use)
    else:
        written = context.keep_reachable(inventory, status)
        if written is not None:
            reporter.line(f"docker context {written.context} moved to {written.manager}")
    if written is None:
        host = context.current_endpoint(inventory.name)
        return None if host is None else {"name": context.context_name(inventory.name), "host": host}
    if writes:
        hint = "" if written.current else f" (use it: docker context use {written.context})"
        reporter.line(f"docker context {written.context}: {written.host}{hint}; "
                      f"ssh settings in {written.ssh_config}")
    return {"name": written.context, "host": written.host, "manager": written.manager,
            "meta": str(written.meta), "ssh_config": str(written.ssh_config),
            "current": written.current}


def json_document(name: str, runner: Runner, reporter: Reporter, options: RunOptions, code: int,
                  result: dict[str, Any]) -> dict[str, Any]:
    """The one --json document: per host ok/failed, changed, steps, warnings, error; then the
    command's own result (status: cluster, swarm, nodes; context) at the top level."""
    return {"command": name, "cluster": runner.inventory.name, "ok": code == 0,
            "exit_code": code, "dry_run": options.dry_run, "hosts": host_results(runner, reporter),
            **result}


def host_results(runner: Runner, reporter: Reporter) -> dict[str, dict[str, Any]]:
    """Per host, for --json: ok, changed, steps (run, or planned in a dry run), warnings, error."""
    return {host: {"ok": not done.failed, "changed": done.changed,
                   "steps": reporter.steps.get(host, []), "warnings": reporter.warnings.get(host, []),
                   "error": str(done.error) if done.error else None}
            for host, done in runner.results.items()}


async def _enough_reached(runner: Runner, command: Command) -> bool:
    """Hosts lost at connect (unreachable, host key refused): when the swarm needs them (a
    manager, and no reachable manager runs a swarm to join), stop before anything changes;
    others are left out, said once here, and the exit code is 1."""
    lost = [n for n in runner.results if n not in runner.transports]
    if not lost:
        return True
    if command.forms and any(n in runner.ctx.managers for n in lost):
        await runner.refresh()
        if runner.ctx.leader() is None:
            needed = ", ".join(n for n in lost if n in runner.ctx.managers)
            runner.reporter.error(f"stopping before any change: the swarm needs managers {needed}, "
                                  "which could not be reached (see above); fix them or change "
                                  "their role in the inventory")
            return False
    # status/context show lost hosts in their table; remove names its unreachable targets
    if command.report == "summary" and "remove" not in command.phases:
        runner.reporter.line(f"going on without {', '.join(lost)} (not reached); exit code 1 "
                             "at the end")
    return True


def record_host_keys(runner: Runner) -> None:
    """After --fix-identities: known_hosts gets the host keys the hosts have now (read over
    the connections their old keys authenticated), where it held others."""
    from cloudmesh.swarm import known_hosts

    path = known_hosts.known_hosts_file(runner.inventory.ssh.known_hosts)
    for name in runner.alive(runner.results):
        facts = runner.ctx.facts.get(name)
        if facts is None or not facts.identity.host_keys:
            continue
        target = runner.target(name)
        keys = list(facts.identity.host_keys)
        if known_hosts.replace_keys(path, known_hosts.entry_name(target.address, target.port), keys):
            prints = ", ".join(known_hosts.fingerprint(key) for key in keys)
            runner.reporter.line(f"{name}: new SSH host keys recorded in {path}: {prints}")


async def show_unlock_key(runner: Runner) -> None:
    """Once, right after autolock was turned on: the key, to the user's screen only."""
    leader = runner.ctx.leader()
    if leader is None or not runner.results[leader].changed:
        return
    result = await runner.transports[leader].run("docker swarm unlock-key -q", sudo=True, timeout=30)
    key = result.stdout.strip()
    if result.ok and key:
        runner.reporter.unlock_key(Secret(key))


async def prove_key_login(runner: Runner, key_path: Path | None) -> None:
    """Log in again with the key alone (no password, no agent): only then is it done."""

    async def prove(name: str) -> None:
        target = dataclasses.replace(runner.target(name), key=key_path, use_agent=False)
        async with await SshTransport.connect(target) as transport:
            result = await transport.run("true", timeout=30)
        if not result.ok:
            raise HostError(name, "key login works but a command did not run")
        runner.results[name].notes.append("key login verified")
        runner.reporter.line(f"{name}: key login with {key_path} verified")

    await runner.each(runner.alive(runner.results), prove)


def host_health(facts: HostFacts | None) -> dict[str, Any]:
    """What a host's board says about itself (None where it has no such thing): model, SoC
    temperature, throttling, root device, memory; arch and the kernel's machine name."""
    if facts is None:
        return {key: None for key in ("model", "arch", "machine", "temperature_c", "throttled",
                                      "root_device", "memory_mb")}
    health, install = facts.health, facts.install
    throttled = None
    if health.throttled is not None:
        throttled = {"value": f"0x{health.throttled:x}", "now": health.throttle_now(),
                     "since_boot": health.throttle_since_boot()}
    return {
        "model": facts.model or None,
        "arch": facts.arch or None,
        "machine": install.machine or None,
        "temperature_c": health.temperature_c,
        "throttled": throttled,
        "root_device": health.root_device or None,
        "memory_mb": install.mem_total_kb // 1024 if install.mem_total_kb else None,
    }


def status_data(runner: Runner) -> dict[str, Any]:
    """One row per inventory host (plus swarm nodes not in the inventory), JSON-ready."""
    ctx = runner.ctx
    leader = ctx.leader()
    rows = {row.id: row for row in ctx.node_rows()}
    seen: set[str] = set()
    nodes = []
    for spec in ctx.inventory.hosts:
        facts = ctx.facts.get(spec.name)
        row = own_row(rows.values(), facts)
        if facts is None:  # unreachable: its node, if any, by address or hostname
            row = ctx.node_of(spec.name)
            if row is not None and row.id in seen:
                row = None
        error = runner.results[spec.name].error
        if spec.name not in runner.transports:
            state = "unreachable"
            if row is not None:
                seen.add(row.id)
        elif facts and facts.swarm and facts.swarm.local_state == "locked":
            state = "locked"  # autolock after a restart: `cms-swarm unlock`
            if row is not None:
                seen.add(row.id)
        elif row is None:
            state = "not in swarm"
        else:
            state = row.status.lower()
            seen.add(row.id)
        nodes.append({
            "host": spec.name,
            "address": spec.address,
            "hostname": facts.hostname if facts else None,
            "node_id": row.id if row else None,
            "role": ("manager" if row.is_manager else "worker") if row else None,
            "leader": bool(row and row.is_leader),
            "state": state,
            "manager_status": (row.manager_status or None) if row else None,
            "availability": row.availability.lower() if row else None,
            "engine": (row.engine_version if row else None) or (facts.docker_version if facts else None),
            "error": str(error) if error and state == "unreachable" else None,
            **host_health(facts),
        })
    for row in rows.values():
        if row.id not in seen:
            nodes.append({
                "host": f"({row.hostname})", "address": row.addr or None, "hostname": row.hostname,
                "node_id": row.id, "role": "manager" if row.is_manager else "worker",
                "leader": row.is_leader, "state": row.status.lower(),
                "manager_status": row.manager_status or None,
                "availability": row.availability.lower(), "engine": row.engine_version or None,
                "error": "not in the inventory", **host_health(None),
            })
    swarm = None
    if leader is not None:
        swarm_state = ctx.facts[leader].swarm
        assert swarm_state is not None
        held = quorum(rows.values())
        swarm = {"id": swarm_state.cluster_id, "leader": next(
            (n["host"] for n in nodes if n["leader"]), None),
            "managers": held.managers, "nodes": len(rows),
            "reachable_managers": held.reachable,
            "unreachable_managers": list(held.unreachable),
            "quorum": held.held, "tolerates": held.tolerates}
    return {"cluster": ctx.inventory.name, "swarm": swarm, "nodes": nodes}
