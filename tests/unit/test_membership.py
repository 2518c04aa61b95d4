"""add/remove: the inventory file keeps comments, extend() keeps roles, remove keeps quorum."""

from __future__ import annotations

from pathlib import Path

import pytest

from cloudmesh.swarm.errors import InventoryError
from cloudmesh.swarm.inventory import expand_hosts, extend, load, managers
from cloudmesh.swarm.inventory_file import add_hosts, remove_hosts
from cloudmesh.swarm.phases.membership import RemovePhase

from .harness import context, descriptions, inventory
from .probes import probe
from .test_node_plans import cluster

FILE = """# the red cluster
name: red   # cluster name
hosts:
  # the first three are managers
  - name: red01
    address: 10.1.1.5   # top shelf
  - name: red02
    address: 10.1.1.6
  - name: red03
    address: 10.1.1.7
    labels: {disk: ssd}
"""


def test_add_appends_hosts_and_writes_implied_roles_keeping_comments(tmp_path: Path) -> None:
    path = tmp_path / "red.yaml"
    path.write_text(FILE)
    path.chmod(0o640)
    inv = load(path)
    bigger, entries, implied = extend(inv, expand_hosts("red04=10.1.1.8"), "manager")
    assert implied == ["red01", "red02", "red03"] and entries == [
        {"name": "red04", "address": "10.1.1.8", "role": "manager"}]
    with pytest.raises(InventoryError, match="even count"):
        managers(bigger)  # 4 managers: the CLI refuses this without --force
    add_hosts(path, entries, implied)
    text = path.read_text()
    for comment in ("# the red cluster", "# cluster name", "# the first three are managers", "# top shelf"):
        assert comment in text
    assert [h.name for h in load(path).hosts] == ["red01", "red02", "red03", "red04"]
    assert [h.role for h in load(path).hosts] == ["manager"] * 4
    assert oct(path.stat().st_mode & 0o777) == "0o640"
    remove_hosts(path, ["red02"])
    assert [h.name for h in load(path).hosts] == ["red01", "red03", "red04"]
    assert "# top shelf" in path.read_text() and "labels: {disk: ssd}" in path.read_text()


def test_extend_without_role_follows_the_inventory_rule_and_refuses_conflicts(tmp_path: Path) -> None:
    path = tmp_path / "red.yaml"
    path.write_text(FILE)
    inv = load(path)
    bigger, entries, implied = extend(inv, expand_hosts("red04=10.1.1.8,red01=10.1.1.5"), None)
    assert implied == [] and [e["name"] for e in entries] == ["red04"]  # red01 is already there
    assert managers(bigger) == ["red01", "red02", "red03"]
    with pytest.raises(InventoryError, match="already in the inventory with address 10.1.1.5"):
        extend(inv, expand_hosts("red01=10.9.9.9"), None)


def remove_plans(probes: dict[str, str], targets: tuple[str, ...], force: bool = False,
                 ctx_hosts: int | None = None) -> tuple[RemovePhase, object]:
    ctx = context(inventory(ctx_hosts or len(probes)), probes)
    return RemovePhase(targets, force), ctx


def test_remove_runs_demote_drain_wait_leave_rm_in_order() -> None:
    phase, ctx = remove_plans(cluster(4, 3), ("pi3",))
    assert phase.problems(ctx, "pi3") == []  # type: ignore[arg-type]
    stages = {b.stage: b.hosts for b in phase.batches(ctx)}  # type: ignore[arg-type]
    assert list(stages) == ["demote-drain", "wait-drained", "leave", "rm:pi3=n3"] and stages["leave"] == ("pi3",)
    assert descriptions(phase.plan(ctx, "pi1", "demote-drain")) == ["demote pi3", "drain pi3"]  # type: ignore[arg-type]
    assert descriptions(phase.plan(ctx, "pi1", "wait-drained")) == ["wait until the tasks of pi3 run elsewhere"]  # type: ignore[arg-type]
    assert descriptions(phase.plan(ctx, "pi3", "leave")) == ["leave the swarm"]  # type: ignore[arg-type]
    assert phase.plan(ctx, "pi2", "demote-drain").reason == "the leader does this"  # type: ignore[arg-type]
    # after it left, the host no longer knows its node ID: the rm stage carries it (no state)
    left = dict(cluster(4, 3))
    left["pi3"] = probe(hostname="pi3", docker="20.10.24")
    ctx2 = context(inventory(4), left)
    rm = phase.plan(ctx2, "pi1", "rm:pi3=n3")
    assert descriptions(rm) == ["remove the node entry of pi3"] and "--force n3" in rm.steps[0].command


def test_remove_refuses_the_last_manager_and_lost_quorum_unless_forced() -> None:
    phase, ctx = remove_plans(cluster(2, 1), ("pi1",))
    assert phase.problems(ctx, "pi1")[0].message == "that would remove the last manager"  # type: ignore[arg-type]
    phase, ctx = remove_plans(cluster(3, 3, statuses={1: "Ready", 3: "Down"}), ("pi2",))
    problem = phase.problems(ctx, "pi2")[0]  # type: ignore[arg-type]
    assert problem.message == "that would break quorum: 1 of the 2 remaining managers are reachable"
    phase, ctx = remove_plans(cluster(3, 3, statuses={3: "Down"}), ("pi2",), force=True)
    assert phase.problems(ctx, "pi2") == []  # type: ignore[arg-type]
    phase, ctx = remove_plans(cluster(2, 1), ("pi1", "pi2"))
    assert phase.problems(ctx, "pi1")[0].message == "that would remove every host"  # type: ignore[arg-type]
