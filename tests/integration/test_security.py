"""Security on lab hosts: key bootstrap with a password once, harden sshd, pinned host keys,
token rotation, autolock and unlock. Needs the 3-manager swarm test_lifecycle makes (lab("swarm"));
every test puts its host back as it found it.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import stat
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import asyncssh
import pytest

from .cli import CMS_SWARM, OUTPUTS, cms_swarm, eventually
from .conftest import Exec, address

pytestmark = [pytest.mark.integration, pytest.mark.lab("swarm")]

PASSWORD = "Lab-Pass-93-never-logged"


def can_log_in_with_password(host_address: str, password: str) -> bool:
    async def attempt() -> bool:
        try:
            conn = await asyncssh.connect(host_address, username="pi", password=password,
                                          known_hosts=None, client_keys=None, agent_path=None,
                                          preferred_auth="password,keyboard-interactive",
                                          connect_timeout=10)
        except asyncssh.PermissionDenied:
            return False
        conn.close()
        await conn.wait_closed()
        return True

    return asyncio.run(asyncio.wait_for(attempt(), 30))


def sshd_effective(lab_exec: Exec, host: str) -> dict[str, str]:
    _, out = lab_exec(host, "sshd -T | grep -Ei '^(passwordauthentication|permitrootlogin) '")
    return dict(line.split() for line in out.splitlines())


@pytest.fixture()
def pi3_with_password(lab_exec: Exec, lab_inventory: Path) -> Iterator[None]:
    """pi3 as a fresh Pi with password login: a password for pi, no authorized key."""
    rc, out = lab_exec("pi3", f"echo 'pi:{PASSWORD}' | chpasswd && mkdir -p /root/saved "
                       "&& mv /etc/ssh/sshd_config.d/lab.conf /root/saved/ "
                       "&& mv /home/pi/.ssh/authorized_keys /root/saved/ && systemctl reload ssh")
    assert rc == 0, out
    wait_for_sshd(lab_exec, "pi3")
    yield
    lab_exec("pi3", "rm -f /etc/ssh/sshd_config.d/00-cms-swarm.conf; "
             "mv /root/saved/lab.conf /etc/ssh/sshd_config.d/; "
             "mv /root/saved/authorized_keys /home/pi/.ssh/; passwd -l pi; systemctl reload ssh")
    wait_for_sshd(lab_exec, "pi3")


def wait_for_sshd(lab_exec: Exec, host: str) -> None:
    """sshd re-executes on reload and does not listen for a moment."""
    time.sleep(0.3)  # the reload has not yet taken the old listener away
    eventually(f"sshd listening on {host} again", lambda: lab_exec(host, "ss -Hltnp | grep sshd"),
               seconds=10, interval=0.1, until=lambda seen: seen[0] == 0)


def one_host_inventory(lab_inventory: Path, tmp_path: Path, host: str, index: int) -> Path:
    """Inventory for one lab host with a key that does not exist yet."""
    known = tmp_path / "known_hosts"
    shutil.copy(lab_inventory.parent / "known_hosts", known)
    path = tmp_path / "one.yaml"
    path.write_text(f"name: keys-test\nssh:\n  user: pi\n  key: {tmp_path / 'id_ed25519'}\n"
                    f"  known_hosts: {known}\nhosts:\n  - name: {host}\n    address: {address(index)}\n")
    return path


def test_keys_then_harden_then_undo(pi3_with_password: None, lab_exec: Exec, lab_inventory: Path,
                                    tmp_path: Path) -> None:
    inventory = one_host_inventory(lab_inventory, tmp_path, "pi3", 3)
    assert can_log_in_with_password(address(3), PASSWORD)

    no_tty = cms_swarm("keys", "-i", str(inventory))
    assert no_tty.returncode == 2 and "--password-stdin" in no_tty.stderr

    wrong = cms_swarm("keys", "-i", str(inventory), "--password-stdin", stdin="not-it\n")
    assert wrong.returncode == 1
    assert "pi3: SSH login as 'pi' was refused (the password was refused)" in wrong.stderr
    assert "made a new ed25519 key pair" in wrong.stderr  # made before any host is contacted

    done = cms_swarm("keys", "-i", str(inventory), "--password-stdin", stdin=PASSWORD + "\n")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"pi3: key login with {tmp_path / 'id_ed25519'} verified" in done.stdout
    assert stat.S_IMODE((tmp_path / "id_ed25519").stat().st_mode) == 0o600
    _, keys = lab_exec("pi3", "cat /home/pi/.ssh/authorized_keys; stat -c %a /home/pi/.ssh/authorized_keys")
    assert (tmp_path / "id_ed25519.pub").read_text().split()[1] in keys and keys.split()[-1] == "600"

    again = cms_swarm("keys", "-i", str(inventory), "--password-stdin", stdin="not-needed-now\n")
    assert again.returncode == 0 and "nothing changed" in again.stdout  # the key logs in first

    dry = cms_swarm("harden", "-i", str(inventory), "--dry-run")
    assert dry.returncode == 0 and "pi3: would write /etc/ssh/sshd_config.d/00-cms-swarm.conf" in dry.stdout
    assert can_log_in_with_password(address(3), PASSWORD)

    hardened = cms_swarm("harden", "-i", str(inventory))
    assert hardened.returncode == 0, hardened.stdout + hardened.stderr
    assert sshd_effective(lab_exec, "pi3") == {"passwordauthentication": "no", "permitrootlogin": "no"}
    assert not can_log_in_with_password(address(3), PASSWORD)
    status = cms_swarm("status", "-i", str(inventory))  # key login still works
    assert "pi3" in status.stdout and "unreachable" not in status.stdout
    twice = cms_swarm("harden", "-i", str(inventory))
    assert twice.returncode == 0 and "password and root login already off" in twice.stdout

    undone = cms_swarm("harden", "-i", str(inventory), "--undo")
    assert undone.returncode == 0, undone.stdout + undone.stderr
    assert can_log_in_with_password(address(3), PASSWORD)
    assert sshd_effective(lab_exec, "pi3")["passwordauthentication"] == "yes"


def test_a_regenerated_host_key_is_refused_with_both_fingerprints(lab_exec: Exec,
                                                                  lab_inventory: Path) -> None:
    rc, out = lab_exec("pi2", "mkdir -p /root/hostkeys && cp -a /etc/ssh/ssh_host_* /root/hostkeys/ "
                       "&& rm /etc/ssh/ssh_host_* && ssh-keygen -A >/dev/null && systemctl restart ssh")
    assert rc == 0, out
    wait_for_sshd(lab_exec, "pi2")
    try:
        done = cms_swarm("status", "-i", str(lab_inventory))
    finally:
        lab_exec("pi2", "cp -a /root/hostkeys/* /etc/ssh/ && systemctl restart ssh")
        wait_for_sshd(lab_exec, "pi2")
    assert done.returncode == 1
    line = next(l for l in done.stderr.splitlines() if l.startswith("pi2:"))
    assert re.search(rf"host key of {address(2)} has CHANGED: known SHA256:\S+, offered SHA256:\S+", line)
    assert f"ssh-keygen -f {lab_inventory.parent / 'known_hosts'} -R '{address(2)}'" in line
    assert "pi1:" not in done.stderr and "pi3:" not in done.stderr
    after = cms_swarm("status", "-i", str(lab_inventory))  # the old key back: trusted again
    assert after.returncode == 0, after.stderr


def test_rotate_tokens_changes_both_and_shows_neither(lab_exec: Exec, lab_inventory: Path) -> None:
    def tokens() -> tuple[str, str]:
        _, worker = lab_exec("pi1", "docker swarm join-token -q worker")
        _, manager = lab_exec("pi1", "docker swarm join-token -q manager")
        return worker.strip(), manager.strip()

    before = tokens()
    dry = cms_swarm("rotate-tokens", "-i", str(lab_inventory), "--dry-run")
    assert dry.returncode == 0 and "would rotate the worker and manager join tokens" in dry.stdout
    assert tokens() == before
    done = cms_swarm("rotate-tokens", "-i", str(lab_inventory))
    assert done.returncode == 0, done.stdout + done.stderr
    after = tokens()
    assert after[0] != before[0] and after[1] != before[1]
    assert "SWMTKN-" not in done.stdout + done.stderr


def test_autolock_shows_the_key_once_and_unlock_uses_it(lab_exec: Exec, lab_inventory: Path) -> None:
    done = cms_swarm("create", "-i", str(lab_inventory), "--autolock", "--skip-verify")
    try:
        assert done.returncode == 0, done.stdout + done.stderr
        _, key = lab_exec("pi1", "docker swarm unlock-key -q")
        key = key.strip()
        assert key.startswith("SWMKEY-") and done.stdout.count(key) == 1
        assert "store this key safely" in done.stderr
        again = cms_swarm("create", "-i", str(lab_inventory), "--autolock", "--skip-verify")
        assert again.returncode == 0 and "autolock already on" in again.stdout and key not in again.stdout

        _rc, out = lab_exec("pi2", "systemctl restart docker && docker info --format '{{.Swarm.LocalNodeState}}'")
        assert out.strip() == "locked", out
        status = cms_swarm("status", "-i", str(lab_inventory), "--json")
        states = {n["host"]: n["state"] for n in json.loads(status.stdout)["nodes"]}
        assert status.returncode == 1 and states["pi2"] == "locked"

        wrong = cms_swarm("unlock", "-i", str(lab_inventory), "--unlock-key-stdin",
                          stdin="SWMKEY-1-wrongwrongwrongwrongwrongwrongwrongwrong\n")
        assert wrong.returncode == 1 and "pi2: unlock the swarm on this manager" in wrong.stderr
        unlocked = cms_swarm("unlock", "-i", str(lab_inventory), "--unlock-key-stdin", stdin=key + "\n")
        assert unlocked.returncode == 0, unlocked.stdout + unlocked.stderr
        assert "pi1: Unlock managers: not locked (active)" in unlocked.stdout
        _, state = lab_exec("pi2", "docker info --format '{{.Swarm.LocalNodeState}}'")
        assert state.strip() == "active"
        for text in (wrong.stdout + wrong.stderr, unlocked.stdout + unlocked.stderr):
            assert key not in text and "SWMKEY-1-wrong" not in text
    finally:
        lab_exec("pi1", "docker swarm update --autolock=false >/dev/null")


def test_no_docker_api_on_tcp(lab_exec: Exec, lab_inventory: Path) -> None:
    for host in ("pi1", "pi2", "pi3"):
        rc, out = lab_exec(host, "ss -Hltn")
        assert rc == 0 and not re.search(r":237[56]\b", out), f"{host} listens on a Docker TCP port"


def cms_swarm_no_tty(*args: str, stdin: str) -> subprocess.CompletedProcess[str]:
    """The CLI in a new session (no controlling terminal): a prompt reads stdin."""
    done = subprocess.run([CMS_SWARM, *args], capture_output=True, text=True, timeout=300,
                          input=stdin, start_new_session=True, check=False)
    OUTPUTS.append(done.stdout + done.stderr)
    return done


def test_become_password_reaches_only_a_sudo_that_asks(lab_exec: Exec, lab_inventory: Path,
                                                       tmp_path: Path) -> None:
    """Issue 12 item 3 on real sudo: pi2's sudo needs no password (Pi OS's first user), so the
    password must not become the drop-in harden writes there; pi3's sudo asks, and gets it."""
    sudoers = "/etc/sudoers.d/010_pi-nopasswd"
    rc, out = lab_exec("pi3", f"mkdir -p /root/saved && mv {sudoers} /root/saved/ "
                       f"&& echo 'pi:{PASSWORD}' | chpasswd")
    assert rc == 0, out
    try:
        pi3 = one_host_inventory(lab_inventory, tmp_path, "pi3", 3)
        pi3.write_text(pi3.read_text().replace(f"key: {tmp_path / 'id_ed25519'}",
                                               f"key: {lab_inventory.parent / 'id_ed25519'}"))
        checked = cms_swarm_no_tty("check", "-i", str(pi3), "--ask-become-pass", stdin=PASSWORD + "\n")
        assert checked.returncode == 0, checked.stdout + checked.stderr  # sudo -k -S got it
        assert "pi3: Check hosts: all checks passed" in checked.stdout
    finally:
        lab_exec("pi3", f"mv /root/saved/010_pi-nopasswd {sudoers}; passwd -l pi")
    inventory = tmp_path / "pi2.yaml"
    inventory.write_text(pi3.read_text().replace("name: pi3", "name: pi2")
                         .replace(address(3), address(2)))
    try:
        hardened = cms_swarm_no_tty("harden", "-i", str(inventory), "--ask-become-pass",
                                    stdin=PASSWORD + "\n")
        assert hardened.returncode == 0, hardened.stdout + hardened.stderr
        _, drop_in = lab_exec("pi2", "cat /etc/ssh/sshd_config.d/00-cms-swarm.conf")
        assert drop_in.startswith("# written by cms-swarm harden") and PASSWORD not in drop_in
    finally:
        undone = cms_swarm("harden", "-i", str(inventory), "--undo")
        assert undone.returncode == 0, undone.stdout + undone.stderr
