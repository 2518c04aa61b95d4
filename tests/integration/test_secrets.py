"""Run last (marker `last`, ordered by conftest.py): nothing any command printed or wrote in this run holds a password or a join token,
and every file the tool wrote is private (0600 files, 0700 directories)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from .cli import OUTPUTS
from .test_security import PASSWORD

pytestmark = [pytest.mark.integration, pytest.mark.last]


def test_no_secret_in_any_output_log_or_state_file(swarm_home: Path, lab_inventory: Path) -> None:
    assert len(OUTPUTS) > 20, "run with the whole integration suite"
    files = [p for p in swarm_home.rglob("*") if p.is_file()]
    assert any(p.suffix == ".log" for p in files)
    texts = [*OUTPUTS, *(p.read_text(errors="replace") for p in files)]
    for text in texts:
        assert "SWMTKN-1-" not in text
        assert PASSWORD not in text
    logs = [p.read_text() for p in files if p.suffix == ".log"]
    assert any("SWMTKN-***" in log or "JoinToken" in log for log in logs)  # joins were logged, masked
    assert not any("SWMKEY-1-" in log for log in logs)


def test_files_the_tool_wrote_are_private(swarm_home: Path, lab_inventory: Path) -> None:
    for path in swarm_home.rglob("*"):
        mode = stat.S_IMODE(path.stat().st_mode)
        if path.is_dir():
            assert mode == 0o700, f"{path} is {oct(mode)}"
        elif not path.name.endswith(".pub"):
            assert mode == 0o600, f"{path} is {oct(mode)}"
