"""The I/O paths around the phases, on FakeTransports: the key-login proof after `keys`,
the unlock-key display after autolock, and `status`'s data from recorded facts."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

import pytest

from cloudmesh.swarm import actions
from cloudmesh.swarm.actions import json_document, prove_key_login, show_unlock_key, status_data
from cloudmesh.swarm.errors import HostError, LoginRefused
from cloudmesh.swarm.facts import PROBE_SCRIPT
from cloudmesh.swarm.options import RunOptions
from cloudmesh.swarm.plan import Secret
from cloudmesh.swarm.report import Reporter
from cloudmesh.swarm.runner import Runner
from cloudmesh.swarm.transport import Result, SshTarget

from .harness import FakeTransport, Handler, Lab, inventory, named_inventory
from .probes import node_row, probe, swarm_info

UNLOCK_KEY = "SWMKEY-1-7c37Cc8654o6p38HnroywCi19pllOnGtbdZEgtKxZu8"


OPEN: list[Runner] = []


@pytest.fixture(autouse=True)
def _home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Host logs in a temporary home; every runner a test connected is closed after it."""
    monkeypatch.setenv("CMS_SWARM_HOME", str(tmp_path / "state"))
    yield
    while OPEN:
        asyncio.run(OPEN.pop().close())


class Screen:
    """A Reporter whose screen (stdout) and messages (stderr) the test reads."""

    def __init__(self) -> None:
        self.out, self.err = io.StringIO(), io.StringIO()
        self.reporter = Reporter(file=self.out, err=self.err, live=False)


def connected(lab: Lab, screen: Screen, hosts: list[str] | None = None) -> Runner:
    """A runner that has connected to the lab's hosts and probed them, as commands do."""
    inv = named_inventory(hosts or ["pi1", "pi2"])
    runner = Runner(inv, RunOptions(), screen.reporter, lab.connect)

    async def start() -> None:
        await runner.connect()
        await runner.refresh()

    asyncio.run(start())
    OPEN.append(runner)
    return runner


# -- the key-login proof -------------------------------------------------------------------

class KeyOnlySsh:
    """Stands in for SshTransport in actions: records each target and whether it was closed."""

    def __init__(self, handler: Handler, refuse: tuple[str, ...] = ()) -> None:
        self.handler = handler
        self.refuse = refuse
        self.targets: list[SshTarget] = []
        self.closed: list[str] = []

    async def connect(self, target: SshTarget) -> FakeTransport:
        self.targets.append(target)
        if target.name in self.refuse:
            raise LoginRefused(target.name, f"SSH login as {target.user!r} was refused (no accepted key)")
        ssh = self

        class Connection(FakeTransport):
            async def __aenter__(self) -> FakeTransport:
                return self

            async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                                traceback: TracebackType | None) -> None:
                ssh.closed.append(self.name)

        return Connection(target.name, self.handler)


def prove(monkeypatch: pytest.MonkeyPatch, handler: Handler,
          refuse: tuple[str, ...] = ()) -> tuple[Runner, Screen, KeyOnlySsh]:
    screen = Screen()
    runner = connected(Lab(), screen)
    ssh = KeyOnlySsh(handler, refuse)
    monkeypatch.setattr(actions, "SshTransport", ssh)
    asyncio.run(prove_key_login(runner, Path("/keys/id_ed25519")))
    return runner, screen, ssh


def test_the_proof_logs_in_with_the_key_alone_and_closes(monkeypatch: pytest.MonkeyPatch) -> None:
    runner, screen, ssh = prove(monkeypatch, lambda name, command: Result(0, "", ""))
    assert sorted(t.name for t in ssh.targets) == ["pi1", "pi2"]
    assert all(t.key == Path("/keys/id_ed25519") and not t.use_agent for t in ssh.targets)
    assert sorted(ssh.closed) == ["pi1", "pi2"]
    for name in ("pi1", "pi2"):
        assert runner.results[name].notes == ["key login verified"]
        assert f"{name}: key login with /keys/id_ed25519 verified" in screen.out.getvalue()


def test_a_refused_key_fails_that_host_only(monkeypatch: pytest.MonkeyPatch) -> None:
    runner, screen, _ = prove(monkeypatch, lambda name, command: Result(0, "", ""), refuse=("pi2",))
    error = runner.results["pi2"].error
    assert isinstance(error, LoginRefused) and "was refused" in str(error)
    assert runner.results["pi2"].notes == [] and runner.results["pi1"].notes == ["key login verified"]
    assert "pi2: key login" not in screen.out.getvalue()


