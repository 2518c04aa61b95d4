"""trixie's first-boot files checked by cloud-init's own schema (tests/unit/data/cloud-init,
cloud-init 25.2) and network-config by netplan's parser (cloud-init hands a version 2
network-config to netplan and validates it with netplan's parser when it is installed, as on
Raspberry Pi OS), and every setting fuzzed through both mechanisms:
an accepted value round-trips into user-data, network-config and firstrun.sh; a refused one
is an ImageInputError naming its flag."""

from __future__ import annotations

import io
import json
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft4Validator
from ruamel.yaml import YAML

from cloudmesh.swarm.image import customize
from cloudmesh.swarm.image.errors import ImageInputError

DATA = Path(__file__).with_name("data") / "cloud-init"
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPwlazPtRTVCesOpSdGGQ7DUDF3A2EwgLxDSjMQHtDlr me@host"
PSK = "ab" * 32
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _validator(name: str) -> Draft4Validator:
    return Draft4Validator(json.loads((DATA / name).read_text()))


CLOUD_CONFIG = _validator("schema-cloud-config-v1.json")
NETPLAN = shutil.which("netplan") or shutil.which("/usr/sbin/netplan")


def _yaml(text: str) -> Any:
    return YAML(typ="safe").load(io.StringIO(text))


def _errors(validator: Draft4Validator, document: Any) -> list[str]:
    return [error.message for error in validator.iter_errors(document)]


def _settings(**changes: Any) -> customize.Settings:
    values: dict[str, Any] = {"hostname": "red01", "user": "pi", "password_hash": None,
                              "ssh_keys": [KEY], "wifi_ssid": None, "wifi_psk": None,
                              "wifi_country": None, "timezone": None}
    values.update(changes)
    return customize.settings(**values)


@pytest.mark.parametrize("changes", [
    {},
    {"password_hash": "$6$salt$hash", "timezone": "Europe/Berlin"},
    {"hostname": None, "ssh_keys": [KEY, KEY.replace("me@host", "two keys")]},
    {"wifi_ssid": "lab net", "wifi_psk": PSK, "wifi_country": "DE"},
    {"wifi_ssid": 'Café "$HOME" #1: x', "wifi_psk": PSK, "wifi_country": "US", "wifi_hidden": True,
     "password_hash": "$6$salt$hash"},
])
def test_user_data_and_network_config_pass_cloud_inits_schema(changes: dict[str, Any]) -> None:
    s = _settings(**changes)
    assert _errors(CLOUD_CONFIG, _yaml(customize.user_data(s))) == []
    meta = _yaml(customize.meta_data(s))
    assert meta["instance-id"].startswith("cms-swarm-") and meta["dsmode"] == "local"


def test_the_schema_catches_what_cloud_init_status_reports() -> None:
    old = customize.user_data(_settings()) + "enable_ssh: true\n"
    assert "Additional properties are not allowed ('enable_ssh' was unexpected)" in _errors(
        CLOUD_CONFIG, _yaml(old))


def _netplan(text: str, root: Path) -> str:
    """netplan's parser on a network-config ('' when it accepts it)."""
    folder = root / "etc/netplan"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "50-cloud-init.yaml").write_text(text)
    (folder / "50-cloud-init.yaml").chmod(0o600)
    done = subprocess.run([str(NETPLAN), "generate", "--root-dir", str(root)],
                          capture_output=True, text=True, timeout=60, check=False)
    return "" if done.returncode == 0 else done.stderr or "failed"


@pytest.mark.skipif(NETPLAN is None, reason="needs netplan (netplan.io; scripts/setup-host.sh)")
@pytest.mark.parametrize("ssid", ["lab net", 'Café "$HOME" #1: x', "📶 wifi", "back\\slash; x "])
def test_network_config_parses_with_netplan(ssid: str, tmp_path: Path) -> None:
    s = _settings(wifi_ssid=ssid, wifi_psk=PSK, wifi_country="DE", wifi_hidden=ssid.startswith("C"))
    assert _netplan(customize.network_config(s), tmp_path) == ""
    if ssid.startswith("📶"):  # the JSON escapes written before: netplan refuses them
        old = customize.network_config(s).replace(customize._q(ssid), json.dumps(ssid))
        assert "invalid Unicode character escape" in _netplan(old, tmp_path / "old")


