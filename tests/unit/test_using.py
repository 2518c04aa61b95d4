"""Using the swarm from this machine, without hosts: context files, completion in a real bash,
inventory new, the services parser on recorded output, bad input of the new commands, version."""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cloudmesh.swarm import __version__, context
from cloudmesh.swarm.cli.main import main
from cloudmesh.swarm.inventory import from_hostlist, load
from cloudmesh.swarm.stack import parse_services

BIN = Path(sys.executable).parent


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("DOCKER_CONFIG", raising=False)
    return tmp_path


# -- the Docker context: files only ----------------------------------------------------------
def test_context_files_are_what_the_docker_cli_reads(home: Path) -> None:
    key = home / "id"
    key.write_text("k")
    inventory = from_hostlist("red01=10.1.1.5,red02=10.1.1.6", user="pi", key=str(key), name="red",
                              known_hosts=str(home / "kh"))
    (home / ".ssh").mkdir()
    (home / ".ssh" / "config").write_text("Host other\n    User bob\n")
    (home / ".docker").mkdir()
    (home / ".docker" / "config.json").write_text('{"auths": {"x": {}}}')
    written = context.write(inventory, "red02", use=True)
    digest = hashlib.sha256(b"swarm-red").hexdigest()
    assert written.meta == home / ".docker" / "contexts" / "meta" / digest / "meta.json"
    meta = json.loads(written.meta.read_text())
    assert meta == {"Name": "swarm-red", "Metadata": {"Description": "cms-swarm cluster red (manager red02)"},
                    "Endpoints": {"docker": {"Host": "ssh://pi@10.1.1.6", "SkipTLSVerify": False}}}
    config = json.loads((home / ".docker" / "config.json").read_text())
    assert config == {"auths": {"x": {}}, "currentContext": "swarm-red"}
    ssh = (home / ".ssh" / "config").read_text().splitlines()
    assert ssh[0] == f"Include {home}/.ssh/config.d/cms-swarm-*" and ssh[1:] == ["Host other", "    User bob"]
    entry = written.ssh_config.read_text()
    assert f"Host 10.1.1.5\n    User pi\n    Port 22\n    IdentityFile {key}" in entry
    assert f"UserKnownHostsFile {home}/kh\n    StrictHostKeyChecking yes" in entry
    assert oct(written.ssh_config.stat().st_mode & 0o777) == "0o600"
    context.write(inventory, "red01")  # again: one Include line, the context repointed
    assert (home / ".ssh" / "config").read_text().count("Include") == 1
    assert context.current_endpoint("red") == "ssh://pi@10.1.1.5"


def status(leader: str, down: str = "") -> dict[str, object]:
    nodes = []
    for host in ("red01", "red02", "red03"):
        state = "down" if host == down else "ready"
        nodes.append({"host": host, "role": "manager", "state": state, "leader": host == leader,
                      "manager_status": "Leader" if host == leader else
                      ("Unreachable" if host == down else "Reachable")})
    return {"nodes": nodes}


def test_context_moves_only_when_its_manager_is_gone(home: Path) -> None:
    inventory = from_hostlist("red0[1-3]", name="red")
    assert context.keep_reachable(inventory, status("red01")) is None  # no context: none made
    context.write(inventory, "red01")
    assert context.keep_reachable(inventory, status("red01", down="red02")) is None  # still fine
    moved = context.keep_reachable(inventory, status("red02", down="red01"))
    assert moved is not None and moved.manager == "red02" and moved.host == "ssh://pi@red02"
    assert context.current_endpoint("red") == "ssh://pi@red02"


