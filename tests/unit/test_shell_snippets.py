"""phases/shell.py: the snippets several phases share, run in a real sh with stand-in commands
(docker, pgrep, systemctl, sleep) first on PATH; and the phases that use them."""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

from cloudmesh.swarm.phases import access, identity, install, reset, shell, tokens


def run(tmp_path: Path, script: str, **commands: str) -> subprocess.CompletedProcess[str]:
    """`script` under sh with each of `commands` (name -> sh body) as a program on PATH."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for name, body in commands.items():
        program = bin_dir / name
        program.write_text(f"#!/bin/sh\n{body}\n")
        program.chmod(0o755)
    return subprocess.run(["sh", "-c", script], capture_output=True, text=True, check=False,
                          env={"PATH": f"{bin_dir}:/usr/bin:/bin", "STATE": str(tmp_path)},
                          timeout=60)


NO_SLEEP = ":"


def test_engine_up_waits_until_docker_answers(tmp_path: Path) -> None:
    docker = ('n=$(cat "$STATE/n" 2>/dev/null || echo 0); echo $((n+1)) > "$STATE/n"; '
              '[ "$n" -ge 3 ] || { echo "Cannot connect to the Docker daemon $n" >&2; exit 1; }')
    done = run(tmp_path, shell.ENGINE_UP, docker=docker, sleep=NO_SLEEP)
    assert done.returncode == 0 and (tmp_path / "n").read_text().strip() == "4"


def test_engine_up_gives_up_with_the_last_error(tmp_path: Path) -> None:
    docker = ('n=$(cat "$STATE/n" 2>/dev/null || echo 0); echo $((n+1)) > "$STATE/n"; '
              'echo "first line" >&2; echo "try $n: no engine" >&2; exit 1')
    failed = run(tmp_path, shell.ENGINE_UP, docker=docker, sleep=NO_SLEEP)
    assert failed.returncode == 1 and failed.stderr == "try 119: no engine\n"
    assert (tmp_path / "n").read_text().strip() == "120"


def test_wait_for_apt_waits_for_a_running_dpkg_but_not_forever(tmp_path: Path) -> None:
    pgrep = ('n=$(cat "$STATE/n" 2>/dev/null || echo 0); echo $((n+1)) > "$STATE/n"; '
             '[ "$1 $2" = "-x dpkg" ] && [ "$n" -lt 6 ]')
    done = run(tmp_path, shell.WAIT_FOR_APT + "echo go", pgrep=pgrep, sleep=NO_SLEEP)
    assert done.stdout == "go\n"
    stuck = run(tmp_path, shell.WAIT_FOR_APT + "echo $i", pgrep="exit 0", sleep=NO_SLEEP)
    assert stuck.stdout == "600\n"


def test_reload_sshd_falls_back_to_the_sshd_unit(tmp_path: Path) -> None:
    systemctl = 'echo "$@" >> "$STATE/calls"; [ "$2" = sshd ]'
    done = run(tmp_path, shell.RELOAD_SSHD, systemctl=systemctl)
    assert done.returncode == 0
    assert (tmp_path / "calls").read_text() == "reload ssh\nreload sshd\n"


def test_api_post_is_one_quoted_python_program() -> None:
    words = shlex.split(shell.api_post("/swarm/join"))
    assert words[:2] == ["python3", "-c"] and words[3:] == ["/swarm/join"]
    compile(words[2], "api_post", "exec")
    assert "/var/run/docker.sock" in words[2]


def test_phases_use_the_shared_snippets() -> None:
    assert install.WAIT_ENGINE.command == shell.ENGINE_UP
    assert any(step.command.startswith(f"{shell.APT} purge") for step in reset.PURGE)
    assert shell.RELOAD_SSHD in access.RELOAD and shell.RELOAD_SSHD in identity.NEW_HOST_KEYS
    assert tokens.api_post is shell.api_post