def test_a_login_whose_command_fails_is_not_verified_and_still_closes(
        monkeypatch: pytest.MonkeyPatch) -> None:
    def handler(name: str, command: str) -> Result:
        return Result(1 if name == "pi1" else 0, "", "")

    runner, _, ssh = prove(monkeypatch, handler)
    error = runner.results["pi1"].error
    assert type(error) is HostError
    assert str(error) == "pi1: key login works but a command did not run"
    assert sorted(ssh.closed) == ["pi1", "pi2"]


def test_a_host_that_failed_before_is_not_tried(monkeypatch: pytest.MonkeyPatch) -> None:
    screen = Screen()
    runner = connected(Lab(unreachable=("pi2",)), screen)
    ssh = KeyOnlySsh(lambda name, command: Result(0, "", ""))
    monkeypatch.setattr(actions, "SshTransport", ssh)
    asyncio.run(prove_key_login(runner, None))
    assert [t.name for t in ssh.targets] == ["pi1"]


# -- the unlock key --------------------------------------------------------------------------

def leader_lab(unlock: Callable[[], Result]) -> Lab:
    nodes = [node_row("n1", "pi1", manager="Leader", me=True), node_row("n2", "pi2")]

    def handler(name: str, command: str) -> Result:
        if command == PROBE_SCRIPT:
            if name == "pi1":
                return Result(0, probe(name, docker="20.10.24", swarm=swarm_info("n1", True),
                                       nodes=nodes), "")
            return Result(0, probe(name, docker="20.10.24", swarm=swarm_info("n2", False)), "")
        if command == "docker swarm unlock-key -q":
            return unlock()
        return Result(99, "", "unexpected")

    return Lab(handler)


def test_the_unlock_key_is_shown_once_on_the_screen_only(tmp_path: Path) -> None:
    screen = Screen()
    lab = leader_lab(lambda: Result(0, UNLOCK_KEY + "\n", ""))
    runner = connected(lab, screen)
    runner.results["pi1"].changed = True  # autolock was just turned on
    asyncio.run(show_unlock_key(runner))
    assert screen.out.getvalue().count(UNLOCK_KEY) == 1
    assert f"swarm unlock key: {UNLOCK_KEY}\n" in screen.out.getvalue()
    assert UNLOCK_KEY not in screen.err.getvalue()
    assert "it is not shown again and not logged" in screen.err.getvalue()
    assert lab.commands() == ["docker swarm unlock-key -q"]  # on the leader only
    logs = list((tmp_path / "state" / "logs").rglob("*.log"))
    assert logs and not [log for log in logs if UNLOCK_KEY in log.read_text()]
    document = json_document("init", runner, screen.reporter, RunOptions(), 0, status_data(runner))
    assert UNLOCK_KEY not in json.dumps(document)


def test_no_key_is_read_when_autolock_was_already_on() -> None:
    screen = Screen()
    lab = leader_lab(lambda: Result(0, UNLOCK_KEY, ""))
    runner = connected(lab, screen)
    asyncio.run(show_unlock_key(runner))  # the leader did not change
    assert lab.commands() == [] and UNLOCK_KEY not in screen.out.getvalue()


@pytest.mark.parametrize("answer", [Result(1, UNLOCK_KEY, "Error"), Result(0, "\n", "")])
def test_a_failed_or_empty_read_shows_nothing(answer: Result) -> None:
    screen = Screen()
    runner = connected(leader_lab(lambda: answer), screen)
    runner.results["pi1"].changed = True
    asyncio.run(show_unlock_key(runner))
    assert "swarm unlock key" not in screen.out.getvalue() + screen.err.getvalue()


def test_the_key_is_a_secret_everywhere_but_the_screen() -> None:
    key = Secret(UNLOCK_KEY)
    assert UNLOCK_KEY not in repr(key) and UNLOCK_KEY not in str(key)


# -- status data -----------------------------------------------------------------------------

