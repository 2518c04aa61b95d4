"""After create, the swarm is usable from this machine (issue 11): the Docker context works with
the docker CLI and the Docker SDK (host keys checked), stacks deploy and converge or say why not,
services are listed, the context follows the leader, and every --json document validates.

HOME is a temporary directory for every command here, so the user's ~/.ssh and ~/.docker are
never touched. OpenSSH reads its user config from the passwd entry's home, not $HOME: the `ssh`
found first on PATH in these tests is `ssh -F $HOME/.ssh/config "$@"`, which makes it read the
very file cms-swarm wrote (for a real user both homes are the same directory).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from .cli import cms_swarm, eventually
from .conftest import LAB, address, workload

pytestmark = [pytest.mark.integration, pytest.mark.lab("swarm")]

HOSTS = ("pi1", "pi2", "pi3")
DOCKER = "/usr/local/bin/docker"
SCHEMA = json.loads((Path(__file__).parents[2] / "docs" / "result.schema.json").read_text())
CONTEXT = f"swarm-{LAB}"


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Environment of a user whose home is a temporary directory (ssh reads its config)."""
    home = tmp_path_factory.mktemp("home")
    bin_dir = home / "bin"
    bin_dir.mkdir()
    ssh = bin_dir / "ssh"
    ssh.write_text('#!/bin/sh\nexec /usr/bin/ssh -F "$HOME/.ssh/config" "$@"\n')
    ssh.chmod(0o755)
    return {"HOME": str(home), "PATH": f"{bin_dir}:{os.environ['PATH']}"}


def run_json(env: dict[str, str], *args: str, code: int = 0) -> dict[str, Any]:
    """cms-swarm ARGS --json: one document on stdout, valid against docs/result.schema.json."""
    done = cms_swarm(*args, "--json", env=env)
    assert done.returncode == code, done.stdout + done.stderr
    data = json.loads(done.stdout)
    jsonschema.validate(data, SCHEMA)
    assert data["command"] == args[0] and data["exit_code"] == code
    return data


def docker(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([DOCKER, "--context", CONTEXT, *args], check=False, capture_output=True, text=True,
                          timeout=120, env={**os.environ, **env})


def test_create_json_writes_the_context(lab_inventory: Path, home: dict[str, str]) -> None:
    data = run_json(home, "create", "-i", str(lab_inventory), "--skip-verify")
    assert set(data["hosts"]) == set(HOSTS) and all(h["ok"] for h in data["hosts"].values())
    # what ran depends on what earlier tests left on the shared lab: fresh hosts install Docker
    steps = data["hosts"]["pi1"]["steps"]
    assert isinstance(steps, list) and all(isinstance(step, str) for step in steps)
    assert data["swarm"]["nodes"] == 3
    context = data["context"]
    assert context["name"] == CONTEXT and not context["current"]
    leader = data["swarm"]["leader"]
    assert context["host"] == f"ssh://pi@{address(HOSTS.index(leader) + 1)}"
    meta = Path(context["meta"])
    assert meta.is_relative_to(home["HOME"]) and json.loads(meta.read_text())["Name"] == CONTEXT
    entry = Path(context["ssh_config"]).read_text()
    assert "StrictHostKeyChecking yes" in entry and "UserKnownHostsFile" in entry
    assert "StrictHostKeyChecking no" not in entry


def test_docker_cli_over_the_context_lists_all_nodes(home: dict[str, str]) -> None:
    done = docker(home, "node", "ls", "--format", "{{.Hostname}} {{.Status}}")
    assert done.returncode == 0, done.stderr
    assert sorted(done.stdout.split()) == sorted([*HOSTS, "Ready", "Ready", "Ready"])


def test_docker_sdk_over_the_context_lists_all_nodes(home: dict[str, str]) -> None:
    code = ("import docker\nfrom docker.context import ContextAPI\n"
            f"ctx = ContextAPI.get_context({CONTEXT!r})\n"
            "client = docker.DockerClient(base_url=ctx.Host, use_ssh_client=True)\n"
            "print(' '.join(sorted(n.attrs['Description']['Hostname'] for n in client.nodes.list())))\n")
    done = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=120,
                          env={**os.environ, **home})
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == sorted(HOSTS)


