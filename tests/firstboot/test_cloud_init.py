"""trixie first boot run for real: `image customize` on a synthetic trixie image, then cloud-init
itself (Debian trixie's 25.1.4, with pi-gen's NoCloud configuration) runs its four stages on the
boot partition in a chroot (conftest.py), twice, and what every later boot sees is checked:
`cloud-init status` done without errors, host name, user, password, keys, sudo, sshd, the
netplan Wi-Fi, time zone, cmdline.txt, and no hash or PSK left on the boot partition.

Not checked here: Raspberry Pi OS's own cloud-init renames the preseeded user 1000 for the
first user it creates (its downstream raspberry-pi-os distro); Debian's adds a second account."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from cloudmesh.swarm.image import synthetic
from cloudmesh.swarm.image.cryptpw import sha512_crypt
from cloudmesh.swarm.image.fat import Fat

from .conftest import FirstBoot, _chroot
from .test_firstrun import CASES as BOOKWORM_CASES
from .test_firstrun import _customize

pytestmark = [pytest.mark.integration, pytest.mark.firstboot]
# the bookworm cases but the one about imager_custom (not involved here)
CASES = {name: case for name, case in BOOKWORM_CASES.items() if "imager_custom" not in name}


def _status(pi: FirstBoot, ok: tuple[int, ...] = (0,)) -> dict[str, object]:
    out = _chroot(pi.root, ["cloud-init", "status", "--format", "json"], {}, ok=ok)
    data = json.loads(out[out.index("{"):])
    assert isinstance(data, dict)
    return data


@pytest.mark.parametrize("name", list(CASES))
def test_trixie_first_boot_with_cloud_init(name: str, cloud_init_boot: Callable[..., FirstBoot],
                                           tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    case = CASES[name]
    image = synthetic.build(tmp_path / "trixie.img", "cloud-init")
    _customize(image, tmp_path, case, monkeypatch, capsys)
    pi = cloud_init_boot(image, boots=2)  # first boot, then a later boot of the same instance
    status = _status(pi)
    assert status["status"] == "done" and status["errors"] == [], status
    assert not [e for e in status.get("recoverable_errors", {}).get("WARNING", [])  # type: ignore[attr-defined]
                if "schema" in e.lower() or "deprecat" in e.lower()], status
    _chroot(pi.root, ["cloud-init", "schema", "--system"], {})  # exit 0: valid
    user, ssid = str(case["user"]), str(case["ssid"])
    assert pi.read("/etc/hostname") == f"{case['hostname']}\n"
    assert f"127.0.1.1 {case['hostname']}" in pi.read("/etc/hosts")
    passwd = {line.split(":")[0]: line.split(":") for line in pi.read("/etc/passwd").splitlines()}
    home = pi.root / passwd[user][5].lstrip("/")
    groups = {line.split(":")[0]: line.split(":")[3].split(",") for line in pi.read("/etc/group").splitlines()}
    assert user in groups["sudo"]  # the default user's groups, merged under singular user:
    shadow = {line.split(":")[0]: line.split(":")[1] for line in pi.read("/etc/shadow").splitlines()}
    if case["password"]:
        salt = shadow[user].split("$")[2]
        assert sha512_crypt(str(case["password"]), salt) == shadow[user]
    else:
        assert shadow[user].startswith(("!", "*"))
    keys = (home / ".ssh/authorized_keys").read_text().splitlines()
    assert sorted(keys) == sorted(case["keys"])  # type: ignore[call-overload]  # cloud-init: a set
    assert "NOPASSWD:ALL" in pi.read("/etc/sudoers.d/90-cloud-init-users")
    assert os.path.lexists(pi.root / "etc/systemd/system/multi-user.target.wants/ssh.service")
    wanted = "yes" if case["password"] else "no"
    assert f"PasswordAuthentication {wanted}" in pi.read("/etc/ssh/sshd_config.d/50-cloud-init.conf")
    netplan = YAML(typ="safe").load(pi.read("/etc/netplan/50-cloud-init.yaml"))
    wlan = netplan["network"]["wifis"]["wlan0"]
    psk = hashlib.pbkdf2_hmac("sha1", b"wifi-pass-123", ssid.encode(), 4096, 32).hex()
    assert wlan["regulatory-domain"] == case["country"] and list(wlan["access-points"]) == [ssid]
    point = wlan["access-points"][ssid]
    assert point.get("hidden", False) is case["hidden"]
    assert psk in (point.get("password"), (point.get("auth") or {}).get("password"))
    _chroot(pi.root, ["netplan", "generate"], {})  # netplan itself accepts what cloud-init wrote
    assert pi.read("/etc/timezone") == f"{case['timezone']}\n"
    assert os.readlink(pi.root / "etc/localtime").endswith(f"zoneinfo/{case['timezone']}")
    words = (pi.boot / "cmdline.txt").read_text().split()
    assert [w for w in words if "regdom" in w] == [f"cfg80211.ieee80211_regdom={case['country']}"]
    assert "cgroup_enable=memory" in words and "cgroup_memory=1" in words
    for item in pi.boot.iterdir():  # the hash and the PSK are gone from the boot partition
        data = item.read_bytes()
        assert psk.encode() not in data and (not case["password"] or shadow[user].encode() not in data)


def test_enable_ssh_is_what_made_cloud_init_status_degraded(
        cloud_init_boot: Callable[..., FirstBoot], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    image = synthetic.build(tmp_path / "trixie.img", "cloud-init")
    _customize(image, tmp_path, CASES["key only, hidden Wi-Fi US"], monkeypatch, capsys)
    fat = Fat(image, 4 << 20)
    fat.write({"user-data": (fat.read("user-data") or b"") + b"enable_ssh: true\n"})
    status = _status(cloud_init_boot(image), ok=(2,))  # exit 2: done, but degraded
    assert "cloud-config failed schema validation" in json.dumps(status), status
