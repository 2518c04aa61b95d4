"""`check` on broken lab hosts: the right one-line message per host and exit 1, nothing changed."""

from __future__ import annotations

from pathlib import Path

import pytest

from .cli import cms_swarm

pytestmark = pytest.mark.integration

SUDOERS = "/etc/sudoers.d/010_pi-nopasswd"


def test_check_passes_on_fresh_hosts(lab_inventory: Path) -> None:
    done = cms_swarm("check", "-i", str(lab_inventory))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "pi1: Check hosts: all checks passed" in done.stdout


def test_check_without_passwordless_sudo_fails_naming_the_host(lab_inventory: Path, lab_exec) -> None:  # type: ignore[no-untyped-def]
    rc, out = lab_exec("pi3", f"mv {SUDOERS} /root/sudoers.saved")
    assert rc == 0, out
    try:
        done = cms_swarm("check", "-i", str(lab_inventory))
    finally:
        lab_exec("pi3", f"mv /root/sudoers.saved {SUDOERS}")
    assert done.returncode == 1
    assert "pi3: problem: sudo needs a password for user 'pi'" in done.stderr
    assert "--ask-become-pass" in done.stderr
    assert "pi1: problem" not in done.stderr and "pi2: problem" not in done.stderr


def test_check_with_a_duplicate_hostname_fails_with_a_hint(lab_inventory: Path, lab_exec) -> None:  # type: ignore[no-untyped-def]
    rc, out = lab_exec("pi3", "hostname pi2")
    assert rc == 0, out
    try:
        done = cms_swarm("check", "-i", str(lab_inventory))
    finally:
        lab_exec("pi3", "hostname pi3")
    assert done.returncode == 1
    assert "pi3: problem: hostname 'pi2' is also used by pi2" in done.stderr
    assert "pi2: problem: hostname 'pi2' is also used by pi3" in done.stderr
    assert "hostnamectl set-hostname pi3" in done.stderr
