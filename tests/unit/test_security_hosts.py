"""Issue 12, what hosts say: strings from hosts are text, never markup, escapes or shell;
plans and runs agree; lost hosts stop a run before anything changes. Each failed before."""

from __future__ import annotations

import io
import json

import pytest

from cloudmesh.swarm.actions import run_action, status_data
from cloudmesh.swarm.errors import CommandError, InventoryError
from cloudmesh.swarm.facts import PROBE_SCRIPT, parse_facts
from cloudmesh.swarm.inventory import Inventory, from_hostlist
from cloudmesh.swarm.options import RunOptions
from cloudmesh.swarm.phases.configure import ConfigurePhase
from cloudmesh.swarm.report import Reporter
from cloudmesh.swarm.runner import Runner
from cloudmesh.swarm.transport import Result

from .harness import Lab, context, inventory
from .probes import node_row, probe, swarm_info
from .test_plans import bare_cluster


@pytest.fixture(autouse=True)
def _home(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("CMS_SWARM_HOME", str(tmp_path / "state"))


HOSTILE = ["x[/]y", "[bold]", "[/bold]", "a\x1b]0;owned\x07b", "\x1b[31mred\x1b[0m", "\x9b31m",
           "tab\there", "bell\x07", "[link=file:///etc/passwd]x[/link]", "SWMTKN-1-abc"]


# -- 7: rich markup and terminal escapes from hosts are printed as plain text ---------------

def _status_with_node_names(names: list[str]) -> tuple[str, str]:
    inv = Inventory.model_validate({"name": "t", "hosts": [{"name": "pi1", "address": "10.0.0.1"}]})
    rows = [node_row("n1", "pi1", "Leader", me=True)]
    rows += [node_row(f"x{i}", name, status="Down") for i, name in enumerate(names)]
    out, err = io.StringIO(), io.StringIO()
    reporter = Reporter(file=out, err=err, live=False)
    runner = Runner(inv, RunOptions(), reporter)
    runner.transports["pi1"] = object()  # type: ignore[assignment]
    runner.ctx.facts["pi1"] = parse_facts(probe("pi1", docker="26.1.5", swarm=swarm_info("n1", True),
                                                nodes=rows))
    reporter.status(status_data(runner), as_json=False)
    reporter.host_failed("pi1", CommandError("pi1", "step", 1, "\n".join(names)))
    return out.getvalue(), err.getvalue()


def test_status_prints_hostile_node_names_as_text() -> None:
    out, err = _status_with_node_names(HOSTILE)
    assert "\x1b" not in out + err and "\x07" not in out + err and "\x9b" not in out + err
    assert "(x[/]y)" in out and "([bold])" in out and "(ab)" in out  # shown, not interpreted
    assert "SWMTKN-1-abc" not in out + err


def test_clean_strips_escapes_and_escapes_markup() -> None:
    from cloudmesh.swarm.report import clean

    assert clean("a\x1b]0;title\x07b\x1b[2Jc") == "abc"
    assert clean("[/]") == "\\[/]"
    assert clean("x\x00y\rz") == "xyz"


# -- 8: an overlay address from one host is an IP before another host's shell sees it -------

@pytest.mark.parametrize("text", ["10.0.1.5; reboot", "$(id)", "-e sh", "10.0.1.5 80 -e /bin/sh", ""])
def test_overlay_address_must_be_an_ip(text: str) -> None:
    from cloudmesh.swarm.phases.verify import overlay_ip

    with pytest.raises(ValueError):
        overlay_ip(text)


def test_overlay_address_accepts_ips() -> None:
    from cloudmesh.swarm.phases.verify import overlay_ip

    assert overlay_ip("10.0.1.5\n") == "10.0.1.5"
    assert overlay_ip("fd00::5") == "fd00::5"


# -- 11: duplicate addresses in any spelling ------------------------------------------------

@pytest.mark.parametrize("second", ["3221225985", "0300.0.2.1", "0xc0.0.2.1", "0xC0.0.2.1",
                                    "192.0.513", "192.000.002.001"])
def test_legacy_ipv4_spellings_are_the_same_address(second: str) -> None:
    with pytest.raises(InventoryError, match="duplicate host address '192.0.2.1'"):
        from_hostlist(f"a=192.0.2.1,b={second}")


def test_dns_names_differing_in_case_or_root_dot_are_the_same_address() -> None:
    with pytest.raises(InventoryError, match="duplicate host address"):
        from_hostlist("a=PI1.local,b=pi1.local.")


# -- 12: IPv6 managers go into RemoteAddrs in brackets --------------------------------------

def test_ipv6_manager_addresses_are_bracketed() -> None:
    ctx = bare_cluster()
    ctx.addresses = {"pi1": "fd00::1", "pi2": "fd00::2"}
    body = ConfigurePhase().plan(ctx, "pi2", "join-manager").steps[-1].stdin_text()
    assert '"RemoteAddrs": ["[fd00::1]:2377"]' in body


# -- 18: --dry-run on fresh hosts shows what apply does: init on pi1, no join there ----------

def test_dry_run_does_not_join_the_manager_that_initialises() -> None:
    ctx = context(inventory(3), {f"pi{i}": probe(f"pi{i}", docker="26.1.5") for i in (1, 2, 3)},
                  dry_run=True)
    phase = ConfigurePhase()
    planned = [(b.stage, h, s.description) for b in phase.batches(ctx) for h in b.hosts
               for s in phase.plan(ctx, h, b.stage).steps]
    assert [p for p in planned if p[1] == "pi1"] == [("init", "pi1", "initialise the swarm")]
    assert ("join-manager", "pi2", "join the swarm as a manager") in planned


# -- 19: lost managers stop the run before anything changes ---------------------------------

def _run(action: str, lab: Lab, n: int = 5) -> tuple[int, str, str]:
    inv = Inventory.model_validate(
        {"name": "t", "hosts": [{"name": f"pi{i}", "address": f"10.0.0.{i}"} for i in range(1, n + 1)]})
    out, err = io.StringIO(), io.StringIO()
    code = run_action(action, inv, RunOptions(), Reporter(file=out, err=err, live=False),
                      connector=lab.connect, skip_verify=True)
    return code, out.getvalue(), err.getvalue()


def test_lost_managers_stop_create_before_anything_changes() -> None:
    lab = Lab(unreachable=("pi1", "pi2", "pi3"))
    code, _, err = _run("create", lab)
    assert code == 1
    assert lab.commands() == []  # nothing ran on pi4, pi5 (only the probe)
    assert "the swarm needs managers pi1, pi2, pi3" in err


def test_lost_workers_are_left_out_with_a_summary_and_exit_1() -> None:
    lab = Lab(unreachable=("pi5",))
    code, out, _ = _run("install", lab)
    assert code == 1
    assert "going on without pi5" in out
    assert lab.commands("pi1")


# -- 20: a failed step shows the command's own last words -----------------------------------

def test_a_failed_step_shows_its_stderr_or_its_last_stdout_line() -> None:
    error = CommandError("pi1", "wait until the engine answers", 1, "sh: 1: docker: not found\n")
    assert str(error).endswith("failed (exit 1): sh: 1: docker: not found")
    quiet = CommandError("pi1", "step", 2, "", "line 1\nE: SWMTKN-1-abc broke\n")
    assert str(quiet) == "pi1: step failed (exit 2): E: SWMTKN-*** broke"


def test_engine_wait_reports_the_engine_s_last_error(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import os
    import subprocess

    from cloudmesh.swarm.phases.shell import ENGINE_UP

    fake = tmp_path / "docker"
    fake.write_text("#!/bin/sh\necho 'Cannot connect to the Docker daemon' >&2\nexit 1\n")
    fake.chmod(0o755)
    done = subprocess.run(["sh", "-c", ENGINE_UP.replace("120", "2")], capture_output=True, text=True,
                          check=False,
                          env=dict(os.environ, PATH=f"{tmp_path}:{os.environ['PATH']}"), timeout=30)
    assert done.returncode == 1 and done.stderr.strip() == "Cannot connect to the Docker daemon"


def test_the_runner_passes_stdout_to_the_error() -> None:
    def handler(name: str, command: str) -> Result:
        if command == PROBE_SCRIPT:
            return Result(0, probe(name), "")
        return Result(100, "E: Unable to locate package docker.io\n", "")

    code, _, err = _run("install", Lab(handler), n=1)
    assert code == 1 and "failed (exit 100): E: Unable to locate package docker.io" in err
    json.dumps(err)


def test_errors_printed_by_the_cli_carry_no_terminal_escapes(capsys: pytest.CaptureFixture[str],
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from cloudmesh.swarm.cli.main import main

    def fails(args: object) -> int:
        raise CommandError("pi1", "read /dev/sda", 1, "dd: \x1b]0;owned\x07\x1b[2Jerror SWMTKN-1-x")

    monkeypatch.setattr("cloudmesh.swarm.cli.main.dispatch", fails)
    assert main(["status", "pi1=127.0.0.1"]) == 1
    err = capsys.readouterr().err
    assert err == "error: pi1: read /dev/sda failed (exit 1): dd: error SWMTKN-***\n"


# -- 3 (the left-over): a refused sshd_config block leaves no copy behind ---------------------

@pytest.mark.parametrize("valid", [True, False])
def test_harden_block_leaves_no_world_readable_copy(tmp_path, valid: bool) -> None:  # type: ignore[no-untyped-def]
    import subprocess

    from cloudmesh.swarm.phases import access

    from .test_access_plans import sshd

    ctx = context(inventory(1), {"pi1": sshd(include=False)})
    command = access.HardenPhase().plan(ctx, "pi1", "all").steps[0].command
    main, fake = tmp_path / "sshd_config", tmp_path / "sshd"
    main.write_text("Port 22\n")
    fake.write_text(f"#!/bin/sh\nexit {0 if valid else 1}\n")
    fake.chmod(0o755)
    command = (command.replace(access.RELOAD, "true").replace(access.MAIN, str(main))
               .replace("/usr/sbin/sshd", str(fake)))
    done = subprocess.run(["sh", "-c", command], input="BLOCK\n", capture_output=True, text=True,
                          check=False, timeout=30)
    assert (done.returncode == 0) is valid
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sshd", "sshd_config"]
    assert main.read_text() == ("BLOCK\nPort 22\n" if valid else "Port 22\n")