# -- completion ------------------------------------------------------------------------------
def complete(line: str, cwd: Path) -> list[str]:
    """What bash offers for `line<TAB>` with the script `cms-swarm completion bash` prints."""
    script = (f'source <("{BIN}/cms-swarm" completion bash)\n'
              f'COMP_LINE={json.dumps(line)}; COMP_POINT=${{#COMP_LINE}}\n'
              'read -r -a COMP_WORDS <<< "$COMP_LINE"\n'
              '[[ "$COMP_LINE" == *" " ]] && COMP_WORDS+=("")\n'
              'COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))\n'
              '_python_argcomplete cms-swarm "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"\n'
              'printf "%s\\n" "${COMPREPLY[@]}"\n')
    done = subprocess.run(["bash", "-c", script], check=False, capture_output=True, text=True, timeout=60, cwd=cwd,
                          env={**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}"})
    assert done.returncode == 0, done.stderr
    return [w.strip() for w in done.stdout.splitlines() if w.strip()]


def test_bash_completes_commands_options_files_and_hosts(tmp_path: Path) -> None:
    assert complete("cms-swarm cr", tmp_path) == ["create"]
    assert set(complete("cms-swarm de", tmp_path)) == {"demote", "deploy"}
    assert complete("cms-swarm deploy --tim", tmp_path) == ["--timeout"]
    (tmp_path / "red.yaml").write_text("name: red\nhosts:\n  - {name: red01, address: 10.1.1.5}\n"
                                       "  - {name: red02, address: 10.1.1.6}\n")
    (tmp_path / "notes.txt").write_text("")
    assert complete("cms-swarm create -i ", tmp_path) == ["red.yaml"]
    assert complete("cms-swarm drain -i red.yaml red", tmp_path) == ["red01", "red02"]


@pytest.mark.parametrize("shell,marker", [("bash", "complete -o nospace"), ("zsh", "#compdef cms-swarm"),
                                          ("fish", "complete --command cms-swarm")])
def test_completion_scripts(shell: str, marker: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["completion", shell]) == 0
    assert marker in capsys.readouterr().out


# -- inventory new ---------------------------------------------------------------------------
def test_inventory_new_writes_a_commented_valid_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "red.yaml"
    assert main(["inventory", "new", "localhost,red01.invalid", "--user", "pi", "-o", str(out)]) == 0
    text = out.read_text()
    inventory = load(out)
    assert inventory.name == "red" and inventory.ssh.user == "pi"
    assert [(h.name, h.address) for h in inventory.hosts] == [("localhost", "127.0.0.1"),
                                                             ("red01.invalid", "red01.invalid")]
    assert "# resolved from localhost on this machine" in text
    assert "red01.invalid did not resolve here" in text and "# key: ~/.ssh/id_ed25519" in text
    assert "next: cms-swarm check -i" in capsys.readouterr().err
    assert main(["inventory", "new", "red[01-03]", "-o", str(out)]) == 2  # exists: refused
    assert "exists (--force replaces it)" in capsys.readouterr().err
    assert out.read_text() == text


def test_inventory_new_to_stdout_with_given_addresses(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["inventory", "new", "a=10.0.0.1,b=10.0.0.2", "--name", "lab", "--key", "~/k"]) == 0
    text = capsys.readouterr().out
    assert "address: 10.0.0.1   # as given" in text and '  key: "~/k"' in text and "name: lab" in text


# -- bad input: one line, exit 2, nothing done -----------------------------------------------
@pytest.mark.parametrize("args,expected", [
    (["deploy", "web", "-i", "x.yaml"], "-c FILE: deploy needs at least one compose file"),
    (["deploy", "web", "pi1", "-c", "/nonexistent.yml"], "-c: /nonexistent.yml is not a file"),
    (["deploy", "--rm", "web", "pi1", "-c", "/etc/hostname"], "--rm removes a stack"),
    (["deploy", "we b", "pi1", "-c", "/etc/hostname"], "NAME: 'we b' is not a stack name"),
    (["deploy", "web", "pi1", "-c", "/etc/hostname", "--timeout", "0"], "--timeout"),
    (["services", "--stack", "a/b", "pi1"], "--stack: 'a/b'"),
    (["deploy", "web", "pi1", "-c", "/etc/hostname", "--image-archive", "/nope.tar"],
     "--image-archive: /nope.tar is not a file"),
    (["context"], "no hosts"),
    (["completion", "tcsh"], "invalid choice"),
    (["inventory", "new", "red[01-"], "not a valid host list"),
    (["inventory", "new", "red01", "--port", "0"], "--port: 0"),
])
def test_bad_input_of_new_commands(args: list[str], expected: str,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    assert main(args) == 2
    err = capsys.readouterr().err
    assert expected in err and len(err.strip().splitlines()) <= 3 and "Traceback" not in err


# -- services from recorded output -----------------------------------------------------------
RECORDED = """\
demo_web\treplicated\t1/2\tcms-swarm-test:busybox\t
demo_tick\tglobal\t3/3 (max 1 per node)\tcms-swarm-test:busybox\t*:8080->8080/tcp
--- tasks
demo_web.1\tpi1\tRunning\tRunning 5 seconds ago\t
demo_web.2\tpi2\tRunning\tRejected 1 second ago\tNo such image: cms-swarm-test:missing
 \\_ demo_web.2\tpi2\tShutdown\tRejected 6 seconds ago\tNo such image: old
demo_tick.x1\tpi1\tRunning\tRunning 4 seconds ago\t
demo_tick.x2\tpi2\tRunning\tRunning 4 seconds ago\t
demo_tick.x3\tpi3\tRunning\tRunning 4 seconds ago\t
"""


def test_parse_services_counts_nodes_and_keeps_the_newest_error() -> None:
    web, tick = parse_services(RECORDED)
    assert (web.name, web.running, web.desired, web.converged) == ("demo_web", 1, 2, False)
    assert web.nodes == ["pi1"] and web.error == "task on pi2: No such image: cms-swarm-test:missing"
    assert (tick.mode, tick.running, tick.desired, tick.converged) == ("global", 3, 3, True)
    assert tick.nodes == ["pi1", "pi2", "pi3"] and tick.ports == "*:8080->8080/tcp"


# -- packaging -------------------------------------------------------------------------------
def test_version_is_the_package_metadata(capsys: pytest.CaptureFixture[str]) -> None:
    assert __version__ == importlib.metadata.version("cloudmesh-swarm")
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"cloudmesh-swarm {__version__}"


# -- Cloudmesh conventions: the docopt usage of `cms help swarm` -----------------------------
def plugin_usage() -> str:
    import textwrap

    from cloudmesh.swarm.command.swarm import SwarmCommand

    return textwrap.dedent(SwarmCommand.do_swarm.__doc__ or "").replace("::", "", 1)


def test_usage_lists_every_command_with_options_the_parser_accepts() -> None:
    import argparse
    import re

    from cloudmesh.swarm.cli.main import build_parser

    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    lines = [line.split() for line in plugin_usage().split("Usage:")[1].split("\n\n")[0].splitlines()
             if line.strip()]
    assert {words[1] for words in lines} == set(commands)  # every command, nothing else
    for words in lines:
        sub = commands[words[1]]
        subs = [sub] + [a.choices[w] for a in sub._actions if isinstance(a, argparse._SubParsersAction)
                        for w in (words[2:3] if words[1] == "image" else a.choices)]
        known = {o for s in subs for a in s._actions for o in a.option_strings}
        for option in re.findall(r"(?<![\w-])(--?[a-z][a-z0-9-]*)", " ".join(words[2:])):
            assert option in known, f"swarm {words[1]}: {option} is not an option of cms-swarm {words[1]}"


@pytest.mark.parametrize("argv", [
    ["create", "-i", "red.yaml", "--use", "--json"], ["create", "red[01-03]", "--user=pi"],
    ["deploy", "web", "-i", "red.yaml", "-c", "a.yml", "-c", "b.yml", "--timeout=60"],
    ["deploy", "web", "-i", "red.yaml", "--rm"], ["services", "-i", "red.yaml", "--stack=web"],
    ["context", "-i", "red.yaml", "--use"], ["inventory", "new", "red[01-03]", "-o", "red.yaml"],
    ["completion", "bash"], ["status", "pi[1-3]", "--json"],
])
def test_docopt_and_argparse_accept_the_same_lines(argv: list[str]) -> None:
    import docopt

    from cloudmesh.swarm.cli.main import build_parser

    docopt.docopt(plugin_usage(), argv=argv, help=False)  # DocoptExit when the usage lacks it
    build_parser().parse_args(argv)  # SystemExit when cms-swarm does not


def test_cms_help_swarm_shows_the_usage(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path), "PATH": f"{BIN}:/usr/bin:/bin"}
    done = subprocess.run([BIN / "cms", "help", "swarm"], check=False, capture_output=True, text=True,
                          env=env, timeout=60)
    assert "swarm deploy NAME [HOSTS] [-i FILE] (-c FILE... | --rm) [--image-archive=TAR...]" in done.stdout
    assert "cms itself always exits 0" in done.stdout


def test_pyproject_uses_an_spdx_license_and_the_code_version() -> None:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    project = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())["project"]
    assert project["license"] == "Apache-2.0"  # a string (PEP 639), not the deprecated table
    assert project["dynamic"] == ["version"] and "version" not in project
    assert (Path(__file__).parents[2] / "LICENSE").read_text().lstrip().startswith("Apache License")


# -- the README's picture: a recorded session, not a drawing ---------------------------------
def test_the_readme_picture_is_the_recorded_demo_session() -> None:
    root = Path(__file__).parents[2]
    assert "](docs/demo.svg)" in (root / "README.md").read_text()
    lines = (root / "docs" / "demo.cast").read_text().splitlines()
    header = json.loads(lines[0])
    assert header["version"] == 2 and header["width"] == 110
    said = "".join(event[2] for event in map(json.loads, lines[1:]) if event[1] == "o")
    for typed in ("cms-swarm create -i lab.yaml", "cms-swarm deploy web -i lab.yaml -c compose.yml",
                  "docker --context swarm-"):
        assert typed in said, f"the recording lacks `{typed}`"
    assert "3/3 running" in said and "<svg" in (root / "docs" / "demo.svg").read_text()[:200]
