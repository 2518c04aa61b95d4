"""The facts probe as files of the package (cloudmesh.swarm.probe): assembled into one
script, shipped in the wheel, and each group's commands (GROUP.sh) parsed by the module of
the same name (GROUP.py), which declares the sections it reads."""

from __future__ import annotations

import importlib
import re
import subprocess
from fnmatch import fnmatch
from importlib.resources import files
from pathlib import Path

import pytest

from cloudmesh.swarm import probe
from cloudmesh.swarm.facts import PROBE_SCRIPT, parse_facts, split_sections

from .probes import node_row, swarm_info
from .probes import probe as probe_output

ROOT = Path(__file__).parents[2]
RECORDED = sorted((ROOT / "tests/unit/data/facts").rglob("*.txt"))
PRINTS = re.compile(r'^sec ([a-z0-9-]+)|^sec\("([a-z0-9-]+)"\)', re.MULTILINE)


def _printed(text: str) -> set[str]:
    return {shell or python for shell, python in PRINTS.findall(text)}


def _program(name: str) -> str:
    return files("cloudmesh.swarm.probe").joinpath(name).read_text(encoding="utf-8")


def test_probe_sh_has_one_marker_per_group_and_the_script_none_left() -> None:
    assert sorted(probe.MARKER.findall(_program("probe.sh"))) == sorted(g.upper() for g in probe.GROUPS)
    assert "@" not in PROBE_SCRIPT.replace("'${h:-$HOME}", "")  # no marker, no @SOCKET@ left
    assert PROBE_SCRIPT is probe.SCRIPT  # read once, at import


def test_the_script_is_valid_sh_without_the_files_comments() -> None:
    subprocess.run(["sh", "-n", "-c", PROBE_SCRIPT], check=True, timeout=10)
    assert not [line for line in PROBE_SCRIPT.splitlines() if line.startswith("#")]
    assert "/var/run/docker.sock" in PROBE_SCRIPT


@pytest.mark.parametrize("group", probe.GROUPS)
def test_each_group_is_parsed_by_the_module_named_after_it(group: str) -> None:
    """A section added to GROUP.sh must be declared (and parsed) in GROUP.py, and back."""
    module = importlib.import_module(f"cloudmesh.swarm.probe.{group}")
    printed = _printed(_program(f"{group}.sh"))
    if group == "engine":
        printed |= _printed(_program("engine.py.in"))
    assert printed == set(module.SECTIONS)


def _swarm_host() -> str:
    nodes = [node_row("n1", "pi1", manager="Leader")]
    return probe_output(docker="20.10.24", swarm=swarm_info("n1", manager=True), nodes=nodes,
                        labels={"n1": {"zone": "a"}})


@pytest.mark.parametrize("section", sorted(
    name for group in probe.GROUPS
    for name in importlib.import_module(f"cloudmesh.swarm.probe.{group}").SECTIONS))
def test_every_declared_section_changes_the_facts(section: str) -> None:
    """Dropping the section from a recorded output (that has it) changes what is parsed."""
    outputs = [path.read_text() for path in RECORDED] + [_swarm_host()]
    outputs += [probe_output(extra={section: path.read_text()})  # recorded single sections
                for path in sorted((ROOT / "tests/unit/data" / section).glob("*"))]
    having = [text for text in outputs if split_sections(text).get(section, "").strip()]
    assert having, f"no recorded output shows {section}"
    for text in having:
        body = split_sections(text)[section]
        dropped = text.replace(f"=== {section} ===\n{body}\n", f"=== {section} ===\n", 1)
        if dropped != text and parse_facts(dropped) != parse_facts(text):
            return
    pytest.fail(f"section {section} is printed but no parser reads it")


def test_every_program_file_ships_in_the_wheel() -> None:
    """pyproject's package-data globs cover each file the probe reads (else an installed
    cms-swarm would fail at import, while the editable install in this tree works)."""
    found = re.search(r'^\[tool\.setuptools\.package-data\]\n"cloudmesh\.swarm" = \[(.*)\]$',
                      (ROOT / "pyproject.toml").read_text(), re.MULTILINE)  # no tomllib on 3.10
    assert found, "pyproject.toml has no package-data for cloudmesh.swarm"
    globs = re.findall(r'"([^"]+)"', found.group(1))
    folder = Path(probe.__file__).parent
    shipped = [path.name for path in folder.iterdir() if path.suffix != ".py" and path.is_file()]
    assert sorted(shipped) == sorted(["probe.sh", "engine.py.in", *(f"{g}.sh" for g in probe.GROUPS)])
    for name in shipped:
        assert any(fnmatch(f"probe/{name}", glob) for glob in globs), name
