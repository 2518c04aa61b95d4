"""The command line: exit codes, one-line errors, help, and the cms plugin giving the same."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from cloudmesh.swarm.cli.main import COMMANDS, main

BIN = Path(sys.executable).parent


@pytest.mark.parametrize("args,expected", [
    (["create"], "no hosts"),
    (["create", "pi[1-"], "not a valid host list"),
    (["status", "pi1", "--port", "99999"], "not a port number"),
    (["check", "pi1", "-i", "x.yaml"], "either -i FILE or a host list"),
    (["check", "pi1", "--concurrency", "0"], "--concurrency"),
    (["lab", "up", "0"], "N must be between 1 and"),
    (["lab", "status", "--subnet", "10.0.0.0/30"], "needs at least a /24"),
    (["lab", "status", "--name", "no/slash"], "lab name"),
    (["frobnicate"], "invalid choice"),
])
def test_bad_command_lines_exit_2_with_one_error_line(args: list[str], expected: str,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    assert main(args) == 2
    err = capsys.readouterr().err
    assert expected in err
    assert "Traceback" not in err


def test_missing_inventory_file_names_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope.yaml"
    assert main(["check", "-i", str(missing)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(missing) in err


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for name in (*COMMANDS, "lab"):
        assert name in out


def test_hosts_changing_commands_offer_dry_run(capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("create", "install", "init", "reset"):
        assert main([name, "--help"]) == 0
        assert "--dry-run" in capsys.readouterr().out


def test_cms_plugin_runs_the_same_commands(tmp_path: Path) -> None:
    """`cms swarm ...` finds the plugin and reaches the same code (cms itself always exits 0)."""
    env = {"HOME": str(tmp_path), "PATH": f"{BIN}:/usr/bin:/bin"}
    listed = subprocess.run([BIN / "cms", "help"], capture_output=True, text=True, env=env, timeout=60, check=False)
    assert "swarm" in listed.stdout.split()
    done = subprocess.run([BIN / "cms", "swarm", "create", "pi[1-"], capture_output=True, text=True,
                          env=env, timeout=60, check=False)
    assert "not a valid host list" in done.stdout + done.stderr
    version = subprocess.run([BIN / "cms", "swarm", "--version"], capture_output=True, text=True,
                             env=env, timeout=60, check=False)
    assert "cloudmesh-swarm" in version.stdout


def test_restore_goes_to_exactly_one_host(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    archive = tmp_path / "swarm.tar.gz"
    archive.write_bytes(b"not read before the hosts are known")
    assert main(["restore", str(archive), "--host", "pi[1-2]"]) == 2
    assert "--host: restore goes to one host" in capsys.readouterr().err
