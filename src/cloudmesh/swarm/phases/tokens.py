"""Swarm secrets: rotate join tokens, turn autolock on, unlock managers after a restart.

Tokens and unlock keys never appear on a command line: rotation discards the printed
token, and the unlock key reaches the Engine API in a request body on stdin.
"""

from __future__ import annotations

from cloudmesh.swarm.phase_context import Context
from cloudmesh.swarm.phases import Phase, leader_batch, no_swarm_problem
from cloudmesh.swarm.phases.shell import api_post
from cloudmesh.swarm.plan import NOT_READ, Batch, Plan, Problem, Step


class RotateTokensPhase(Phase):
    """New worker and manager join tokens; the old ones stop working at once."""

    title = "Rotate join tokens"
    converges = False

    def problems(self, ctx: Context, host: str) -> list[Problem]:
        return no_swarm_problem(ctx, host)

    def batches(self, ctx: Context) -> list[Batch]:
        return leader_batch(ctx, "leader")

    def plan(self, ctx: Context, host: str, stage: str) -> Plan:
        return Plan((Step("rotate the worker and manager join tokens",
                          "docker swarm join-token --rotate -q worker >/dev/null "
                          "&& docker swarm join-token --rotate -q manager >/dev/null", sudo=True),))


class AutolockPhase(Phase):
    """Swarm autolock on: managers need the unlock key after a restart (`create --autolock`)."""

    title = "Enable autolock"

    def batches(self, ctx: Context) -> list[Batch]:
        return leader_batch(ctx, "leader")

    def plan(self, ctx: Context, host: str, stage: str) -> Plan:
        swarm = ctx.facts[host].swarm
        if swarm is not None and swarm.autolock:
            return Plan.noop("autolock already on (a manager shows the key: "
                             "sudo docker swarm unlock-key -q)")
        return Plan((Step("turn autolock on", "docker swarm update --autolock=true >/dev/null",
                          sudo=True),))


UNLOCK_KEY = "unlock"


class UnlockPhase(Phase):
    """Unlock locked managers with the key the user gives (prompt or stdin)."""

    title = "Unlock managers"

    def problems(self, ctx: Context, host: str) -> list[Problem]:
        swarm = ctx.facts[host].swarm
        key = ctx.secrets.get(UNLOCK_KEY)
        if swarm is not None and swarm.local_state == "locked" and (key is None or not key.reveal()):
            return [Problem("the swarm here is locked and no unlock key was given",
                            "cms-swarm unlock HOSTS (prompt), or --unlock-key-stdin")]
        return []

    def plan(self, ctx: Context, host: str, stage: str) -> Plan:
        swarm = ctx.facts[host].swarm
        if swarm is None or swarm.local_state != "locked":
            return Plan.noop(f"not locked ({swarm.local_state if swarm else 'no docker'})")
        key = ctx.secrets.get(UNLOCK_KEY, NOT_READ)  # a Problem without it (see problems)
        return Plan((Step("unlock the swarm on this manager", api_post("/swarm/unlock"),
                          sudo=True, stdin=('{"UnlockKey": "', key, '"}')),))
