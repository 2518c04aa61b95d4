"""Pure parts of `image`: crypt and PSK vectors, MBR, settings validation, rendered files."""

from __future__ import annotations

import io

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


def test_user_data_is_valid_yaml_even_with_hostile_values() -> None:
    settings = _settings(password_hash="$6$salt$hash", timezone="Europe/Berlin",
                         wifi_ssid='evil"\nnet: x', wifi_psk="a" * 64, wifi_country="de")
    data = YAML(typ="safe").load(io.StringIO(customize.user_data(settings)))
    assert data["hostname"] == "red01" and data["timezone"] == "Europe/Berlin"
    user = data["users"][0]
    assert user["name"] == "pi" and user["passwd"] == "$6$salt$hash"
    assert user["ssh_authorized_keys"] == [KEY] and user["lock_passwd"] is False
    assert data["ssh_pwauth"] is True and data["enable_ssh"] is True
    network = YAML(typ="safe").load(io.StringIO(customize.network_config(settings)))
    wlan = network["network"]["wifis"]["wlan0"]
    assert wlan["access-points"] == {'evil"\nnet: x': {"password": "a" * 64}}
    assert wlan["regulatory-domain"] == "DE"


def test_key_only_user_data_locks_the_password() -> None:
    data = YAML(typ="safe").load(io.StringIO(customize.user_data(_settings())))
    assert data["users"][0]["lock_passwd"] is True and "passwd" not in data["users"][0]
    assert data["ssh_pwauth"] is False


def test_firstrun_script_quotes_values_and_removes_itself() -> None:
    settings = _settings(wifi_ssid="it's mine", wifi_psk="b" * 64, wifi_country="GB",
                         timezone="Europe/London")
    script = customize.firstrun_script(settings, "/boot/firmware")
    assert "set_wlan -h 'it'\"'\"'s mine' " in script
    assert "rm -f /boot/firmware/firstrun.sh" in script
    assert "PasswordAuthentication no" in script and KEY in script
    assert "set_timezone Europe/London" in script


def test_os_release_parser() -> None:
    parsed = customize.parse_os_release('PRETTY_NAME="Raspbian GNU/Linux 12 (bookworm)"\n'
                                        "# comment\nID=raspbian\nVERSION_CODENAME=bookworm\n")
    assert parsed == {"PRETTY_NAME": "Raspbian GNU/Linux 12 (bookworm)", "ID": "raspbian",
                      "VERSION_CODENAME": "bookworm"}
