"""The runner with a FakeTransport giving canned output per command (no SSH, no hosts)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from cloudmesh.swarm.actions import run_action
from cloudmesh.swarm.facts import PROBE_SCRIPT
from cloudmesh.swarm.options import RunOptions
from cloudmesh.swarm.report import Reporter
from cloudmesh.swarm.transport import Result

from .harness import Lab, named_inventory
from .probes import probe


@pytest.fixture(autouse=True)
def _home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CMS_SWARM_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # a created swarm writes a Docker context
    monkeypatch.delenv("DOCKER_CONFIG", raising=False)


def run(action: str, lab: Lab, **options: object) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = run_action(action, named_inventory(["pi1", "pi2", "pi3"]), RunOptions(**options), Reporter(file=out, err=err),  # type: ignore[arg-type]
                      connector=lab.connect, skip_verify=True)
    return code, out.getvalue(), err.getvalue()


def test_a_failed_preflight_stops_before_any_change() -> None:
    def handler(name: str, command: str) -> Result:
        if command == PROBE_SCRIPT:
            return Result(0, probe(name, sudo=name != "pi2"), "")
        return Result(0, "", "")

    lab = Lab(handler)
    code, _, err = run("create", lab)
    assert code == 1
    assert lab.commands() == []
    assert "pi2: sudo needs a password" in err


def test_one_host_fails_the_others_finish_and_the_next_phase_never_starts() -> None:
    def handler(name: str, command: str) -> Result:
        if command == PROBE_SCRIPT:
            return Result(0, probe(name), "")
        if name == "pi2" and "install -y" in command:
            return Result(100, "", "E: Unable to locate package docker.io\n")
        return Result(0, "", "")

    lab = Lab(handler)
    code, _, err = run("create", lab)
    assert code == 1
    assert any("install -y" in c for c in lab.commands("pi1"))
    assert any("usermod -aG docker pi" in c for c in lab.commands("pi3"))
    assert not any("usermod" in c for c in lab.commands("pi2"))
    assert not any("swarm" in c for c in lab.commands())
    assert "pi2: install docker.io, and docker-cli where the release has it (no recommends) failed (exit 100)" in err
    assert "Unable to locate package docker.io" in err


def test_an_unreachable_host_is_named_and_the_others_finish() -> None:
    lab = Lab(unreachable=("pi3",))
    code, _, err = run("install", lab)
    assert code == 1
    assert "pi3: cannot connect to 10.0.0.3:22" in err
    assert lab.commands("pi1") and lab.commands("pi2") and lab.commands("pi3") == []


def test_a_preflight_problem_stops_every_host() -> None:
    def no_sudo(name: str, command: str) -> Result:
        if command == PROBE_SCRIPT:
            return Result(0, probe(name, sudo=name != "pi2"), "")
        return Result(0, "", "")

    lab = Lab(no_sudo)
    code, _, err = run("install", lab)
    assert code == 1 and "pi2: problem: sudo needs a password" in err
    assert lab.commands() == []


def test_dry_run_prints_the_plan_and_runs_nothing() -> None:
    lab = Lab()
    code, out, _ = run("install", lab, dry_run=True)
    assert code == 0
    assert lab.commands() == []
    assert "pi1: would install docker.io, and docker-cli where the release has it (no recommends): sudo " in out
    assert "dry run: nothing was changed" in out


def test_a_step_that_does_not_converge_fails_the_host() -> None:
    lab = Lab()  # every command "succeeds" but the probe never shows docker
    code, _, err = run("install", lab)
    assert code == 1
    assert "still to do after apply" in err


def test_tokens_in_output_never_reach_the_screen_or_the_log(tmp_path: Path) -> None:
    def handler(name: str, command: str) -> Result:
        if command == PROBE_SCRIPT:
            return Result(0, probe(name), "")
        return Result(1, "docker swarm join --token SWMTKN-1-abcdef 10.0.0.1:2377", "SWMTKN-1-abcdef")

    lab = Lab(handler)
    code, out, err = run("install", lab)
    assert code == 1
    logs = "".join(p.read_text() for p in (tmp_path / "state" / "logs" / "t").iterdir())
    assert "SWMTKN-1-abcdef" not in out + err + logs
    assert "SWMTKN-***" in logs
    modes = {p.stat().st_mode & 0o777 for p in (tmp_path / "state" / "logs" / "t").iterdir()}
    assert modes == {0o600}


def test_a_probe_made_minutes_before_it_is_served_reads_the_time_now(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Module-level probes are made at import; a long run reaches them minutes later. Served by
    the FakeTransport they read "now", so the runner measures no clock skew (it once failed 6
    tests, only in the whole suite); an explicit clock= stays as given."""
    import time

    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() - 600)
    made_long_ago, skewed = probe("pi1"), probe("pi2", clock=real() - 600)
    monkeypatch.setattr(time, "time", real)
    probes = {"pi1": made_long_ago, "pi2": skewed}
    lab = Lab(lambda name, command: Result(0, probes[name], "") if command == PROBE_SCRIPT
              else Result(0, "", ""))
    out = io.StringIO()
    code = run_action("check", named_inventory(["pi1", "pi2"]), RunOptions(),
                      Reporter(file=out, err=out), connector=lab.connect)
    assert code == 1
    assert "pi1: clock" not in out.getvalue()
    assert "pi2: clock is -600 s off" in out.getvalue()