def status_lab(probes: dict[str, str], unreachable: tuple[str, ...] = ()) -> dict[str, Any]:
    def handler(name: str, command: str) -> Result:
        return Result(0, probes[name], "") if command == PROBE_SCRIPT else Result(99, "", "")

    screen = Screen()
    runner = connected(Lab(handler, unreachable), screen, hosts=[*probes, *unreachable])
    return status_data(runner)


def three_managers(*extra: dict[str, Any]) -> list[dict[str, Any]]:
    return [node_row("n1", "pi1", manager="Leader", me=True), node_row("n2", "pi2", manager="Reachable"),
            node_row("n3", "pi3", manager="Unreachable", status="Down"), *extra]


def test_status_of_a_swarm_with_an_unreachable_manager() -> None:
    data = status_lab({
        "pi1": probe("pi1", docker="20.10.24", swarm=swarm_info("n1", True), nodes=three_managers()),
        "pi2": probe("pi2", docker="20.10.24", swarm=swarm_info("n2", True)),
    }, unreachable=("pi3",))
    assert data["cluster"] == "t"
    assert data["swarm"] == {"id": "c1", "leader": "pi1", "managers": 3, "nodes": 3,
                             "reachable_managers": 2, "unreachable_managers": ["pi3"],
                             "quorum": True, "tolerates": 0}
    rows = {row["host"]: row for row in data["nodes"]}
    assert [rows[h]["state"] for h in ("pi1", "pi2", "pi3")] == ["ready", "ready", "unreachable"]
    assert rows["pi1"]["leader"] and rows["pi1"]["role"] == "manager"
    assert rows["pi3"]["node_id"] == "n3"  # found in the leader's list by its hostname
    assert rows["pi3"]["error"] == "pi3: cannot connect to 10.0.0.3:22: refused"
    assert rows["pi3"]["hostname"] is None and rows["pi1"]["error"] is None
    assert len(data["nodes"]) == 3  # pi3's node is not listed twice


def test_quorum_lost_when_most_managers_are_unreachable() -> None:
    nodes = [node_row("n1", "pi1", manager="Leader", me=True),
             node_row("n2", "pi2", manager="Unreachable", status="Down"),
             node_row("n3", "pi3", manager="Unreachable", status="Down")]
    data = status_lab({"pi1": probe("pi1", docker="20.10.24", swarm=swarm_info("n1", True),
                                    nodes=nodes)}, unreachable=("pi2", "pi3"))
    assert data["swarm"]["quorum"] is False and data["swarm"]["tolerates"] == 0
    assert data["swarm"]["unreachable_managers"] == ["pi2", "pi3"]


def test_locked_not_in_swarm_and_a_node_not_in_the_inventory() -> None:
    nodes = [node_row("n1", "pi1", manager="Leader", me=True), node_row("n2", "pi2"),
             {**node_row("n9", "ghost"), "Status": "Down"}]
    data = status_lab({
        "pi1": probe("pi1", docker="20.10.24", swarm=swarm_info("n1", True), nodes=nodes),
        "pi2": probe("pi2", docker="20.10.24", swarm=swarm_info("n2", False, state="locked")),
        "pi3": probe("pi3", docker="20.10.24", swarm=swarm_info("", False, state="inactive")),
    })
    rows = {row["host"]: row for row in data["nodes"]}
    assert rows["pi2"]["state"] == "locked" and rows["pi2"]["node_id"] == "n2"
    assert rows["pi3"]["state"] == "not in swarm" and rows["pi3"]["node_id"] is None
    assert rows["pi3"]["role"] is None and rows["pi3"]["engine"] == "20.10.24"
    ghost = rows["(ghost)"]
    assert ghost["error"] == "not in the inventory" and ghost["state"] == "down"
    assert ghost["node_id"] == "n9" and ghost["role"] == "worker" and ghost["model"] is None
    assert data["swarm"]["nodes"] == 3 and data["swarm"]["managers"] == 1


def test_no_swarm_at_all() -> None:
    data = status_lab({"pi1": probe("pi1"), "pi2": probe("pi2", docker="20.10.24")})
    assert data["swarm"] is None
    assert [row["state"] for row in data["nodes"]] == ["not in swarm", "not in swarm"]
    assert [row["engine"] for row in data["nodes"]] == [None, "20.10.24"]


def test_the_inventory_helper_still_names_hosts_pi1_on() -> None:
    assert [h.name for h in inventory(2).hosts] == ["pi1", "pi2"]