def test_host_keys_are_checked(home: dict[str, str], tmp_path: Path) -> None:
    """With an empty known_hosts in its place, the context refuses to connect."""
    entry = Path(home["HOME"]) / ".ssh" / "config.d" / f"cms-swarm-{LAB}"
    saved = entry.read_text()
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    try:
        entry.write_text("\n".join(
            f"    UserKnownHostsFile {empty}" if "UserKnownHostsFile" in line else line
            for line in saved.splitlines()))
        done = docker(home, "node", "ls")
        assert done.returncode != 0
        assert "Host key verification failed" in done.stderr
    finally:
        entry.write_text(saved)


def test_use_makes_it_current(lab_inventory: Path, home: dict[str, str]) -> None:
    data = run_json(home, "context", "-i", str(lab_inventory), "--use")
    assert data["context"]["current"]
    config = json.loads((Path(home["HOME"]) / ".docker" / "config.json").read_text())
    assert config["currentContext"] == CONTEXT
    done = subprocess.run([DOCKER, "info", "--format", "{{.Swarm.Nodes}}"], check=False, capture_output=True,
                          text=True, timeout=120, env={**os.environ, **home})
    assert done.returncode == 0 and done.stdout.strip() == "3", done.stderr


def test_deploy_waits_until_every_service_runs(lab_inventory: Path, lab_exec, home: dict[str, str],  # type: ignore[no-untyped-def]
                                               tmp_path: Path) -> None:
    image = workload(lab_exec)
    compose = tmp_path / "compose.yml"
    compose.write_text(f"""\
version: "3.8"
services:
  web:
    image: {image}
    command: ["httpd", "-f", "-p", "8080", "-h", "/www"]
    deploy: {{replicas: 2}}
  tick:
    image: {image}
    command: ["sleep", "3600"]
""")
    override = tmp_path / "override.yml"
    override.write_text('version: "3.8"\nservices:\n  tick:\n    deploy: {mode: global}\n')
    data = run_json(home, "deploy", "demo", "-c", str(compose), "-c", str(override),
                    "-i", str(lab_inventory), "--resolve-image", "never", "--timeout", "180")
    assert data["converged"]
    services = {s["name"]: s for s in data["services"]}
    assert (services["demo_web"]["running"], services["demo_web"]["desired"]) == (2, 2)
    assert services["demo_tick"]["mode"] == "global"
    assert sorted(services["demo_tick"]["nodes"]) == sorted(HOSTS)
    done = docker(home, "service", "ls", "--format", "{{.Name}} {{.Replicas}}")
    assert sorted(done.stdout.splitlines()) == ["demo_tick 3/3", "demo_web 2/2"], done.stderr
    listed = run_json(home, "services", "-i", str(lab_inventory), "--stack", "demo")
    assert {s["name"] for s in listed["services"]} == {"demo_web", "demo_tick"}
    human = cms_swarm("services", "-i", str(lab_inventory), env=home)
    assert human.returncode == 0 and "demo_web" in human.stdout and "2/2" in human.stdout


def test_deploy_loads_image_archives_on_every_node(lab_inventory: Path, lab_exec,  # type: ignore[no-untyped-def]
                                                   home: dict[str, str], tmp_path: Path) -> None:
    """An image no node has and no registry serves: `--image-archive` brings it to all nodes."""
    rc, out = lab_exec("pi1", "docker tag cms-swarm-test:busybox cms-swarm-test:pushed && docker save "
                              "cms-swarm-test:pushed -o /tmp/pushed.tar && docker rmi cms-swarm-test:pushed")
    assert rc == 0, out
    archive = tmp_path / "pushed.tar"
    subprocess.run(["docker", "cp", f"cms-swarm-{LAB}-pi1:/tmp/pushed.tar", str(archive)], check=True,
                   timeout=120)
    lab_exec("pi1", "rm -f /tmp/pushed.tar")
    assert all(lab_exec(h, "docker image inspect cms-swarm-test:pushed")[0] != 0 for h in HOSTS)
    compose = tmp_path / "pushed.yml"
    compose.write_text('version: "3.8"\nservices:\n  every:\n    image: cms-swarm-test:pushed\n'
                       '    command: ["sleep", "3600"]\n    deploy: {mode: global}\n')
    data = run_json(home, "deploy", "pushed", "-c", str(compose), "--image-archive", str(archive),
                    "-i", str(lab_inventory), "--resolve-image", "never", "--timeout", "120")
    assert data["converged"] and sorted(data["services"][0]["nodes"]) == sorted(HOSTS)
    assert cms_swarm("deploy", "--rm", "pushed", "-i", str(lab_inventory), env=home).returncode == 0


