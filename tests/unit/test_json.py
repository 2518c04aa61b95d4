"""--json for every command that touches hosts: one document, valid against
docs/result.schema.json, on canned hosts (tests/integration/test_using.py does it on lab hosts)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import jsonschema
import pytest

from cloudmesh.swarm.actions import Extras, run_action
from cloudmesh.swarm.cli.main import COMMANDS
from cloudmesh.swarm.options import RunOptions
from cloudmesh.swarm.report import Reporter

from .harness import Lab, named_inventory

SCHEMA = json.loads((Path(__file__).parents[2] / "docs" / "result.schema.json").read_text())
RUN_ACTION = sorted(set(COMMANDS) - {"backup", "restore"} | {"context"})  # backup: test_using


@pytest.fixture(autouse=True)
def _home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CMS_SWARM_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


@pytest.mark.parametrize("command", RUN_ACTION)
@pytest.mark.parametrize("dry_run", [False, True])
def test_every_command_prints_one_valid_document(command: str, dry_run: bool) -> None:
    out, err, doc = io.StringIO(), io.StringIO(), io.StringIO()
    extras = Extras(targets=("pi2",), labels=("disk=ssd",))
    code = run_action(command, named_inventory(["pi1", "pi2", "pi3"]), RunOptions(dry_run=dry_run),
                      Reporter(file=err, err=err, json_file=doc), as_json=True,
                      connector=Lab().connect, extras=extras, skip_verify=True)
    assert out.getvalue() == ""  # human output went to the other stream
    data = json.loads(doc.getvalue())  # exactly one document
    jsonschema.validate(data, SCHEMA)
    assert data["command"] == command and data["exit_code"] == code and data["dry_run"] == dry_run
    assert set(data["hosts"]) == {"pi1", "pi2", "pi3"}
    for host in data["hosts"].values():
        assert host["ok"] or host["error"]
