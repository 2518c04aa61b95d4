"""bookworm first boot run for real: `image customize` on a synthetic bookworm image, then
firstboot's cmdline edits and firstrun.sh as root in an arm64 chroot with Raspberry Pi's own
imager_custom, raspi-config, userconf and cancel-rename (see conftest.py), then what every
later boot sees: hostname, user 1000, password, keys, sshd, Wi-Fi profile, time zone,
cmdline.txt, and nothing secret left on the boot partition."""

from __future__ import annotations

import configparser
import hashlib
import io
import os
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from cloudmesh.swarm.cli.main import main
from cloudmesh.swarm.image import synthetic
from cloudmesh.swarm.image.cryptpw import sha512_crypt

from .conftest import FirstBoot

pytestmark = [pytest.mark.integration, pytest.mark.firstboot]
KEYS = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPwlazPtRTVCesOpSdGGQ7DUDF3A2EwgLxDSjMQHtDlr ada@lab",
        ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeFakeFakeFakeFakeFakeFakeFakeFakeFakeFake "
         "odd \\n$(touch /tmp/pwned) 'quoted' ünï")]
CASES: dict[str, dict[str, object]] = {
    "password, visible Wi-Fi DE": {"hostname": "red01", "user": "ada", "password": "correct horse 9",
                                   "ssid": "lab net", "country": "DE", "hidden": False,
                                   "timezone": "Europe/Berlin", "keys": KEYS[:1]},
    "key only, hidden Wi-Fi US": {"hostname": "blue02", "user": "pi", "password": None,
                                  "ssid": 'Café "$HOME" #1: x', "country": "US", "hidden": True,
                                  "timezone": "America/New_York", "keys": KEYS},
    "SSID imager_custom cannot write": {"hostname": "green3", "user": "bob", "password": None,
                                        "ssid": "back\\slash; x ", "country": "DE", "hidden": False,
                                        "timezone": None, "keys": KEYS[1:]},
}


def _customize(image: Path, tmp: Path, case: dict[str, object],
               monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    keyfile = tmp / "keys.pub"
    keyfile.write_text("\n".join(case["keys"]) + "\n")  # type: ignore[arg-type]
    args = ["image", "customize", str(image), "--hostname", str(case["hostname"]),
            "--user", str(case["user"]), "--ssh-key", str(keyfile),
            "--wifi-ssid", str(case["ssid"]), "--wifi-country", str(case["country"]).lower(),
            "--wifi-password-stdin"]
    stdin = ""
    if case["password"]:
        args.append("--password-stdin")
        stdin = f"{case['password']}\n"
    stdin += "wifi-pass-123\n"
    if case["hidden"]:
        args.append("--wifi-hidden")
    if case["timezone"]:
        args += ["--timezone", str(case["timezone"])]
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    code = main(args)
    out = capsys.readouterr()
    assert code == 0, out.err


@pytest.mark.parametrize("name", list(CASES))
def test_bookworm_first_boot_with_raspberry_pis_scripts(
        name: str, first_boot: Callable[[Path], FirstBoot], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    case = CASES[name]
    image = synthetic.build(tmp_path / "bookworm.img", "firstrun")
    _customize(image, tmp_path, case, monkeypatch, capsys)
    pi = first_boot(image)
    user, ssid = str(case["user"]), str(case["ssid"])
    # host name, /etc/hosts
    assert pi.read("/etc/hostname") == f"{case['hostname']}\n"
    assert f"127.0.1.1\t{case['hostname']}" in pi.read("/etc/hosts")
    # user 1000 renamed, home moved, groups and sudo kept
    passwd = {line.split(":")[0]: line.split(":") for line in pi.read("/etc/passwd").splitlines()}
    assert passwd[user][2] == "1000" and passwd[user][5] == f"/home/{user}"
    assert [n for n, f in passwd.items() if f[2] == "1000"] == [user]
    assert (pi.root / "home" / user).is_dir()
    groups = {line.split(":")[0]: line.split(":")[3].split(",") for line in pi.read("/etc/group").splitlines()}
    assert all(user in groups[g] for g in ("sudo", "adm", "gpio", "video", "netdev"))
    assert pi.read("/etc/sudoers.d/010_pi-nopasswd").startswith(f"{user} ")
    # password: verifies, or locked for key-only
    shadow = {line.split(":")[0]: line.split(":")[1] for line in pi.read("/etc/shadow").splitlines()}
    if case["password"]:
        salt = shadow[user].split("$")[2]
        assert sha512_crypt(str(case["password"]), salt) == shadow[user]
    else:
        assert shadow[user] == "*"
    # keys, byte for byte, one per line; the comment's \n and $(...) stay text
    keys = pi.root / "home" / user / ".ssh/authorized_keys"
    assert keys.read_text().splitlines() == case["keys"]
    assert keys.stat().st_uid == 1000 and keys.stat().st_mode & 0o777 == 0o600
    assert not Path("/tmp/pwned").exists()
    # sshd enabled, password login as chosen
    assert os.path.lexists(pi.root / "etc/systemd/system/multi-user.target.wants/ssh.service")
    sshd = pi.read("/etc/ssh/sshd_config")
    wanted = "yes" if case["password"] else "no"
    assert f"\nPasswordAuthentication {wanted}\n" in sshd
    # NetworkManager's profile (imager_custom set_wlan, or ours for SSIDs it would mangle)
    profile = pi.root / "etc/NetworkManager/system-connections/preconfigured.nmconnection"
    assert profile.stat().st_mode & 0o777 == 0o600
    nm = configparser.ConfigParser(interpolation=None)
    nm.read_string(profile.read_text())
    raw = nm["wifi"]["ssid"]
    got = bytes(int(b) for b in raw.rstrip(";").split(";")).decode() if raw.endswith(";") else raw
    assert got == ssid
    assert nm["wifi"]["hidden"] == ("true" if case["hidden"] else "false")
    psk = hashlib.pbkdf2_hmac("sha1", b"wifi-pass-123", ssid.encode(), 4096, 32).hex()
    assert nm["wifi-security"]["psk"] == psk and nm["wifi-security"]["key-mgmt"] == "wpa-psk"
    assert len(nm["connection"]["uuid"]) == 36
    # time zone
    if case["timezone"]:
        assert pi.read("/etc/timezone") == f"{case['timezone']}\n"
        assert os.readlink(pi.root / "etc/localtime").endswith(f"zoneinfo/{case['timezone']}")
    # every later boot: no hook, no init=, cgroup flags and the regulatory domain kept
    words = (pi.boot / "cmdline.txt").read_text().split()
    assert not [w for w in words if w.startswith(("systemd.", "init="))] and "quiet" not in words
    assert "cgroup_enable=memory" in words and "cgroup_memory=1" in words
    assert [w for w in words if "regdom" in w] == [f"cfg80211.ieee80211_regdom={case['country']}"]
    assert (pi.boot / "cmdline.txt").read_text().count("\n") == 1
    # nothing secret left on the boot partition
    assert not (pi.boot / "firstrun.sh").exists() and not (pi.boot / "userconf.txt").exists()
    for item in pi.boot.iterdir():
        data = item.read_bytes()
        assert psk.encode() not in data and (not case["password"] or shadow[user].encode() not in data)