# -- fuzz: every accepted value round-trips, every refused one names its flag ---------------
_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)
_odd = st.sampled_from(["", "\n", "\r", "\t", "'", '"', "$", "#", ": ", "\\", ";", " ", "é",
                        "📶", "\u2028", "\x00", "-", "_", "a", "Z", "9", "\\n", "$(x)", "`x`"])
_value = st.one_of(_text, st.lists(_odd, max_size=6).map("".join),
                   st.tuples(st.sampled_from(["red01", "pi", "lab net", "Europe/Berlin"]),
                             _odd).map("".join))


@FUZZ
@given(hostname=_value, user=_value, ssid=_value, comment=_value, hidden=st.booleans())
def test_settings_round_trip_or_name_the_flag(hostname: str, user: str, ssid: str, comment: str,
                                              hidden: bool) -> None:
    key = f"{KEY.rsplit(' ', 1)[0]} {comment}" if comment else KEY
    try:
        s = _settings(hostname=hostname, user=user, ssh_keys=[key], wifi_ssid=ssid or None,
                      wifi_psk=PSK if ssid else None, wifi_country="DE" if ssid else None,
                      wifi_hidden=hidden and bool(ssid), password_hash="$6$s$h")
    except ImageInputError as error:
        assert str(error).startswith(("--hostname", "--user", "--ssh-key", "--wifi-ssid")), error
        assert "\n" not in str(error)
        return
    data = _yaml(customize.user_data(s))
    assert _errors(CLOUD_CONFIG, data) == []
    assert data["hostname"] == hostname.lower() and data["user"]["name"] == user
    assert data["user"]["ssh_authorized_keys"] == [key]
    script = customize.firstrun_script(s, "/boot/firmware")
    assert subprocess.run(["bash", "-n"], input=script, text=True, check=False).returncode == 0
    lines = script.splitlines()
    at = lines.index("cat >>\"$HOMEDIR/.ssh/authorized_keys\" <<'CMS_SWARM_KEYS'")
    assert lines[at + 1:at + 3] == [key, "CMS_SWARM_KEYS"]
    assert f"set_hostname {shlex.quote(hostname.lower())}" in script
    if s.wifi_ssid:
        network = _yaml(customize.network_config(s))
        if NETPLAN:
            import tempfile

            with tempfile.TemporaryDirectory() as tmp:
                assert _netplan(customize.network_config(s), Path(tmp)) == ""
        points = network["network"]["wifis"]["wlan0"]["access-points"]
        assert list(points) == [ssid] and points[ssid].get("hidden", False) is hidden
        wlan = [line for line in lines if "set_wlan " in line]
        if customize.nm_plain(ssid):
            args = shlex.split(wlan[0].split("then ", 1)[1])
            assert args[2:] == (["-h"] if hidden else []) + [ssid, PSK, "DE"]
        else:
            ssid_line = next(line for line in lines if line.startswith("ssid="))
            octets = bytes(int(b) for b in ssid_line[5:].rstrip(";").split(";"))
            assert octets.decode() == ssid


def test_first_boot_takes_the_hash_and_psk_off_the_boot_partition(tmp_path: Path) -> None:
    """user-data's last runcmd, run on the files as cloud-init leaves them: no secret stays,
    and what remains is still valid for the next boot's cloud-init."""
    s = _settings(password_hash="$6$salt$hash", wifi_ssid="lab", wifi_psk=PSK, wifi_country="DE")
    (tmp_path / "user-data").write_text(customize.user_data(s, str(tmp_path)))
    (tmp_path / "network-config").write_text(customize.network_config(s))
    argv = _yaml((tmp_path / "user-data").read_text())["runcmd"][-1]
    assert argv[0] == "sed" and argv[-2:] == [f"{tmp_path}/user-data", f"{tmp_path}/network-config"]
    subprocess.run(argv, check=True)
    after = (tmp_path / "user-data").read_text() + (tmp_path / "network-config").read_text()
    assert "$6$salt$hash" not in after and PSK not in after
    data = _yaml((tmp_path / "user-data").read_text())
    assert _errors(CLOUD_CONFIG, data) == [] and data["user"]["name"] == "pi"
    network = _yaml((tmp_path / "network-config").read_text())
    assert list(network["network"]["wifis"]["wlan0"]["access-points"]) == ["lab"]
