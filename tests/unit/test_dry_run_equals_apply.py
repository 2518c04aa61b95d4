"""--dry-run equals the real run: on the same facts, the steps a dry run reports are the
steps apply runs, for upgrade, init/configure joins (with the join-token read), remove,
promote and demote. The fake hosts answer every probe with the same facts, so apply's
re-check may find work left; what ran is what was shown all the same."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from cloudmesh.swarm.actions import Extras, run_action
from cloudmesh.swarm.errors import UsageError
from cloudmesh.swarm.facts import PROBE_SCRIPT
from cloudmesh.swarm.inventory import Inventory
from cloudmesh.swarm.options import RunOptions
from cloudmesh.swarm.report import Reporter
from cloudmesh.swarm.transport import Result

from .harness import Lab, inventory
from .probes import node_row, probe, swarm_info
from .test_node_plans import cluster
from .test_upgrade_plans import NEW, OLD, swarm

TOKEN = "SWMTKN-1-0123456789abcdefghijklmnopqrstuvwxyz-secretpart"


@pytest.fixture(autouse=True)
def _home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CMS_SWARM_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("DOCKER_CONFIG", raising=False)


def facts_lab(probes: dict[str, str], token: Result | None = None) -> Lab:
    """Hosts that always show `probes`; the join-token read answers `token`; all else works."""

    def handler(name: str, command: str) -> Result:
        if command == PROBE_SCRIPT:
            return Result(0, probes[name], "")
        if command.startswith("docker swarm join-token -q "):
            return token or Result(0, TOKEN + "\n", "")
        return Result(0, "", "")

    return Lab(handler)


def run(action: str, inv: Inventory, lab: Lab, dry_run: bool,
        extras: Extras | None = None) -> tuple[int, Reporter, str]:
    out, err = io.StringIO(), io.StringIO()
    reporter = Reporter(file=out, err=err)
    code = run_action(action, inv, RunOptions(dry_run=dry_run), reporter, connector=lab.connect,
                      skip_verify=True, extras=extras)
    return code, reporter, out.getvalue() + err.getvalue()


def same_steps(action: str, inv: Inventory, probes: dict[str, str],
               extras: Extras | None = None) -> dict[str, list[str]]:
    """Run `action` dry and for real on the same facts; the steps must be equal (and some)."""
    dry_lab, real_lab = facts_lab(probes), facts_lab(probes)
    _, dry, dry_text = run(action, inv, dry_lab, True, extras)
    _, real, _ = run(action, inv, real_lab, False, extras)
    assert dry.steps, dry_text
    assert dry.steps == real.steps
    shown = [c for c in dry_lab.commands() if not c.startswith("docker swarm join-token")]
    assert shown == [], f"--dry-run ran more than reads: {shown}"
    return dry.steps


def test_upgrade_dry_run_shows_the_drain_upgrade_back_and_settle_that_apply_runs() -> None:
    probes = swarm({h: OLD for h in ("pi1", "pi2", "pi3", "pi4")}, candidate=NEW)
    steps = same_steps("upgrade", inventory(4), probes)
    assert steps["pi4"] == ["upgrade docker.io"]
    assert "wait until every node is Ready again" in steps["pi2"]  # the leader went last
    assert steps["pi2"].count("activate pi4") == 1


def test_remove_dry_run_shows_demote_drain_wait_leave_and_rm() -> None:
    steps = same_steps("remove", inventory(4), cluster(4, 3), Extras(targets=("pi3",)))
    assert steps == {"pi1": ["demote pi3", "drain pi3", "wait until the tasks of pi3 run elsewhere",
                             "remove the node entry of pi3"],
                     "pi3": ["leave the swarm"]}


@pytest.mark.parametrize("op,targets,managers", [("promote", ("pi4", "pi5"), 3), ("demote", ("pi2", "pi3"), 3)])
def test_promote_and_demote_dry_run_equal_apply(op: str, targets: tuple[str, ...], managers: int) -> None:
    steps = same_steps(op, inventory(5), cluster(5, managers), Extras(targets=targets))
    assert steps == {"pi1": [f"{op} {t}" for t in targets]}


def joining() -> dict[str, str]:
    """pi1 leads a one-manager swarm; pi2 (a manager in a 3-host inventory) and pi3 join."""
    rows = [node_row("n1", "pi1", "Leader", me=True)]
    return {"pi1": probe(hostname="pi1", docker="20.10.24", swarm=swarm_info("n1", True), nodes=rows),
            "pi2": probe(hostname="pi2", docker="20.10.24"),
            "pi3": probe(hostname="pi3", docker="20.10.24")}


def test_init_joins_read_the_token_in_both_modes_and_never_show_it(tmp_path: Path) -> None:
    steps = same_steps("init", inventory(3), joining())
    assert steps["pi1"][:1] == ["read the manager join token"]
    assert steps["pi2"] == ["join the swarm as a manager"]
    lab = facts_lab(joining())
    _, _, text = run("init", inventory(3), lab, False)
    joins = [c for h, c in lab.calls if h in ("pi2", "pi3") and "/swarm/join" in c]
    assert joins and TOKEN not in text and "SWMTKN" not in "".join(joins)  # on stdin only
    logs = "".join(p.read_text() for p in (tmp_path / "state").rglob("*.log"))
    assert logs and TOKEN not in logs and "withheld" in logs


@pytest.mark.parametrize("answer,why", [
    (Result(1, "", "Error response from daemon: This node is not a swarm manager.\n"),
     "Error response from daemon: This node is not a swarm manager."),
    (Result(0, "\n", ""), "it printed nothing"),
])
@pytest.mark.parametrize("dry_run", [False, True])
def test_a_failed_or_empty_token_read_fails_the_joining_hosts_clearly(answer: Result, why: str,
                                                                      dry_run: bool) -> None:
    lab = facts_lab(joining(), token=answer)
    code, reporter, text = run("init", inventory(3), lab, dry_run)
    assert code == 1
    assert f"pi2: could not read the manager join token from the leader pi1: {why}" in text
    assert not any("/swarm/join" in c for c in lab.commands())  # never joined with no token
    assert "join the swarm" not in str(reporter.steps)


@pytest.mark.parametrize("dry_run", [False, True])
def test_an_even_manager_count_is_refused_as_bad_input_before_anything_runs(dry_run: bool) -> None:
    lab = facts_lab(cluster(5, 3))
    with pytest.raises(UsageError, match="^promote: that would leave 4 managers, an even count"):
        run("promote", inventory(5), lab, dry_run, Extras(targets=("pi4",)))
    assert lab.commands() == []


def test_a_failed_token_read_fails_only_the_hosts_that_needed_it() -> None:
    """Workers join in one batch: pi2 is in the swarm already, pi3 and pi4 are not. When the
    worker token cannot be read, pi3 and pi4 fail with the reason; pi2 had nothing to do."""
    inv = Inventory.model_validate({"name": "t", "hosts": [
        {"name": "pi1", "address": "10.0.0.11", "role": "manager"},
        *({"name": f"pi{i}", "address": f"10.0.0.{10 + i}", "role": "worker"} for i in (2, 3, 4))]})
    rows = [node_row("n1", "pi1", "Leader", me=True), node_row("n2", "pi2")]
    probes = {"pi1": probe(hostname="pi1", docker="20.10.24", swarm=swarm_info("n1", True), nodes=rows),
              "pi2": probe(hostname="pi2", docker="20.10.24", swarm=swarm_info("n2", False)),
              "pi3": probe(hostname="pi3", docker="20.10.24"),
              "pi4": probe(hostname="pi4", docker="20.10.24")}
    lab = facts_lab(probes, token=Result(1, "", "Error response from daemon: rpc error\n"))
    code, _, text = run("init", inv, lab, dry_run=False)
    assert code == 1
    for host in ("pi3", "pi4"):
        assert f"{host}: could not read the worker join token from the leader pi1" in text
    assert "pi2: could not read" not in text and "failed on 2 of 4 hosts: pi3, pi4" in text
