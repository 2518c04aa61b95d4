"""verify as a phase, without hosts: its checks on recorded output, and runs through the runner
on FakeTransports (test ports served on loopback) where --dry-run must list exactly what the
real run runs, clean-up included, and a failed check fails only the host it was seen on."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from cloudmesh.swarm import checks
from cloudmesh.swarm.actions import run_action
from cloudmesh.swarm.checks import CheckEnv, http_body, overlay_peers, parse_tasks
from cloudmesh.swarm.errors import VerifyError
from cloudmesh.swarm.facts import PROBE_SCRIPT
from cloudmesh.swarm.inventory import Inventory
from cloudmesh.swarm.options import RunOptions
from cloudmesh.swarm.phases import verify
from cloudmesh.swarm.phases.verify import VerifyPhase
from cloudmesh.swarm.plan import TasksRunning
from cloudmesh.swarm.runner import Runner
from cloudmesh.swarm.transport import Result

from .harness import FakeTransport, Lab, StepRecorder, serve_hostnames, verify_answer
from .probes import node_row, probe, swarm_info

HOSTS = ("pi1", "pi2", "pi3")
# `docker service ps cms-swarm-verify --no-trunc --format '{{.Node}}|{{.CurrentState}}|{{.Error}}'`
# on a lab swarm whose arm64 node runs no amd64 image (newest task first, as docker lists them)
TASKS = """pi1|Running 4 seconds ago|
pi2|Running 4 seconds ago|
pi5|Rejected 2 seconds ago|exec format error
pi5|Rejected 8 seconds ago|no suitable node (platform)
pi3|Preparing 1 second ago|
"""


@pytest.fixture(autouse=True)
def _home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CMS_SWARM_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setattr(checks, "POLL", 0.01)


# -- the checks on recorded output ------------------------------------------------------------
def test_task_list_running_nodes_and_the_newest_error_per_node() -> None:
    tasks = parse_tasks(TASKS)
    assert tasks.running == {"pi1", "pi2"}
    assert dict(tasks.errors) == {"pi5": "exec format error"}


def test_http_body_is_what_follows_the_headers() -> None:
    answer = "HTTP/1.0 200 OK\r\nContent-Type: text/html\r\nContent-Length: 4\r\n\r\npi2\n"
    assert http_body(answer) == "pi2"
    assert http_body("HTTP/1.0 200 OK\r\n") == ""


def test_overlay_peers_are_the_next_four_round_the_list() -> None:
    six = tuple(f"pi{i}" for i in range(1, 7))
    assert overlay_peers("pi5", six, 4) == ["pi6", "pi1", "pi2", "pi3"]
    assert overlay_peers("pi1", ("pi1", "pi2"), 4) == ["pi2"]
    assert overlay_peers("pi1", ("pi1",), 4) == []
    assert overlay_peers("pi9", six, 4) == []


def test_a_task_that_never_runs_names_the_node_and_its_error() -> None:
    leader = FakeTransport("pi1", lambda _h, _c: Result(0, TASKS, ""))
    env = CheckEnv({"pi1": leader}, {}, ("pi5",))  # type: ignore[dict-item]
    check = TasksRunning("check that the test task runs on this node", "cms-swarm-verify", "pi5", "pi1", timeout=0.05)
    with pytest.raises(VerifyError, match="pi5: test task did not start on node pi5: exec format error"):
        asyncio.run(checks.run_check(check, "pi5", env))
    assert asyncio.run(checks.run_check(
        TasksRunning("d", "cms-swarm-verify", "pi2", "pi1", ok="task ok"), "pi2", env)) == "task ok"
    assert leader.commands[0] == check.command()


def test_the_task_checks_of_many_nodes_share_one_poll_of_the_leader() -> None:
    """24 nodes wait for their tasks, which all run from the leader's third look on: the leader
    answers about three `docker service ps`, not one per node and look."""
    nodes = tuple(f"pi{i}" for i in range(1, 25))
    looks = 0

    def leader_answers(_host: str, _command: str) -> Result:
        nonlocal looks
        looks += 1
        state = "Running 1 second ago" if looks >= 3 else "Preparing 1 second ago"
        return Result(0, "".join(f"{n}|{state}|\n" for n in nodes), "")

    leader = FakeTransport("pi1", leader_answers)
    env = CheckEnv({"pi1": leader}, {}, nodes)  # type: ignore[dict-item]

    async def all_nodes() -> list[str]:
        return await asyncio.gather(*(checks.run_check(
            TasksRunning("d", "cms-swarm-verify", node, "pi1", ok="task ok", timeout=10), node, env)
            for node in nodes))

    assert asyncio.run(all_nodes()) == ["task ok"] * len(nodes)
    assert looks <= 4, f"{looks} polls of the leader for {len(nodes)} nodes"


# -- runs through the runner ------------------------------------------------------------------
@pytest.fixture
def ports() -> Iterator[int]:
    with serve_hostnames(len(HOSTS)) as port:
        yield port


def swarm_probe(name: str) -> str:
    index = int(name[2:])
    rows = [node_row(f"n{i}", f"pi{i}", "Leader" if i == 1 else "Reachable", me=i == index)
            for i in range(1, 4)] if index == 1 else None
    return probe(name, docker="20.10.24", swarm=swarm_info(f"n{index}", True), nodes=rows)


def swarm_host(task_errors: dict[str, str] | None = None, refuse: tuple[str, str] | None = None):  # type: ignore[no-untyped-def]
    """A 3-manager swarm at 127.0.0.1-3: tasks run (but where `task_errors` says), each task's
    overlay address is 10.0.1.<n>, a fetch over the overlay answers that task's host name;
    `refuse` = (host, text in a command) makes that command fail there."""

    def handler(name: str, command: str) -> Result:
        if command == PROBE_SCRIPT:
            return Result(0, swarm_probe(name), "")
        if refuse and name == refuse[0] and refuse[1] in command:
            return Result(1, "", "refused by the test")
        if command.startswith("docker service ps") and task_errors:
            return Result(0, "".join(f"{h}|Rejected now|{task_errors[h]}\n" if h in task_errors
                                     else f"{h}|Running 2 seconds ago|\n" for h in HOSTS), "")
        return verify_answer(name, command, HOSTS) or Result(0, "", "")

    return handler


def loopback(port: int) -> Inventory:
    return Inventory.model_validate({"name": "t", "hosts": [
        {"name": h, "address": f"127.0.0.{i}"} for i, h in enumerate(HOSTS, 1)]})


def verify_run(port: int, lab: Lab, **options: object) -> tuple[int, StepRecorder]:
    reporter = StepRecorder()
    code = run_action("verify", loopback(port), RunOptions(verify_port=port, **options),  # type: ignore[arg-type]
                      reporter, connector=lab.connect)
    return code, reporter


def test_dry_run_lists_exactly_what_the_real_run_runs_and_checks(ports: int) -> None:
    dry_lab, real_lab = Lab(swarm_host(), read_only=True), Lab(swarm_host())
    code, dry = verify_run(ports, dry_lab, dry_run=True)
    assert code == 0 and dry_lab.commands() == []
    code, real = verify_run(ports, real_lab)
    assert code == 0, real.errors.getvalue()
    assert real.seen == dry.seen
    described = [d for d, _ in real.seen["pi1"]]
    assert described == [
        "make the test image from this host's busybox-static (no registry)",
        "remove leftovers of an earlier verify", "create a test overlay network",
        "start a global test service (host-mode port)", "check that the test task runs on this node",
        "check that the test service answers on the host port with this node's name",
        "check that the test task reaches other nodes' tasks over the overlay network",
        "remove the test services, and the network once their tasks are gone",
        "remove the test image once its containers are gone"]
    for host in HOSTS:  # every command --dry-run showed is the command that ran
        commands = [shown.removeprefix("sudo ") for _, shown in dry.seen[host] if shown.startswith("sudo ")]
        assert [c for c in real_lab.commands(host) if c in commands] == commands
        assert f"{host}: Verify swarm: ok (node ok, host port ok, overlay ok (2 peers))" in real.out.getvalue()
    assert "routing mesh: unavailable (kernel lacks IPVS)" in dry.out.getvalue() + real.out.getvalue()
    assert "nothing changed" in real.out.getvalue()


def test_a_task_that_does_not_start_fails_its_host_the_others_pass_and_all_is_cleaned_up(
        ports: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(verify, "WAIT_TASKS", 0.1)
    lab = Lab(swarm_host(task_errors={"pi3": "no suitable node"}))
    code, report = verify_run(ports, lab)
    assert code == 1
    assert "pi3: test task did not start on node pi3: no suitable node" in report.errors.getvalue()
    assert "pi1: Verify swarm: ok (node ok, host port ok, overlay ok (1 peers))" in report.out.getvalue()
    assert any("docker service rm cms-swarm-verify" in c for c in lab.commands("pi1"))
    assert any("docker image rm cms-swarm-verify:busybox" in c for c in lab.commands("pi3"))


def test_a_failed_set_up_stops_verify_and_still_cleans_up(ports: int) -> None:
    lab = Lab(swarm_host(refuse=("pi1", "docker network create")))
    code, report = verify_run(ports, lab)
    assert code == 1
    assert "pi1: create a test overlay network failed (exit 1): refused by the test" in report.errors.getvalue()
    assert not any(c.startswith("docker service create") for c in lab.commands())
    assert not any(c.startswith("docker service ps") for c in lab.commands())  # no checks
    assert any("docker service rm cms-swarm-verify" in c and "setsid" in c for c in lab.commands("pi1"))
    assert all(any("docker image rm" in c for c in lab.commands(h)) for h in HOSTS)


def test_an_unchanged_swarm_reuses_an_earlier_pass_and_runs_nothing(ports: int) -> None:
    lab = Lab(swarm_host())

    async def twice() -> tuple[Runner, int]:
        runner = Runner(loopback(ports), RunOptions(verify_port=ports), StepRecorder(), lab.connect)
        await runner.connect()
        assert await runner.run_phase(VerifyPhase())  # passes: remembered
        before = len(lab.commands())
        assert await runner.run_phase(VerifyPhase(reuse_earlier=True))
        await runner.close()
        return runner, before

    runner, before = asyncio.run(twice())
    assert len(lab.commands()) == before  # the second pass only probed
    notes = runner.results["pi2"].notes
    assert notes[-2] == "node ok" and notes[-1].endswith("swarm unchanged since (`verify` tests again)")
    assert not any(r.changed for r in runner.results.values())


def test_verify_without_a_swarm_fails_every_host_and_a_dry_run_lists_what_it_would_do(ports: int) -> None:
    def bare_docker(name: str, command: str) -> Result:
        return Result(0, probe(name, docker="20.10.24"), "") if command == PROBE_SCRIPT else Result(0, "", "")

    code, report = verify_run(ports, Lab(bare_docker))
    assert code == 1
    for host in HOSTS:
        assert f"{host}: not in a swarm: run `cms-swarm init` first" in report.errors.getvalue()
    lab = Lab(bare_docker, read_only=True)
    code, report = verify_run(ports, lab, dry_run=True)
    assert code == 0 and lab.commands() == []  # only probed
    # planned for the swarm `create` makes: pi1 (the first manager) leads
    assert [d for d, _ in report.seen["pi1"]][1:4] == [
        "remove leftovers of an earlier verify", "create a test overlay network",
        "start a global test service (host-mode port)"]
    for host in HOSTS:
        assert ("check that the test task runs on this node" in (d for d, _ in report.seen[host]))
