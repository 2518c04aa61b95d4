"""Facts in, steps out: each phase's plan for the states a host can be in."""

from __future__ import annotations

import pytest

from cloudmesh.swarm.facts import parse_facts
from cloudmesh.swarm.phases import Context
from cloudmesh.swarm.phases.configure import ConfigurePhase
from cloudmesh.swarm.phases.install import LOG_ROTATION, REFRESH_LISTS, InstallPhase
from cloudmesh.swarm.phases.reset import ResetPhase
from cloudmesh.swarm.phases.verify import OWN_IMAGE, image_steps, setup_steps
from cloudmesh.swarm.plan import Secret

from .harness import context, descriptions, inventory
from .probes import node_row, probe, swarm_info


def test_install_on_a_bare_host_installs_starts_and_adds_the_user() -> None:
    ctx = context(inventory(1), {"pi1": probe()})
    plan = InstallPhase().plan(ctx, "pi1", "all")
    assert descriptions(plan) == [
        LOG_ROTATION.description, REFRESH_LISTS.description,
        "install docker.io, and docker-cli where the release has it (no recommends)",
        "enable and start the engine",
        "wait until the engine answers",
        "install busybox-static (verify's test image, no registry needed)",
        "add pi to the docker group",
    ]
    assert "--no-install-recommends docker.io" in plan.steps[2].command
    assert plan.steps[5].command.endswith("install -y --no-install-recommends busybox-static")
    assert all(step.sudo for step in plan.steps)


def test_install_adds_busybox_static_beside_a_working_engine() -> None:
    """Verify needs it on every node, also where Docker was there before us."""
    text = probe(docker="26.1.5", groups="pi sudo docker").replace(
        "=== busybox-static ===\ninstall ok installed\n", "=== busybox-static ===\n\n")
    ctx = context(inventory(1), {"pi1": text})
    assert not ctx.facts["pi1"].busybox_static
    assert descriptions(InstallPhase().plan(ctx, "pi1", "all")) == [
        "refresh package lists when older than a day",
        "install busybox-static (verify's test image, no registry needed)"]


def test_install_skips_a_working_engine_and_says_which() -> None:
    ctx = context(inventory(1), {"pi1": probe(docker="26.1.5", groups="pi sudo docker")})
    plan = InstallPhase().plan(ctx, "pi1", "all")
    assert not plan.needs_work
    assert plan.reason == "docker 26.1.5 already running"


def test_install_starts_a_stopped_engine_without_reinstalling() -> None:
    ctx = context(inventory(1), {"pi1": probe(docker="20.10.24", active=False, groups="pi docker")})
    assert descriptions(InstallPhase().plan(ctx, "pi1", "all")) == [
        "enable and start the engine", "wait until the engine answers"]


def bare_cluster(n: int = 3) -> Context:
    return context(inventory(n), {f"pi{i}": probe(f"pi{i}", docker="20.10.24") for i in range(1, n + 1)})


def test_configure_batches_init_then_managers_one_at_a_time_then_workers() -> None:
    ctx = bare_cluster(5)
    batches = [(b.stage, b.hosts) for b in ConfigurePhase().batches(ctx)]
    assert batches == [
        ("init", ("pi1",)),
        ("join-manager", ("pi1",)), ("join-manager", ("pi2",)), ("join-manager", ("pi3",)),
        ("join-worker", ("pi4", "pi5")),
        ("nodes", ("pi1", "pi2", "pi3")),
    ]


def test_configure_inits_on_the_first_manager_with_its_address() -> None:
    ctx = bare_cluster()
    plan = ConfigurePhase().plan(ctx, "pi1", "init")
    assert [s.command for s in plan.steps] == ["docker swarm init --advertise-addr 10.0.0.11"]


def test_join_token_travels_on_stdin_and_is_masked_when_shown() -> None:
    ctx = bare_cluster()
    ctx.facts["pi1"] = parse_facts(probe("pi1", docker="20.10.24", swarm=swarm_info("n1", True),
                                         nodes=[node_row("n1", "pi1", "Leader", me=True)]))
    ctx.secrets["manager"] = Secret("SWMTKN-1-secret-token")
    step = ConfigurePhase().plan(ctx, "pi2", "join-manager").steps[-1]
    assert "SWMTKN" not in step.command
    assert "SWMTKN-1-secret-token" in step.stdin_text()
    assert "SWMTKN" not in step.shown() and "***" in step.shown()
    assert '"RemoteAddrs": ["10.0.0.11:2377"]' in step.stdin_text()
    assert '"AdvertiseAddr": "10.0.0.12"' in step.stdin_text()


def converged() -> Context:
    rows = [node_row("n1", "pi1", "Leader", me=True), node_row("n2", "pi2", "Reachable"),
            node_row("n3", "pi3", "Reachable")]
    probes = {"pi1": probe("pi1", docker="20.10.24", swarm=swarm_info("n1", True), nodes=rows)}
    for i in (2, 3):
        probes[f"pi{i}"] = probe(f"pi{i}", docker="20.10.24", swarm=swarm_info(f"n{i}", True))
    return context(inventory(), probes)


