"""Bad input exits 2 with one line naming the field, before any host is contacted."""

from __future__ import annotations

from pathlib import Path

import pytest

from .cli import cms_swarm
from .conftest import address

pytestmark = pytest.mark.integration


def test_a_malformed_inventory_exits_2_and_touches_no_host(lab_inventory: Path, lab_exec,  # type: ignore[no-untyped-def]
                                                            tmp_path: Path) -> None:
    text = lab_inventory.read_text().replace(f"address: {address(2)}", f"address: {address(2)}; reboot")
    bad = tmp_path / "bad.yaml"
    bad.write_text(text)
    _, before = lab_exec("pi1", "journalctl -u ssh --no-pager -q | grep -c Accepted || true")
    done = cms_swarm("create", "-i", str(bad), env={"CMS_SWARM_HOME": str(tmp_path / "home")})
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {bad}:")
    assert "hosts.1.address" in lines[0]
    assert not (tmp_path / "home" / "logs").exists()
    _, after = lab_exec("pi1", "journalctl -u ssh --no-pager -q | grep -c Accepted || true")
    assert after == before