def test_deploy_that_cannot_converge_names_the_task_error(lab_inventory: Path, home: dict[str, str],
                                                          tmp_path: Path) -> None:
    compose = tmp_path / "bad.yml"
    compose.write_text('version: "3.8"\nservices:\n  gone:\n    image: cms-swarm-test:missing\n')
    done = cms_swarm("deploy", "bad", "-c", str(compose), "-i", str(lab_inventory),
                     "--resolve-image", "never", "--timeout", "25", env=home)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "bad_gone: 0/1 running after 25 s; task on pi" in done.stderr
    assert "No such image" in done.stderr
    gone = cms_swarm("deploy", "--rm", "bad", "-i", str(lab_inventory), env=home)
    assert gone.returncode == 0 and "removed 1 service" in gone.stdout


def test_deploy_rm_removes_the_stack(lab_inventory: Path, home: dict[str, str]) -> None:
    data = run_json(home, "deploy", "--rm", "demo", "-i", str(lab_inventory))
    assert sorted(data["removed"]) == ["demo_tick", "demo_web"]
    eventually("the stack's services to go",
               lambda: docker(home, "service", "ls", "-q").stdout.strip() == "", 60)
    again = run_json(home, "deploy", "--rm", "demo", "-i", str(lab_inventory))
    assert again["removed"] == []


def test_context_follows_the_leader(lab_inventory: Path, lab_exec, home: dict[str, str]) -> None:  # type: ignore[no-untyped-def]
    """The leader's Docker stops: status moves the context to the new leader."""
    before = run_json(home, "status", "-i", str(lab_inventory))
    leader = before["swarm"]["leader"]
    assert before["context"]["host"].endswith(address(HOSTS.index(leader) + 1))
    rc, out = lab_exec(leader, "systemctl stop docker.socket docker")
    assert rc == 0, out
    try:
        def moved() -> bool:
            done = cms_swarm("status", "-i", str(lab_inventory), "--json", env=home)
            data = json.loads(done.stdout)
            jsonschema.validate(data, SCHEMA)
            return data["swarm"] is not None and data["swarm"]["leader"] not in (None, leader) \
                and not data["context"]["host"].endswith(address(HOSTS.index(leader) + 1))

        eventually("a new leader and the context on it", moved, 90)
        done = docker(home, "node", "ls", "--format", "{{.Hostname}}")
        assert done.returncode == 0 and sorted(done.stdout.split()) == sorted(HOSTS), done.stderr
    finally:
        lab_exec(leader, "systemctl start docker")
    eventually("all nodes ready again", lambda: cms_swarm(
        "status", "-i", str(lab_inventory), env=home).returncode == 0, 90)


@pytest.mark.parametrize("command", ["check", "install", "init", "verify", "status", "context"])
def test_every_command_json_validates(lab_inventory: Path, home: dict[str, str], command: str) -> None:
    data = run_json(home, command, "-i", str(lab_inventory))
    assert set(data["hosts"]) == set(HOSTS)
    assert not any(h["changed"] for h in data["hosts"].values()), data  # converged: no change


def test_backup_json_names_the_archive_and_its_sha256(lab_inventory: Path, home: dict[str, str],
                                                      tmp_path: Path) -> None:
    import hashlib

    out = tmp_path / "swarm.tar.gz"
    data = run_json(home, "backup", "-i", str(lab_inventory), "-o", str(out))
    assert data["backup"]["path"] == str(out)
    assert data["backup"]["sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()


def test_reset_json_validates(lab_inventory: Path, home: dict[str, str]) -> None:
    data = run_json(home, "reset", "-i", str(lab_inventory), "--dry-run")
    assert data["dry_run"] and all(h["steps"] for h in data["hosts"].values())
    data = run_json(home, "reset", "-i", str(lab_inventory))
    assert all(h["changed"] for h in data["hosts"].values())