@pytest.mark.parametrize("stage,host", [("init", "pi1"), ("join-manager", "pi2"),
                                        ("join-manager", "pi3"), ("nodes", "pi1"), ("nodes", "pi2")])
def test_configure_on_a_converged_swarm_is_a_noop(stage: str, host: str) -> None:
    plan = ConfigurePhase().plan(converged(), host, stage)
    assert not plan.needs_work and plan.reason


def test_a_host_in_another_swarm_is_refused() -> None:
    ctx = converged()
    ctx.facts["pi3"] = parse_facts(probe("pi3", docker="20.10.24", swarm=swarm_info("x9", True, "other")))
    problems = ConfigurePhase().problems(ctx, "pi3")
    assert len(problems) == 1 and "another swarm" in problems[0].message
    assert ConfigurePhase().problems(ctx, "pi2") == []


def test_labels_and_stale_nodes_are_fixed_on_the_leader_only() -> None:
    ctx = converged()
    inv = inventory(labels={"disk": "ssd"})
    ctx.inventory = inv
    rows = [node_row("n1", "pi1", "Leader", me=True), node_row("n2", "pi2", "Reachable"),
            node_row("n3", "pi3", "Reachable"), node_row("old3", "pi3", "", status="Down")]
    ctx.facts["pi1"] = parse_facts(probe("pi1", docker="20.10.24", swarm=swarm_info("n1", True),
                                         nodes=rows))
    plan = ConfigurePhase().plan(ctx, "pi1", "nodes")
    assert [s.command for s in plan.steps] == [
        "docker node rm --force old3",
        "docker node update --label-add disk=ssd n3",
    ]
    assert not ConfigurePhase().plan(ctx, "pi2", "nodes").needs_work


def test_reset_orders_workers_then_managers_then_the_leader() -> None:
    rows = [node_row("n1", "pi1", "Reachable"), node_row("n2", "pi2", "Leader", me=True)]
    inv = inventory(4)
    probes = {
        "pi1": probe("pi1", docker="1", swarm=swarm_info("n1", True)),
        "pi2": probe("pi2", docker="1", swarm=swarm_info("n2", True), nodes=rows),
        "pi3": probe("pi3", docker="1", swarm=swarm_info("n3", True)),
        "pi4": probe("pi4", docker="1", swarm=swarm_info("n4", False)),
    }
    ctx = context(inv, probes)
    order = [b.hosts for b in ResetPhase().batches(ctx)]
    assert order == [("pi4",), ("pi1",), ("pi3",), ("pi2",)]
    assert [s.command for s in ResetPhase().plan(ctx, "pi4", "leave").steps] == [
        "docker swarm leave --force"]


def test_reset_of_a_host_outside_any_swarm_is_a_noop_unless_purging() -> None:
    ctx = bare_cluster(1)
    assert not ResetPhase().plan(ctx, "pi1", "leave").needs_work
    ctx = context(inventory(1), {"pi1": probe(docker="20.10.24")}, purge=True)
    assert "remove docker.io" in descriptions(ResetPhase().plan(ctx, "pi1", "leave"))


def test_verify_uses_host_mode_and_adds_the_mesh_only_with_ipvs() -> None:
    ctx = converged()
    steps = setup_steps(ctx)
    assert any("mode=host" in s.command and "--mode global" in s.command for s in steps)
    assert not any("cms-swarm-verify-mesh" in s.command and "create" in s.command for s in steps)
    for name in ctx.facts:
        ctx.facts[name] = parse_facts(probe(name, ipvs="yes"))
    assert any("cms-swarm-verify-mesh" in s.command and "create" in s.command for s in setup_steps(ctx))


def test_verify_brings_its_own_image_unless_one_is_named() -> None:
    """No registry by default: each node makes the image from busybox-static; --test-image
    names a registry image instead, and then nothing is made or removed."""
    ctx = converged()
    [bring] = image_steps(ctx)
    assert bring.command.startswith(f"docker image inspect {OWN_IMAGE} >/dev/null 2>&1 && exit 0;")
    assert "busybox-static is not installed" in bring.command and "docker import" in bring.command
    service = next(s for s in setup_steps(ctx) if "--mode global" in s.command)
    assert f" {OWN_IMAGE} sh -c " in service.command
    named = context(inventory(3), {n: probe(n) for n in ("pi1", "pi2", "pi3")},
                    test_image="registry.local/busybox:1.36")
    assert image_steps(named) == []
    assert any(" registry.local/busybox:1.36 sh -c " in s.command for s in setup_steps(named))


def test_an_interrupted_dpkg_run_is_finished_before_installing() -> None:
    ctx = context(inventory(1), {"pi1": probe(extra={"dpkg-interrupted": "0001"})})
    plan = InstallPhase().plan(ctx, "pi1", "all")
    assert descriptions(plan)[:3] == ["finish an interrupted package install (dpkg --configure -a)",
                                      LOG_ROTATION.description, REFRESH_LISTS.description]
    assert plan.steps[0].command.index("pgrep -x dpkg") < plan.steps[0].command.index("--configure -a")


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
