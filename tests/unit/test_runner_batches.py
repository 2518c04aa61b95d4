"""How Runner.run_phase walks a phase's batches: a failure stops the later batches (unless the
batch lets the others go on), a batch of lost hosts is skipped, and a declared clean-up runs
after a failure too."""

from __future__ import annotations

import asyncio

from cloudmesh.swarm.facts import PROBE_SCRIPT
from cloudmesh.swarm.options import RunOptions
from cloudmesh.swarm.phase_context import Context
from cloudmesh.swarm.phases import Phase
from cloudmesh.swarm.plan import Batch, Plan, Step
from cloudmesh.swarm.report import Reporter
from cloudmesh.swarm.runner import Runner
from cloudmesh.swarm.transport import Result

from .harness import Lab, named_inventory
from .probes import probe


class OneEach(Phase):
    """One batch per host, each running `echo <stage>`; clean-up `echo undo` on every host."""

    title = "one each"

    def __init__(self, go_on: bool = False) -> None:
        self.go_on = go_on

    def batches(self, ctx: Context) -> list[Batch]:
        return [Batch(h.name, (h.name,), stop_on_failure=not self.go_on) for h in ctx.inventory.hosts]

    def plan(self, ctx: Context, host: str, stage: str) -> Plan:
        return Plan((Step(f"say {stage}", f"echo {stage}"),))

    def cleanup(self, ctx: Context) -> list[Batch]:
        return [Batch("undo", tuple(h.name for h in ctx.inventory.hosts))]

    def cleanup_plan(self, ctx: Context, host: str, stage: str) -> Plan:
        return Plan((Step("undo", "echo undo"),))


def handler(name: str, command: str) -> Result:
    if command == PROBE_SCRIPT:
        return Result(0, probe(name), "")
    return Result(1, "", "no") if command == "echo pi1" else Result(0, "", "")


def run(phase: Phase, lab: Lab) -> bool:
    async def go() -> bool:
        runner = Runner(named_inventory(["pi1", "pi2", "pi3"]), RunOptions(), Reporter(quiet=True), lab.connect)
        await runner.connect()
        try:
            return await runner.run_phase(phase)
        finally:
            await runner.close()

    return asyncio.run(go())


def test_a_failed_batch_stops_the_later_ones_and_the_clean_up_still_runs() -> None:
    lab = Lab(handler)
    assert not run(OneEach(), lab)
    assert lab.commands() == ["echo pi1", "echo undo", "echo undo", "echo undo"]


def test_a_batch_that_lets_the_others_go_on_does() -> None:
    lab = Lab(handler)
    assert not run(OneEach(go_on=True), lab)
    assert [c for c in lab.commands() if c != "echo undo"] == ["echo pi1", "echo pi2", "echo pi3"]


def test_a_batch_of_lost_hosts_is_skipped_not_a_stop() -> None:
    lab = Lab(lambda name, command: handler(name, command.replace("pi1", "ok")), unreachable=("pi2",))
    run(OneEach(), lab)
    assert lab.commands("pi3") == ["echo pi3", "echo undo"]
    assert lab.commands("pi2") == []
