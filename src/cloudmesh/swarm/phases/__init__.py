"""The Phase shape: facts in, problems and plans out; the runner does all I/O.

A phase is prepare, install, configure, verify or reset: each says per host what is wrong
(`problems`), what it would run (`plan`: commands, or checks the runner runs), in which order
hosts go (`batches`), and what to undo afterwards, failure or not (`cleanup`, verify's).
"""

from __future__ import annotations

from cloudmesh.swarm.phase_context import Context
from cloudmesh.swarm.plan import Batch, Plan, Problem, SecretRead


class Phase:
    """Base phase: no problems, one batch of all hosts; subclasses plan."""

    title = "phase"
    changes_hosts = True
    converges = True  # False: applying does not empty the plan (e.g. rotating tokens)
    leaves_hosts_as_found = False  # True: its clean-up undoes what it ran (verify): no change

    def problems(self, ctx: Context, host: str) -> list[Problem]:
        return []

    def batches(self, ctx: Context) -> list[Batch]:
        return [Batch("all", tuple(h.name for h in ctx.inventory.hosts))]

    def plan(self, ctx: Context, host: str, stage: str) -> Plan:
        return Plan.noop("nothing to do")

    def secret_reads(self, ctx: Context, batch: Batch) -> list[SecretRead]:
        """Secrets a batch needs that are not facts (join tokens): the runner reads them."""
        return []

    def cleanup(self, ctx: Context) -> list[Batch]:
        """Batches the runner runs after the phase's own, also when one failed (k0sctl's
        withcleanup); planned by `cleanup_plan`. None by default."""
        return []

    def cleanup_plan(self, ctx: Context, host: str, stage: str) -> Plan:
        return Plan.noop("nothing to clean up")

    def passed(self, ctx: Context) -> None:
        """Called when the phase passed on every host (not in a dry run): local bookkeeping."""


def leader_batch(ctx: Context, stage: str) -> list[Batch]:
    """One batch on the swarm's leader (none without a swarm): for cluster-wide changes."""
    leader = ctx.leader()
    return [Batch(stage, (leader,))] if leader else []


def no_swarm_problem(ctx: Context, host: str) -> list[Problem]:
    """For commands that need a swarm: said once (on the first host) when there is none."""
    if ctx.leader() is None and host == ctx.inventory.hosts[0].name:
        return [Problem("no swarm found on these hosts", "cms-swarm create first")]
    return []
