"""`check` on broken lab hosts: the right one-line message per host and exit 1, nothing changed."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from .cli import cms_swarm

pytestmark = [pytest.mark.integration, pytest.mark.lab("fresh")]

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


# Lab hosts share this machine's kernel clock, and setting it would change the machine's own
# time; so a lab host's "hardware clock" is this stand-in `date` (first in PATH) that adds an
# offset, and `date -u -s @T` sets that offset, as setting a real clock would.
FAKE_DATE = r"""#!/bin/sh
off=$(cat /var/lib/fake-clock-offset 2>/dev/null || echo 0)
if [ "$1" = "+%s.%N" ]; then exec /bin/date -d "@$(( $(/bin/date +%s) + off ))" +%s.%N; fi
if [ "$1" = "-u" ] && [ "$2" = "-s" ]; then echo $(( ${3#@} - $(/bin/date +%s) )) > /var/lib/fake-clock-offset; exit 0; fi
exec /bin/date "$@"
"""


def test_a_skewed_clock_fails_check_and_fix_clock_repairs_it(lab_inventory: Path, lab_exec) -> None:  # type: ignore[no-untyped-def]
    rc, out = lab_exec("pi2", f"cat > /usr/local/bin/date <<'EOF'\n{FAKE_DATE}EOF\n"
                       "chmod 755 /usr/local/bin/date && echo 600 > /var/lib/fake-clock-offset")
    assert rc == 0, out
    try:
        skewed = cms_swarm("check", "-i", str(lab_inventory))
        assert skewed.returncode == 1
        assert re.search(r"pi2: problem: clock is \+(599|600|601) s off this machine's; swarm TLS fails "
                         r"on skew", skewed.stderr)  # the stand-in has whole seconds
        assert "--fix-clock" in skewed.stderr and "pi1: problem" not in skewed.stderr
        fixed = cms_swarm("check", "-i", str(lab_inventory), "--fix-clock")
        assert fixed.returncode == 0, fixed.stdout + fixed.stderr
        assert re.search(r"pi2: set the clock from this machine \(\+(599|600|601) s off\)", fixed.stdout)
        _, offset = lab_exec("pi2", "cat /var/lib/fake-clock-offset")
        assert abs(int(offset)) <= 2
        assert cms_swarm("check", "-i", str(lab_inventory)).returncode == 0
    finally:
        lab_exec("pi2", "rm -f /usr/local/bin/date /var/lib/fake-clock-offset")


def test_hostname_gives_every_pi_its_inventory_name(lab_inventory: Path, lab_exec) -> None:  # type: ignore[no-untyped-def]
    try:
        for host in ("pi2", "pi3"):  # both born `raspberrypi`, as Pis are
            rc, out = lab_exec(host, "hostname raspberrypi && echo raspberrypi > /etc/hostname")
            assert rc == 0, out
        duplicate = cms_swarm("check", "-i", str(lab_inventory))
        assert duplicate.returncode == 1 and "hostname 'raspberrypi' is also used by" in duplicate.stderr
        dry = cms_swarm("hostname", "-i", str(lab_inventory), "--dry-run")
        assert "pi2: would set hostname raspberrypi -> pi2" in dry.stdout
        done = cms_swarm("hostname", "-i", str(lab_inventory))
        assert done.returncode == 0, done.stdout + done.stderr
        for host in ("pi2", "pi3"):
            _, names = lab_exec(host, "hostname; cat /etc/hostname; awk '$1 == \"127.0.1.1\" {print $2}' /etc/hosts")
            assert names.split() == [host, host, host]
        assert cms_swarm("check", "-i", str(lab_inventory)).returncode == 0
        again = cms_swarm("hostname", "-i", str(lab_inventory))
        assert again.returncode == 0 and "nothing changed" in again.stdout
    finally:  # the names the later tests expect, whatever failed (two `raspberrypi` fail check)
        for host in ("pi2", "pi3"):
            lab_exec(host, f"hostname {host} && echo {host} > /etc/hostname")
