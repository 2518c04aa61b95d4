"""Pure parts of `image`: crypt and PSK vectors, MBR, settings validation, rendered files."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from cloudmesh.swarm.image import customize, mbr
from cloudmesh.swarm.image.cryptpw import sha512_crypt, wpa_psk
from cloudmesh.swarm.image.errors import ImageInputError

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPwlazPtRTVCesOpSdGGQ7DUDF3A2EwgLxDSjMQHtDlr me@host"


def test_sha512_crypt_matches_the_published_vectors() -> None:
    assert sha512_crypt("Hello world!", "saltstring") == (
        "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdc"
        "bYEdFCoEOfaS35inz1")
    assert sha512_crypt("Hello world!", "saltstringsaltstring", rounds=10000) == (
        "$6$rounds=10000$saltstringsaltst$OW1/O6BYHV6BcXZu8QVeXbDWra3Oeqh0sbHbbMCVNSnCM/UrjmM0"
        "Dp8vOuZeHBy/YTBmSK6H9qs/y3RnOaw5v.")
    made = sha512_crypt("pw")
    assert made.startswith("$6$") and len(made.split("$")[2]) == 16 and made != sha512_crypt("pw")


def test_wpa_psk_matches_ieee_802_11i_vector() -> None:
    assert wpa_psk("IEEE", "password") == (
        "f42c6fc52df0ebef9ebb4b90b38a5f902e83fe1b135a70e23aed762e9710a12e")


def test_mbr_round_trip_and_resize() -> None:
    parts = [mbr.Partition(1, 0x0C, 8192, 1024), mbr.Partition(2, 0x83, 9216, 5000)]
    sector = mbr.build(parts, 0xABCD1234)
    table = mbr.parse(sector)
    assert table.kind == "mbr" and table.disk_id == 0xABCD1234
    assert [(p.start_sector, p.sectors, p.type_id) for p in table.partitions] == [
        (8192, 1024, 0x0C), (9216, 5000, 0x83)]
    assert table.last() == table.partitions[1] and table.end == (9216 + 5000) * 512
    smaller = mbr.parse(mbr.with_size(sector, 2, 100))
    assert smaller.partitions[1].sectors == 100 and smaller.partitions[0] == table.partitions[0]
    assert mbr.parse(bytes(512)).kind == "none"
    gpt = bytearray(sector)
    gpt[446 + 4] = 0xEE
    assert mbr.parse(bytes(gpt)).kind == "gpt"


def _settings(**changes: object) -> customize.Settings:
    values: dict[str, object] = {"hostname": "red01", "user": "pi", "password_hash": None,
                                 "ssh_keys": [KEY], "wifi_ssid": None, "wifi_psk": None,
                                 "wifi_country": None, "timezone": None}
    values.update(changes)
    return customize.settings(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(("changes", "field"), [
    ({"hostname": "bad_name"}, "--hostname"),
    ({"hostname": "-x"}, "--hostname"),
    ({"hostname": "a" * 64}, "--hostname"),
    ({"user": "Root"}, "--user"),
    ({"user": "root"}, "--user"),
    ({"ssh_keys": ["not a key"]}, "--ssh-key"),
    ({"ssh_keys": []}, "--ssh-key"),
    ({"wifi_ssid": "net", "wifi_psk": "0" * 64}, "--wifi-country"),
    ({"wifi_ssid": "n" * 33, "wifi_psk": "0" * 64, "wifi_country": "DE"}, "--wifi-ssid"),
    ({"wifi_ssid": "net", "wifi_psk": "0" * 64, "wifi_country": "DEU"}, "--wifi-country"),
    ({"wifi_country": "DE"}, "--wifi-country"),
    ({"timezone": "Mars/Olympus"}, "--timezone"),
    ({"timezone": "../etc/passwd"}, "--timezone"),
    ({"hostname": "red01\n"}, "--hostname"),
    ({"user": "ada\n"}, "--user"),
    ({"timezone": "UTC\n"}, "--timezone"),
    ({"ssh_keys": [KEY + "\n"]}, "--ssh-key"),
    ({"ssh_keys": [KEY + " a\x1bb"]}, "--ssh-key"),
    ({"wifi_ssid": "net\nx", "wifi_psk": "0" * 64, "wifi_country": "DE"}, "--wifi-ssid"),
    ({"wifi_ssid": "net\u2028x", "wifi_psk": "0" * 64, "wifi_country": "DE"}, "--wifi-ssid"),
    ({"wifi_ssid": "net", "wifi_psk": "0" * 64, "wifi_country": "DE\n"}, "--wifi-country"),
    ({"wifi_hidden": True}, "--wifi-hidden"),
])
def test_bad_settings_name_the_flag(changes: dict[str, object], field: str) -> None:
    with pytest.raises(ImageInputError) as error:
        _settings(**changes)
    assert str(error.value).startswith(field) and "\n" not in str(error.value)


@pytest.mark.parametrize("passphrase", ["short", "x" * 64, "ünïcode-pass", "tab\there1"])
def test_bad_wifi_passphrases_are_refused(passphrase: str) -> None:
    with pytest.raises(ImageInputError):
        customize.check_wifi_passphrase(passphrase)


def test_cmdline_gets_cgroup_flags_once_and_stays_one_line() -> None:
    old = "console=tty1 root=PARTUUID=1-02 rootwait\n"
    once = customize.cmdline(old)
    assert once == "console=tty1 root=PARTUUID=1-02 rootwait cgroup_enable=memory cgroup_memory=1\n"
    assert customize.cmdline(once) == once
    hook = ("systemd.run=/boot/firmware/firstrun.sh", "systemd.run_success_action=reboot")
    twice = customize.cmdline(customize.cmdline(old, hook, ("systemd.run",)), hook, ("systemd.run",))
    assert twice.count("systemd.run=") == 1 and twice.count("\n") == 1


def test_regulatory_domain_goes_before_the_hook_and_replaces_an_old_one() -> None:
    layout = customize.Layout("firstrun", "", mbr.parse(bytes(512)))
    wifi = _settings(wifi_ssid="lab", wifi_psk="a" * 64, wifi_country="us")
    old = "console=tty1 root=PARTUUID=1-02 quiet cfg80211.ieee80211_regdom=GB init=/x\n"
    line = customize.boot_cmdline(layout, wifi, old)
    words = line.split()
    assert words.count("cfg80211.ieee80211_regdom=US") == 1 and "cfg80211.ieee80211_regdom=GB" not in words
    assert words.index("cfg80211.ieee80211_regdom=US") < words.index("systemd.run=/boot/firmware/firstrun.sh")
    assert customize.boot_cmdline(layout, wifi, line) == line
    layout.mechanism = "cloud-init"
    assert customize.boot_cmdline(layout, wifi, old).split()[-1] == "cfg80211.ieee80211_regdom=US"


def test_user_data_is_valid_yaml_even_with_hostile_values() -> None:
    settings = _settings(password_hash="$6$salt$hash", timezone="Europe/Berlin",
                         wifi_ssid='evil" net: x #$ Café-📶', wifi_psk="a" * 64, wifi_country="de",
                         wifi_hidden=True)
    text = customize.user_data(settings)
    data = YAML(typ="safe").load(io.StringIO(text))
    assert data["hostname"] == "red01" and data["timezone"] == "Europe/Berlin"
    user = data["user"]
    assert user["name"] == "pi" and user["passwd"] == "$6$salt$hash"
    assert user["ssh_authorized_keys"] == [KEY] and user["lock_passwd"] is False
    assert data["ssh_pwauth"] is True and "enable_ssh" not in data and "users" not in data
    assert ["sed", "-i", "-e", "/^  passwd: /d", "-e", "/^          password: /d",
            "/boot/firmware/user-data", "/boot/firmware/network-config"] in data["runcmd"]
    network_text = customize.network_config(settings)
    network = YAML(typ="safe").load(io.StringIO(network_text))
    wlan = network["network"]["wifis"]["wlan0"]
    assert wlan["access-points"] == {'evil" net: x #$ Café-📶': {"password": "a" * 64, "hidden": True}}
    assert wlan["regulatory-domain"] == "DE"
    assert "\\u" not in network_text  # UTF-8, not JSON's surrogate escapes (netplan refuses them)


def test_key_only_user_data_locks_the_password() -> None:
    data = YAML(typ="safe").load(io.StringIO(customize.user_data(_settings())))
    assert data["user"]["lock_passwd"] is True and "passwd" not in data["user"]
    assert data["ssh_pwauth"] is False
    assert data["runcmd"] == [["systemctl", "enable", "--now", "ssh"]]  # nothing secret to remove


def test_firstrun_script_quotes_values_and_removes_itself() -> None:
    settings = _settings(wifi_ssid="it's mine", wifi_psk="b" * 64, wifi_country="GB",
                         timezone="Europe/London")
    script = customize.firstrun_script(settings, "/boot/firmware")
    assert "set_wlan 'it'\"'\"'s mine' " in script  # not hidden unless asked
    assert "rm -f /boot/firmware/firstrun.sh /boot/firmware/userconf.txt" in script
    assert "PasswordAuthentication no" in script and KEY in script
    assert "set_timezone Europe/London" in script
    assert "systemd.run.*" not in script and "printf '%b" not in script
    hidden = customize.firstrun_script(_settings(wifi_ssid="x", wifi_psk="b" * 64, wifi_country="GB",
                                                 wifi_hidden=True), "/boot")
    assert "set_wlan -h x " in hidden and "rm -f /boot/firstrun.sh" in hidden


def test_key_comment_escapes_stay_literal() -> None:
    key = KEY.split(" t@x")[0] + " a\\nssh-rsa AAAA evil"
    script = customize.firstrun_script(_settings(ssh_keys=[key]), "/boot/firmware")
    assert script.count("ssh-rsa AAAA evil") == 1  # one line of a quoted here-document
    assert "\n" + key + "\nCMS_SWARM_KEYS\n" in script


def test_os_release_parser() -> None:
    from cloudmesh.swarm.os_release import os_release_values

    parsed = os_release_values('PRETTY_NAME="Raspbian GNU/Linux 12 (bookworm)"\n'
                               "# comment\nID=raspbian\nVERSION_CODENAME=bookworm\n")
    assert parsed == {"PRETTY_NAME": "Raspbian GNU/Linux 12 (bookworm)", "ID": "raspbian",
                      "VERSION_CODENAME": "bookworm"}


def test_an_odd_boot_mount_point_is_refused(tmp_path: Path) -> None:
    from cloudmesh.swarm.image import ext4, synthetic

    image = synthetic.build(tmp_path / "odd.img", "firstrun")
    root = customize.detect(image).root
    assert root is not None
    fstab = (ext4.read_file(image, root.offset, "/etc/fstab") or b"").replace(
        b"/boot/firmware", b"/boot/$(reboot)")
    (tmp_path / "fstab").write_bytes(fstab)
    import subprocess

    subprocess.run([ext4.tool("debugfs"), "-w", "-R", f"write {tmp_path / 'fstab'} /etc/fstab.new",
                    ext4.spec(image, root.offset)], check=True, capture_output=True)
    subprocess.run([ext4.tool("debugfs"), "-w", "-R", "rm /etc/fstab", ext4.spec(image, root.offset)],
                   check=True, capture_output=True)
    subprocess.run([ext4.tool("debugfs"), "-w", "-R", "ln /etc/fstab.new /etc/fstab",
                    ext4.spec(image, root.offset)], check=True, capture_output=True)
    layout = customize.detect(image)
    assert layout.mechanism == "unknown" and "mount point" in layout.reason
