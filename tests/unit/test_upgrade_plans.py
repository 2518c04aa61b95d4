"""Rolling upgrade beyond the tables in data/plans/upgrade/: drain, upgrade, back on one node
(planned from the facts of the moment, no state kept), a user's drain left alone, docker-ce's
candidate."""

from __future__ import annotations

from cloudmesh.swarm.phases.upgrade import UpgradePhase

from .harness import context, descriptions, inventory
from .probes import node_row, probe, swarm_info

OLD, NEW = "20.10.24+dfsg1-1", "20.10.24+dfsg1-1+deb12u1"


def swarm(versions: dict[str, str], candidate: str = NEW, drained: tuple[str, ...] = ()) -> dict[str, str]:
    """pi1..pi3 managers (pi2 the leader), pi4 a worker; docker.io versions per host."""
    def rows(me: int) -> list[dict[str, object]]:  # as manager pi<me> lists them
        listed = [node_row(f"n{i}", f"pi{i}", {1: "Reachable", 2: "Leader", 3: "Reachable"}.get(i, ""),
                           me=i == me) for i in range(1, 5)]
        for row in listed:
            row["Availability"] = "Drain" if row["Hostname"] in drained else "Active"
        return listed

    probes = {}
    for i in range(1, 5):
        name = f"pi{i}"
        text = probe(hostname=name, docker="20.10.24", swarm=swarm_info(f"n{i}", i <= 3),
                     nodes=rows(i) if i <= 3 else None,
                     extra={"apt-candidate": candidate, "apt-lists-fresh": "x"})
        probes[name] = text.replace("install ok installed 20.10.24", f"install ok installed {versions[name]}")
    return probes


def test_one_node_drain_upgrade_back() -> None:
    phase = UpgradePhase()
    ctx = context(inventory(4), swarm({h: OLD for h in ("pi1", "pi2", "pi3", "pi4")}))
    assert phase.plan(ctx, "pi1", "drain:pi4").reason == "the leader does this"
    drain = phase.plan(ctx, "pi2", "drain:pi4")
    assert descriptions(drain) == ["drain pi4", "wait until the tasks of pi4 stopped"]
    upgrade = phase.plan(ctx, "pi4", "upgrade:pi4")
    assert descriptions(upgrade) == ["upgrade docker.io"]
    assert "--only-upgrade" in upgrade.steps[0].command and "systemctl restart docker" in upgrade.steps[0].command
    after = context(inventory(4), swarm({"pi1": OLD, "pi2": OLD, "pi3": OLD, "pi4": NEW}, drained=("pi4",)))
    back = phase.plan(after, "pi2", "back:pi4")
    assert descriptions(back) == ["wait until pi4 is Ready", "activate pi4",
                                  "wait until services have their replicas back"]
    assert "did not come back Ready" in back.steps[0].command
    assert phase.plan(after, "pi2", "back:pi4") == back  # no state: the same facts, the same plan
    assert descriptions(phase.plan(ctx, "pi2", "back:pi4")) == descriptions(back)  # as --dry-run shows it
    done = context(inventory(4), swarm({"pi1": OLD, "pi2": OLD, "pi3": OLD, "pi4": NEW}))
    assert phase.plan(done, "pi2", "back:pi4").reason == "pi4: nothing to bring back"  # converged
    settle = phase.plan(after, "pi2", "back:pi2:settle")
    assert descriptions(settle) == ["wait until pi2 is Ready", "activate pi2", "wait until every node is Ready again",
                                    "wait until services have their replicas back"]
    assert phase.plan(after, "pi2", "back:pi3:stays-drained").reason == "pi3: nothing to bring back"


def test_the_leader_comes_last_and_settles_and_a_user_drain_stays() -> None:
    phase = UpgradePhase()
    ctx = context(inventory(4), swarm({"pi1": OLD, "pi2": OLD, "pi3": NEW, "pi4": OLD}, drained=("pi3",)))
    backs = [b.stage for b in phase.batches(ctx) if b.stage.startswith("back:")]
    assert backs == ["back:pi4", "back:pi1", "back:pi3:stays-drained", "back:pi2:settle"]


def test_nothing_to_do_at_the_target_and_a_user_drain_is_left_alone() -> None:
    phase = UpgradePhase()
    ctx = context(inventory(4), swarm({h: NEW for h in ("pi1", "pi2", "pi3", "pi4")}, drained=("pi3",)))
    for batch in phase.batches(ctx):
        for host in batch.hosts:
            assert not phase.plan(ctx, host, batch.stage).needs_work, batch.stage


def test_a_docker_ce_node_upgrades_docker_ce_and_its_cli_to_dockers_candidate() -> None:
    old, new = "5:27.5.1-1~debian.12~bookworm", "5:28.0.4-1~debian.12~bookworm"
    probes = swarm({h: OLD for h in ("pi1", "pi2", "pi3", "pi4")})
    probes["pi4"] = probes["pi4"].replace(
        f"=== docker-pkgs ===\ndocker.io install ok installed {OLD}\n",
        f"=== docker-pkgs ===\ndocker-ce install ok installed {old}\ndocker-ce-cli install ok installed {old}\n"
        f"=== candidates ===\ndocker-ce: {new}\n").replace(f"install ok installed {OLD}", f"install ok installed {old}")
    ctx = context(inventory(4), probes)
    phase = UpgradePhase()
    assert phase.target(ctx, "pi4") == new and phase.needs(ctx, "pi4")
    step = phase.plan(ctx, "pi4", "upgrade:pi4").steps[0]
    assert step.description == "upgrade docker-ce docker-ce-cli"
    assert "--only-upgrade --no-install-recommends docker-ce docker-ce-cli && systemctl restart docker" in step.command
    probes["pi4"] = probes["pi4"].replace(old, new)
    ctx = context(inventory(4), probes)
    assert phase.plan(ctx, "pi4", "upgrade:pi4").reason == f"docker-ce {new} is the target"
