"""The seed's flow end to end: capture a bookworm card that has been through first boot (no
`init=` hook left in cmdline.txt), burn the capture, compressed and raw, onto new cards with
new host names, and run each new card's first boot for real (conftest.py)."""

from __future__ import annotations

import io
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from cloudmesh.swarm.cli.main import main
from cloudmesh.swarm.image import customize, synthetic
from cloudmesh.swarm.image.fat import Fat
from tests.unit.test_image_capture_local import run_capture

from .conftest import FirstBoot
from .test_firstrun import KEYS

pytestmark = [pytest.mark.integration, pytest.mark.firstboot]


def _burn(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
          *args: str) -> tuple[int, str]:
    monkeypatch.setattr(sys, "stdin", io.StringIO("wifi-pass-123\n"))
    code = main(["image", "burn", *args])
    out = capsys.readouterr()
    return code, out.out + out.err


def test_capture_then_burn_with_new_host_names(first_boot: Callable[[Path], FirstBoot],
                                               tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    card = synthetic.build(tmp_path / "red01.img", "firstrun", size_mb=96, data_mb=6)
    layout = customize.detect(card)
    assert layout.boot is not None
    fat = Fat(card, layout.boot.offset)
    used = (fat.read("cmdline.txt") or b"").decode().replace(
        " quiet init=/usr/lib/raspberrypi-sys-mods/firstboot", "")  # what first boot leaves
    fat.write({"cmdline.txt": (used.strip() + " cgroup_enable=memory cgroup_memory=1 "
                               "cfg80211.ieee80211_regdom=DE\n").encode()})
    key = tmp_path / "key.pub"
    key.write_text(KEYS[0] + "\n")
    for suffix in (".img.xz", ".img"):
        captured = tmp_path / f"red01{suffix}"
        run_capture(card, captured)
        new = tmp_path / f"red02{suffix}.card"
        code, out = _burn(capsys, monkeypatch, str(captured), "--device", str(new), "--yes", "-q",
                          "--hostname", "red02", "--ssh-key", str(key), "--wifi-ssid", "lab",
                          "--wifi-country", "DE", "--wifi-password-stdin")
        assert code == 0, out
        assert "first boot (firstrun)" in out
        pi = first_boot(new)
        assert pi.read("/etc/hostname") == "red02\n"
        words = (pi.boot / "cmdline.txt").read_text().split()
        assert [w for w in words if "regdom" in w] == ["cfg80211.ieee80211_regdom=DE"]
        assert not [w for w in words if w.startswith("systemd.")]
        assert (pi.root / "home/pi/.ssh/authorized_keys").read_text() == KEYS[0] + "\n"
