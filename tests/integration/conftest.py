"""One lab of 3 fresh hosts for the whole integration run, made and removed through the CLI.

The lab has its own name and subnet, and all state (keys, inventory, logs) lives in a
temporary CMS_SWARM_HOME, so a user's own lab and files are never touched.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from .cli import cms_swarm

# CMS_SWARM_TEST_NET=N (0-49) gives this run its own lab "testN" on 10.77.(200+N).0/24, so two
# runs on one machine (e.g. two developers' sessions) do not tear down each other's hosts.
NET = int(os.environ.get("CMS_SWARM_TEST_NET", "0"))
LAB = f"test{NET}" if NET else "test"
SUBNET = f"10.77.{200 + NET}.0/24"
LAB_ARGS = ("--name", LAB, "--subnet", SUBNET)
Exec = Callable[[str, str], tuple[int, str]]
# Test workloads use an image made on the hosts like verify's own (no registry, nothing
# pre-loaded), under another tag so that verify's clean-up never takes it away.
WORKLOAD = "cms-swarm-test:busybox"


def workload(lab_exec: Exec, hosts: tuple[str, ...] = ("pi1", "pi2", "pi3")) -> str:
    """Make the test workload image on `hosts` (after install); its tag."""
    from cloudmesh.swarm.phases.verify import build_image_command

    for host in hosts:
        rc, out = lab_exec(host, build_image_command(WORKLOAD))
        assert rc == 0, f"{host}: {out}"
    return WORKLOAD


# What a test needs of the session's lab, in the order the run provides it: its hosts as
# `lab up` left them, then the swarm test_lifecycle makes of them (and leaves behind).
LAB_STATES = {"fresh": 0, "creates": 1, "swarm": 2}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "lab(state): what the test needs of the session's lab: "
                            "fresh hosts, to create the swarm, or the swarm; runs in that order")
    config.addinivalue_line("markers", "last: runs after every other test of the session, "
                            "because it checks what all of them printed and wrote")


def _rank(item: pytest.Item) -> int:
    if item.get_closest_marker("last") is not None:
        return len(LAB_STATES)
    marker = item.get_closest_marker("lab")
    return LAB_STATES[marker.args[0]] if marker is not None else 0


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Order by what each test needs (its `lab` marker), tests marked `last` at the end,
    whatever the files are called; stable, so tests with the same needs keep their order."""
    items.sort(key=_rank)


def address(index: int) -> str:
    """The bridge address of lab host pi<index>."""
    return f"10.77.{200 + NET}.{10 + index}"


@pytest.fixture(scope="session")
def swarm_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """CMS_SWARM_HOME, and HOME too: `create` writes a Docker context (~/.docker) and an ssh
    entry (~/.ssh/config), which must never land in the real home of whoever runs the tests."""
    home = tmp_path_factory.mktemp("cms-swarm-home")
    user_home = tmp_path_factory.mktemp("home")
    saved = {name: os.environ.get(name) for name in ("CMS_SWARM_HOME", "HOME", "DOCKER_CONFIG")}
    os.environ.update(CMS_SWARM_HOME=str(home), HOME=str(user_home))
    os.environ.pop("DOCKER_CONFIG", None)
    yield home
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture(scope="session")
def lab_inventory(swarm_home: Path) -> Iterator[Path]:
    """Path of the inventory `lab up 3` wrote for three fresh hosts pi1..pi3: air-gapped, their
    only route out the apt mirror, so every test shows that nothing needs a registry."""
    cms_swarm("lab", "down", *LAB_ARGS, timeout=120)  # leftovers of an interrupted run
    done = cms_swarm("lab", "up", "3", "--offline", *LAB_ARGS, timeout=600)
    assert done.returncode == 0, f"lab up failed: {done.stderr}"
    path = Path(done.stdout.strip().splitlines()[-1])
    assert path.is_file() and path.is_relative_to(swarm_home)
    yield path
    down = cms_swarm("lab", "down", *LAB_ARGS, timeout=300)
    assert down.returncode == 0, down.stderr


@pytest.fixture(scope="session")
def lab_exec(lab_inventory: Path) -> Exec:
    """Run a shell command as root on a lab host behind our back (docker exec, not SSH)."""

    def run(host: str, command: str) -> tuple[int, str]:
        done = subprocess.run(["docker", "exec", f"cms-swarm-{LAB}-{host}", "bash", "-c", command],
                              capture_output=True, text=True, timeout=120, check=False)
        return done.returncode, done.stdout + done.stderr

    return run


@pytest.fixture(autouse=True)
def _the_swarm(request: pytest.FixtureRequest) -> None:
    """A test marked lab("swarm") gets the swarm of pi1-pi3 whatever ran before it (alone, or
    after a test that reset it): `create --skip-verify` when a host is not in a swarm, a no-op
    check otherwise. The marker's order keeps this cheap in a whole run."""
    marker = request.node.get_closest_marker("lab")
    if marker is None or marker.args[0] != "swarm":
        return
    run: Exec = request.getfixturevalue("lab_exec")
    inventory: Path = request.getfixturevalue("lab_inventory")
    states = [run(host, "docker info --format '{{.Swarm.LocalNodeState}}' 2>/dev/null")[1].strip()
              for host in ("pi1", "pi2", "pi3")]
    if states != ["active"] * 3:
        done = cms_swarm("create", "-i", str(inventory), "--skip-verify", timeout=900)
        assert done.returncode == 0, f"the swarm for this test (hosts were {states}): {done.stdout}{done.stderr}"
