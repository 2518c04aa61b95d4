"""Issue 12, images: files that hold a card's secrets are 0600; what an image or a host says
about itself is data, never shell; bad input is refused before the first card is written."""

from __future__ import annotations

import asyncio
import os
import shutil
import stat
from pathlib import Path

import pytest

from cloudmesh.swarm.image import capture, customize, ext4, synthetic
from cloudmesh.swarm.image.errors import ImageError
from cloudmesh.swarm.transport import Result

from .test_image_burn import cli

pytestmark = pytest.mark.skipif(not shutil.which("mcopy") or not shutil.which("debugfs"),
                                reason="needs mtools and e2fsprogs (scripts/setup-host.sh)")


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return synthetic.build(tmp_path_factory.mktemp("img") / "firstrun.img", "firstrun", seed=3)


@pytest.fixture
def loose_umask() -> object:
    old = os.umask(0o022)
    yield None
    os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# -- 5: capture, --shrink temp files and burn-to-file are 0600 ------------------------------

def test_capture_and_shrink_files_are_private(tmp_path: Path, loose_umask: object) -> None:
    compressor = capture.Compressor(tmp_path / "a.img.xz", "xz")
    compressor.close()
    splitter = capture.Splitter(tmp_path / ".h", tmp_path / ".p")
    splitter.abort()
    assert {mode(tmp_path / n) for n in ("a.img.xz", ".h", ".p")} == {0o600}


def test_burn_to_a_file_is_private(image: Path, tmp_path: Path, loose_umask: object,
                                   capsys: pytest.CaptureFixture[str],
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    new, old = tmp_path / "new.img", tmp_path / "old.img"
    old.write_bytes(b"\0" * 1024)
    old.chmod(0o644)
    for target in (new, old):
        code, out = cli(capsys, monkeypatch, "image", "burn", str(image), "--device", str(target),
                        "--yes", "-q", "--no-verify", "--force")
        assert code == 0, out
        assert mode(target) == 0o600


# -- 14: odd host output and odd files are one-line errors ----------------------------------

class OddSize:
    name = "pi1"

    async def run(self, command: str, **_: object) -> Result:
        return Result(0, "size 12abc\n", "")


def test_capture_with_an_odd_size_is_an_image_error(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="reported size '12abc'"):
        asyncio.run(capture.capture(OddSize(), "/dev/mmcblk0", tmp_path / "x.img.xz", quiet=True,
                                    say=lambda _: None))


def test_image_info_with_a_binary_sha256_and_hand_edited_user_data(
        image: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    copy = tmp_path / "card.img"
    shutil.copy(image, copy)
    Path(f"{copy}.sha256").write_bytes(b"\xff\xfe\x00\x81 garbage")
    _, out = cli(capsys, monkeypatch, "image", "info", str(copy))
    assert "Traceback" not in out and "DIFFERS" in out
    from cloudmesh.swarm.image import info

    found = info._from_cloud_init("#cloud-config\nhostname: red01\nusers:\n  - name: 'pi'\n", "")
    assert found["hostname"] == "red01" and found["user"] == "pi"


def test_a_binary_ssh_key_file_is_bad_input(image: Path, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    key = tmp_path / "key.pub"
    key.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe")
    card = tmp_path / "c.img"
    code, out = cli(capsys, monkeypatch, "image", "burn", str(image), "--device", str(card),
                    "--yes", "-q", "--ssh-key", str(key))
    assert code == 2 and "--ssh-key" in out and "Traceback" not in out
    assert not card.exists()


# -- 15: --inventory-out is checked before the first card ------------------------------------

def test_a_bad_inventory_out_is_refused_before_any_card(image: Path, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    key = tmp_path / "id.pub"
    key.write_text("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPwlazPtRTVCesOpSdGGQ7DUDF3A2EwgLxDSjMQHtDlr t@x\n")
    for out_name in ("my cluster.yaml", str(tmp_path / "missing" / "red.yaml")):
        code, out = cli(capsys, monkeypatch, "image", "burn", str(image), "--device",
                        str(tmp_path / "{host}.img"), "--hosts", "red[1-2]", "--yes", "-q",
                        "--no-verify", "--ssh-key", str(key), "--inventory-out", out_name)
        assert code == 2 and "--inventory-out" in out, out
        assert not list(tmp_path.glob("red*.img"))  # no card was written


# -- 17: the boot mount point read from the image is never pasted as shell -------------------

def test_a_hostile_fstab_mount_point_is_not_used(image: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = ext4.read_file

    def crafted(path: Path, offset: int, name: str) -> bytes | None:
        if name == "/etc/fstab":
            return b"PARTUUID=x-01 /boot/x;reboot;# vfat defaults 0 2\n"
        return real(path, offset, name)

    monkeypatch.setattr(ext4, "read_file", crafted)
    layout = customize.detect(image)  # refused with a reason, never pasted into a script
    assert layout.mechanism == "unknown" and "mount point" in layout.reason
    script = customize.firstrun_script(customize.Settings(hostname="red01"), "/boot/x y;reboot")
    assert "rm -f '/boot/x y;reboot'/firstrun.sh" in script
    assert "'/boot/x y;reboot'/cmdline.txt" in script
