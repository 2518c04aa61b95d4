"""Plans that are no plain table; the tables (facts in, steps out, per phase) are the cases in
data/plans/<phase>/*.yaml, run by test_plan_data.py. The clock fix depends on the time; the
verify clean-up is a process on the host."""

from __future__ import annotations

from cloudmesh.swarm.phase_context import Context
from cloudmesh.swarm.phases.verify import (
    STOP_EARLIER_CLEANUP,
    cleanup_command,
    node_cleanup_command,
)

from .harness import context, inventory
from .probes import probe


def bare_cluster(n: int = 3) -> Context:
    return context(inventory(n), {f"pi{i}": probe(f"pi{i}", docker="20.10.24") for i in range(1, n + 1)})


def test_fix_clock_sets_a_skewed_clock_and_otherwise_checks_only() -> None:
    import time

    from cloudmesh.swarm.phases.prepare import PreparePhase

    skewed = {"pi1": probe(clock=time.time() + 600)}
    ctx = context(inventory(1), skewed)
    ctx.clock_offsets["pi1"] = 600.0
    assert PreparePhase().plan(ctx, "pi1", "all").reason == "all checks passed"
    assert [p.message for p in PreparePhase().problems(ctx, "pi1") if not p.warning] == [
        "clock is +600 s off this machine's; swarm TLS fails on skew"]
    ctx = context(inventory(1), skewed, fix_clock=True)
    ctx.clock_offsets["pi1"] = 600.0
    assert all(p.warning for p in PreparePhase().problems(ctx, "pi1"))
    step = PreparePhase().plan(ctx, "pi1", "all").steps[0]
    assert step.sudo and step.command.startswith("date -u -s @")
    assert abs(int(step.command.split("@")[1].split()[0]) - time.time()) < 5


def test_a_new_verify_stops_the_earlier_background_cleanup_and_not_itself() -> None:
    """The earlier run's detached loop would remove the network or image this run makes."""
    import subprocess

    for command in (node_cleanup_command(), cleanup_command(background=True)):
        assert "cms-swarm-verify-cleanup" in command and command.startswith(("setsid", "docker"))
    assert cleanup_command().startswith(STOP_EARLIER_CLEANUP)
    # the pattern finds the marked loop, and not a command line that only names the pattern
    loop = subprocess.Popen(["sh", "-c", ": cms-swarm-verify-cleanup; sleep 30"])
    try:
        done = subprocess.run(["sh", "-c", STOP_EARLIER_CLEANUP + "echo survived"],
                              capture_output=True, text=True, timeout=10, check=False)
        assert done.stdout.strip() == "survived"
        assert loop.wait(timeout=10) != 0  # killed
    finally:
        loop.kill()
