"""`image burn|customize|info` through the CLI on synthetic Pi OS images and real files.

Real tools, real files (and loop devices where the kernel lets us): byte equality and
sha256 after burning, every customised file read back from the FAT partition, fsck.fat
clean, and every refusal leaves the target untouched.
"""

from __future__ import annotations

import hashlib
import io
import lzma
import os
import resource
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from cloudmesh.swarm.cli.main import main
from cloudmesh.swarm.image import burn, device, mbr, synthetic
from cloudmesh.swarm.image.fat import Fat

pytestmark = pytest.mark.skipif(not shutil.which("mcopy") or not shutil.which("debugfs"),
                                reason="needs mtools and e2fsprogs (scripts/setup-host.sh)")
CLI = str(Path(sys.executable).with_name("cms-swarm"))
BOOT = 4 << 20  # synthetic images: the boot partition starts at 4 MiB


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("images")
    out = {}
    for kind in ("cloud-init", "firstrun", "unknown", "captured", "trixie-2025-10-01"):
        path = synthetic.build(tmp / f"{kind}.img", kind, seed=len(kind))
        out[kind] = path
        xz = tmp / f"{kind}.img.xz"
        xz.write_bytes(lzma.compress(path.read_bytes(), preset=0))
        out[f"{kind}.xz"] = xz
    key = tmp / "id_ed25519.pub"
    key.write_text("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPwlazPtRTVCesOpSdGGQ7DUDF3A2EwgLxDSjMQHtDlr t@x\n")
    out["key"] = key
    return out


def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, *args: str,
        stdin: str = "") -> tuple[int, str]:
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out + out.err


def sha(path: Path, size: int | None = None) -> str:
    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read(size) if size else handle.read()).hexdigest()


def fat_clean(image: Path, tmp: Path) -> None:
    """fsck.fat -n on a copy of the boot partition (it has no offset option)."""
    fsck = shutil.which("fsck.fat") or shutil.which("/sbin/fsck.fat")
    if fsck is None:
        return
    table = mbr.parse(image.read_bytes()[:512])
    boot = table.partitions[0]
    with open(image, "rb") as handle:
        handle.seek(boot.offset)
        (tmp / "boot.fat").write_bytes(handle.read(boot.size))
    done = subprocess.run([fsck, "-n", str(tmp / "boot.fat")], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


# -- plain burns -----------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["cloud-init", "cloud-init.xz"])
def test_burn_to_a_new_file_is_byte_identical(images: dict[str, Path], tmp_path: Path, name: str,
                                              capsys: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    card = tmp_path / "card.img"
    code, out = cli(capsys, monkeypatch, "image", "burn", str(images[name]), "--device",
                    str(card), "--yes", "-q")
    assert code == 0, out
    assert card.read_bytes() == images["cloud-init"].read_bytes()
    assert sha(images["cloud-init"])[:16] in out and "verified" in out


def test_burn_over_a_larger_file_leaves_exactly_the_image(images: dict[str, Path], tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    card = tmp_path / "old.img"
    card.write_bytes(b"\xff" * (100 << 20))
    code, out = cli(capsys, monkeypatch, "image", "burn", str(images["firstrun.xz"]),
                    "--device", str(card), "--yes", "-q", "--no-verify")
    assert code == 0 and "NOT verified" in out
    assert sha(card) == sha(images["firstrun"])


# -- customisation ---------------------------------------------------------------------------
def test_cloud_init_customisation_reads_back(images: dict[str, Path], tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    card = tmp_path / "card.img"
    code, out = cli(capsys, monkeypatch, "image", "burn", str(images["cloud-init.xz"]),
                    "--device", str(card), "--yes", "-q", "--hostname", "red01", "--ssh-key",
                    str(images["key"]), "--password-stdin", "--wifi-ssid", "lab net",
                    "--wifi-country", "de", "--wifi-password-stdin", "--timezone",
                    "Europe/Berlin", stdin="s3cret-login\nwifi-pass-123\n")
    assert code == 0, out
    assert "s3cret-login" not in out and "wifi-pass-123" not in out
    fat = Fat(card, BOOT)
    user_data = YAML(typ="safe").load(fat.read("user-data"))
    assert user_data["hostname"] == "red01" and user_data["timezone"] == "Europe/Berlin"
    user = user_data["user"]
    assert user["name"] == "pi" and user["passwd"].startswith("$6$")
    assert user["ssh_authorized_keys"] == [images["key"].read_text().strip()]
    import crypt

    assert crypt.crypt("s3cret-login", user["passwd"]) == user["passwd"]
    network = YAML(typ="safe").load(fat.read("network-config"))
    point = network["network"]["wifis"]["wlan0"]["access-points"]["lab net"]
    assert point["password"] == hashlib.pbkdf2_hmac("sha1", b"wifi-pass-123", b"lab net",
                                                    4096, 32).hex()
    assert b"wifi-pass-123" not in card.read_bytes() and b"s3cret-login" not in card.read_bytes()
    meta = (fat.read("meta-data") or b"").decode()
    assert "local-hostname: red01" in meta and "instance-id: cms-swarm-red01-" in meta
    cmdline = (fat.read("cmdline.txt") or b"").decode()
    assert cmdline.endswith("cgroup_enable=memory cgroup_memory=1 cfg80211.ieee80211_regdom=DE\n")
    assert cmdline.count("\n") == 1
    assert fat.read("config.txt") == (Fat(images["cloud-init"], BOOT).read("config.txt"))
    fat_clean(card, tmp_path)
    code, out = cli(capsys, monkeypatch, "image", "info", str(card), "--json")
    assert code == 0
    import json

    info = json.loads(out)
    assert info["mechanism"] == "cloud-init" and info["os"].startswith("Debian GNU/Linux 13")
    assert info["customisation"]["hostname"] == "red01"
    assert info["customisation"]["wifi_ssid"] == "lab net"
    assert info["customisation"]["cgroup_memory"] is True


def test_firstrun_customisation_reads_back(images: dict[str, Path], tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    card = tmp_path / "card.img"
    code, out = cli(capsys, monkeypatch, "image", "burn", str(images["firstrun"]), "--device",
                    str(card), "--yes", "-q", "--hostname", "blue7", "--user", "ada",
                    "--ssh-key", str(images["key"]), "--timezone", "UTC")
    assert code == 0, out
    fat = Fat(card, BOOT)
    assert {"firstrun.sh", "ssh", "cmdline.txt"} <= fat.names()
    assert fat.read("userconf.txt") is None  # key-only: no password hash anywhere
    script = (fat.read("firstrun.sh") or b"").decode()
    assert "set_hostname blue7" in script and "userconf ada '*'" in script
    assert images["key"].read_text().strip() in script
    assert "rm -f /boot/firmware/firstrun.sh" in script
    cmdline = (fat.read("cmdline.txt") or b"").decode()
    assert "systemd.run=/boot/firmware/firstrun.sh" in cmdline
    assert cmdline.index("cgroup_memory=1") < cmdline.index("systemd.run=")  # survives the sed
    fat_clean(card, tmp_path)
    # customize again (an image file, in place): still one hook, one set of flags
    code, out = cli(capsys, monkeypatch, "image", "customize", str(card), "--hostname", "blue8",
                    "--ssh-key", str(images["key"]), "--password-stdin", stdin="pw-pw-pw\n")
    assert code == 0, out
    cmdline = (fat.read("cmdline.txt") or b"").decode()
    assert cmdline.count("systemd.run=") == 1 and cmdline.count("cgroup_memory=1") == 1
    assert fat.read("userconf.txt") is None  # never read on bookworm: the hash would stay
    assert "userconf pi '$6$" in (fat.read("firstrun.sh") or b"").decode()
    code, out = cli(capsys, monkeypatch, "image", "info", str(card), "--no-sha256")
    assert code == 0 and "hostname: blue8" in out and "firstrun" in out


def test_hosts_series_writes_cards_and_an_inventory(images: dict[str, Path], tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from cloudmesh.swarm import inventory

    monkeypatch.chdir(tmp_path)
    code, out = cli(capsys, monkeypatch, "image", "burn", str(images["cloud-init.xz"]),
                    "--device", str(tmp_path / "{host}.img"), "--hosts", "red[01-03]", "--yes",
                    "-q", "--ssh-key", str(images["key"]))
    assert code == 0, out
    for name in ("red01", "red02", "red03"):
        data = YAML(typ="safe").load(Fat(tmp_path / f"{name}.img", BOOT).read("user-data"))
        assert data["hostname"] == name
    loaded = inventory.load(tmp_path / "red.yaml")
    assert [h.name for h in loaded.hosts] == ["red01", "red02", "red03"]
    assert loaded.hosts[0].address == "red01.local"


# -- refusals: nothing written ---------------------------------------------------------------
@pytest.fixture
def untouched(tmp_path: Path) -> Iterator[Path]:
    card = tmp_path / "precious.img"
    card.write_bytes(b"precious " * 1000)
    before = card.read_bytes()
    yield card
    assert card.read_bytes() == before


def test_unknown_layout_is_refused(images: dict[str, Path], untouched: Path,
                                   capsys: pytest.CaptureFixture[str],
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("unknown", "unknown.xz"):
        code, out = cli(capsys, monkeypatch, "image", "burn", str(images[name]), "--device",
                        str(untouched), "--yes", "--hostname", "x1", "--ssh-key", str(images["key"]))
        assert code == 2 and "unknown image layout" in out, out
        assert "Fedora" in out  # compressed too: read as far as its root's os-release
    copy = untouched.with_name("u.img")
    shutil.copy(images["unknown"], copy)
    code, out = cli(capsys, monkeypatch, "image", "customize", str(copy), "--hostname", "x1",
                    "--ssh-key", str(images["key"]))
    assert code == 2 and "unknown image layout" in out
    assert copy.read_bytes() == images["unknown"].read_bytes()


def test_trixie_without_cloud_init_is_refused_naming_the_first_release(
        images: dict[str, Path], untouched: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("trixie-2025-10-01", "trixie-2025-10-01.xz"):
        code, out = cli(capsys, monkeypatch, "image", "burn", str(images[name]), "--device",
                        str(untouched), "--yes", "--hostname", "x1", "--ssh-key", str(images["key"]))
        assert code == 2 and "use 2025-11-24 or later" in out and len(out.splitlines()) == 1, out


@pytest.mark.parametrize("kind", ["cloud-init", "firstrun", "captured", "unknown", "trixie-2025-10-01"])
def test_compressed_and_raw_images_are_judged_alike(images: dict[str, Path], kind: str) -> None:
    from cloudmesh.swarm.image import customize
    from cloudmesh.swarm.image.source import open_image

    raw = customize.detect(images[kind])
    packed = customize.detect_source(open_image(images[f"{kind}.xz"]))
    assert (packed.mechanism, packed.reason, packed.os_release, packed.boot_mount) == (
        raw.mechanism, raw.reason, raw.os_release, raw.boot_mount)
    assert raw.mechanism == {"captured": "firstrun", "trixie-2025-10-01": "unknown"}.get(kind, kind)


def test_captured_card_burns_compressed_like_raw(images: dict[str, Path], tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("captured", "captured.xz"):
        card = tmp_path / f"{name}.card"
        code, out = cli(capsys, monkeypatch, "image", "burn", str(images[name]), "--device",
                        str(card), "--yes", "-q", "--hostname", "red02", "--ssh-key",
                        str(images["key"]))
        assert code == 0 and "first boot (firstrun)" in out, out
        cmdline = (Fat(card, BOOT).read("cmdline.txt") or b"").decode()
        assert "systemd.run=/boot/firmware/firstrun.sh" in cmdline and "init=" not in cmdline


def test_truncated_and_corrupt_xz(images: dict[str, Path], untouched: Path, tmp_path: Path,
                                  capsys: pytest.CaptureFixture[str],
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    data = images["cloud-init.xz"].read_bytes()
    cut = tmp_path / "cut.img.xz"
    cut.write_bytes(data[: len(data) // 2])
    code, out = cli(capsys, monkeypatch, "image", "burn", str(cut), "--device", str(untouched),
                    "--yes")
    assert code == 2 and "not a complete .xz" in out
    bad = bytearray(data)
    bad[len(bad) // 2] ^= 0xFF
    corrupt = tmp_path / "bad.img.xz"
    corrupt.write_bytes(bytes(bad))
    new = tmp_path / "new.img"
    code, out = cli(capsys, monkeypatch, "image", "burn", str(corrupt), "--device", str(new),
                    "--yes", "-q")
    assert code == 1 and "corrupt" in out
    assert not new.exists()  # a file it created is removed again


def test_corrupt_xz_on_an_existing_card_leaves_it_marked(images: dict[str, Path], tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    card = tmp_path / "card.img"
    shutil.copy(images["firstrun"], card)
    bad = bytearray(images["cloud-init.xz"].read_bytes())
    bad[len(bad) // 2] ^= 0xFF
    corrupt = tmp_path / "bad.img.xz"
    corrupt.write_bytes(bytes(bad))
    code, out = cli(capsys, monkeypatch, "image", "burn", str(corrupt), "--device", str(card),
                    "--yes", "-q")
    assert code == 1
    code, out = cli(capsys, monkeypatch, "image", "info", str(card))
    assert code == 1 and "INCOMPLETE" in out and "bad.img.xz" in out


def test_wifi_password_on_argv_is_not_accepted(images: dict[str, Path], untouched: Path,
                                               capsys: pytest.CaptureFixture[str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    for flag in ("--wifi-password", "--password", "--wifi-psk"):
        for args in ([flag, "Hunter2-secret"], [f"{flag}=Hunter2-secret"]):
            code, out = cli(capsys, monkeypatch, "image", "burn", str(images["cloud-init"]),
                            "--device", str(untouched), "--yes", "--wifi-ssid", "n",
                            "--wifi-country", "DE", *args)
            assert code == 2 and "not accepted on the command line" in out
            assert "Hunter2-secret" not in out


def test_settings_errors_come_before_any_write(images: dict[str, Path], untouched: Path,
                                               capsys: pytest.CaptureFixture[str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    cases = [
        (["--hostname", "bad_name", "--ssh-key", str(images["key"])], "--hostname"),
        (["--hostname", "ok", "--ssh-key", str(untouched)], "--ssh-key"),
        (["--hostname", "ok", "--ssh-key", str(images["key"]), "--wifi-ssid", "n"], "--wifi-country"),
        (["--hostname", "ok", "--ssh-key", str(images["key"]), "--timezone", "Nowhere/Town"],
         "--timezone"),
        (["--hostname", "ok", "--ssh-key", str(images["key"]), "--wifi-ssid", "n",
          "--wifi-country", "DE", "--wifi-password-stdin"], "--wifi-password-stdin"),
        (["--hostname", "ok", "--ssh-key", str(images["key"]), "--wifi-ssid", "n",
          "--wifi-country", "DE"], "no terminal"),
        (["--hostname", "red01\n", "--ssh-key", str(images["key"])], "--hostname"),
        (["--hostname", "ok", "--user", "ada\n", "--ssh-key", str(images["key"])], "--user"),
        (["--hostname", "ok", "--ssh-key", str(images["key"]), "--wifi-ssid", "a\nb",
          "--wifi-country", "DE"], "--wifi-ssid"),
        (["--hostname", "ok", "--ssh-key", str(images["key"]), "--wifi-hidden"], "--wifi-hidden"),
    ]
    for image in ("cloud-init", "firstrun.xz"):
        for extra, field in cases:
            code, out = cli(capsys, monkeypatch, "image", "burn", str(images[image]),
                            "--device", str(untouched), "--yes", *extra)
            assert code == 2 and field in out, out
            assert len(out.strip().splitlines()) == 1, out
    copy = untouched.with_name("c.img")
    shutil.copy(images["firstrun"], copy)
    for extra, field in cases[-4:]:
        code, out = cli(capsys, monkeypatch, "image", "customize", str(copy), *extra)
        assert code == 2 and field in out, out
    assert copy.read_bytes() == images["firstrun"].read_bytes()


def test_target_refusals_for_files(images: dict[str, Path], tmp_path: Path,
                                   capsys: pytest.CaptureFixture[str],
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    image = images["cloud-init"]
    before = sha(image)
    for dev, why in ((str(image), "the image itself"), (str(tmp_path / "no/dir/x.img"), "does not exist"),
                     ("/dev/cms-swarm-no-such-card", "does not exist"), (str(tmp_path), "neither"),
                     ("/dev/null", "neither")):
        code, out = cli(capsys, monkeypatch, "image", "burn", str(image), "--device", dev, "--yes")
        assert code == 2 and why in out, (dev, out)
    assert sha(image) == before


def test_no_confirmation_without_a_terminal(images: dict[str, Path], untouched: Path) -> None:
    done = subprocess.run([CLI, "image", "burn", str(images["cloud-init"]), "--device",
                           str(untouched)], capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL, start_new_session=True, check=False)
    assert done.returncode == 2 and "add --yes" in done.stderr


def test_root_disk_is_refused() -> None:
    """The disk under / is refused by name (no --yes and no terminal: a second safety net)."""
    disks = device.root_disks()
    nodes = [Path(f"/dev/{d}") for d in sorted(disks) if Path(f"/dev/{d}").is_block_device()]
    if not nodes:
        pytest.skip("the root file system's disk has no node in /dev here")
    done = subprocess.run([CLI, "image", "burn", "/dev/null", "--device", str(nodes[0])],
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
                          start_new_session=True, check=False)
    assert done.returncode == 2
    # /dev/null as IMAGE is refused first (empty) unless the device check runs first: both fine,
    # but a real image must meet the root check:
    image = Path(__file__)  # any non-empty file is a "raw image"
    done = subprocess.run([CLI, "image", "burn", str(image), "--device", str(nodes[0])],
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
                          start_new_session=True, check=False)
    assert done.returncode == 2 and "running system's root" in done.stderr, done.stderr


# -- interrupted burn --------------------------------------------------------------------------
def test_killed_burn_is_reported_incomplete(images: dict[str, Path], tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """The burn process is killed by the kernel (SIGXFSZ) after 20 MB: a real kill mid-write."""
    card = tmp_path / "card.img"
    shutil.copy(images["firstrun"], card)

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (20 << 20, 20 << 20))

    done = subprocess.run([CLI, "image", "burn", str(images["cloud-init.xz"]), "--device",
                           str(card), "--yes", "-q"], capture_output=True, timeout=60,
                          preexec_fn=limit, check=False)
    assert done.returncode < 0 or done.returncode == 1, done  # killed by a signal
    code, out = cli(capsys, monkeypatch, "image", "info", str(card))
    assert code == 1 and "INCOMPLETE" in out and "cloud-init.img.xz" in out
    assert "partition table" not in out  # never shown as a good card
    assert burn.read_marker(card.read_bytes()[:512]) is not None
    code, out = cli(capsys, monkeypatch, "image", "burn", str(images["cloud-init.xz"]),
                    "--device", str(card), "--yes", "-q")
    assert code == 0
    code, out = cli(capsys, monkeypatch, "image", "info", str(card), "--no-sha256")
    assert code == 0 and "status: ok" in out


# -- loop devices (root and a kernel that allows them) ------------------------------------------
def _losetup(path: Path, *extra: str) -> str | None:
    if os.geteuid() != 0 or not shutil.which("losetup"):
        return None
    done = subprocess.run(["losetup", "-f", "--show", *extra, str(path)], capture_output=True,
                          text=True, timeout=30, check=False)
    return done.stdout.strip() if done.returncode == 0 else None


@pytest.fixture
def loop(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    backing = tmp_path / "loop.img"
    backing.write_bytes(bytes(96 << 20))
    node = _losetup(backing)
    if node is None:
        pytest.skip("no loop devices here (not root, or the kernel/container forbids them)")
    yield Path(node), backing
    subprocess.run(["losetup", "-d", node], timeout=30, check=False)


def test_burn_to_a_loop_device(images: dict[str, Path], loop: tuple[Path, Path],
                               capsys: pytest.CaptureFixture[str],
                               monkeypatch: pytest.MonkeyPatch) -> None:
    node, backing = loop
    image = images["cloud-init"]
    code, out = cli(capsys, monkeypatch, "image", "burn", str(image), "--device", str(node),
                    "--yes", "-q", "--hostname", "red09", "--ssh-key", str(images["key"]))
    assert code == 2 and "not a removable disk" in out and "--force" in out
    assert backing.read_bytes() == bytes(96 << 20)
    code, out = cli(capsys, monkeypatch, "image", "burn", str(image), "--device", str(node),
                    "--yes", "-q", "--force", "--no-verify")
    assert code == 0, out
    size = image.stat().st_size
    assert sha(backing, size) == sha(image)
    assert backing.read_bytes()[size:] == bytes((96 << 20) - size)  # the rest untouched
    code, out = cli(capsys, monkeypatch, "image", "burn", str(images["cloud-init.xz"]),
                    "--device", str(node), "--yes", "-q", "--force", "--hostname", "red09",
                    "--ssh-key", str(images["key"]))
    assert code == 0 and "verified" in out, out
    data = YAML(typ="safe").load(Fat(node, BOOT).read("user-data"))
    assert data["hostname"] == "red09"


def test_loop_device_too_small(images: dict[str, Path], tmp_path: Path,
                               capsys: pytest.CaptureFixture[str],
                               monkeypatch: pytest.MonkeyPatch) -> None:
    backing = tmp_path / "small.img"
    backing.write_bytes(bytes(16 << 20))
    node = _losetup(backing)
    if node is None:
        pytest.skip("no loop devices here")
    try:
        code, out = cli(capsys, monkeypatch, "image", "burn", str(images["cloud-init.xz"]),
                        "--device", node, "--yes", "--force")
        assert code == 2 and "too small" in out
        assert backing.read_bytes() == bytes(16 << 20)
    finally:
        subprocess.run(["losetup", "-d", node], timeout=30, check=False)


def test_partition_of_a_loop_device_is_refused(images: dict[str, Path], tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    backing = tmp_path / "parted.img"
    shutil.copy(images["firstrun"], backing)
    before = sha(backing)
    node = _losetup(backing, "-P")
    if node is None:
        pytest.skip("no loop devices here")
    try:
        part_sys = Path(f"/sys/block/{Path(node).name}/{Path(node).name}p1/dev")
        if not part_sys.exists() and shutil.which("addpart"):  # no partition scan: add it
            subprocess.run(["addpart", node, "1", str(BOOT // 512), "1000"], timeout=30,
                           check=False, capture_output=True)
        if not part_sys.exists():
            pytest.skip("the kernel made no partition devices for the loop device")
        major, minor = map(int, part_sys.read_text().split(":"))
        part_node = tmp_path / "p1"
        os.mknod(part_node, 0o600 | 0o060000, os.makedev(major, minor))
        code, out = cli(capsys, monkeypatch, "image", "burn", str(images["cloud-init"]),
                        "--device", str(part_node), "--yes", "--force")
        assert code == 2 and f"is a partition of /dev/{Path(node).name}" in out, out
    finally:
        subprocess.run(["losetup", "-d", node], timeout=30, check=False)
    assert sha(backing) == before


def test_mounted_loop_device_is_refused(images: dict[str, Path], tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    backing = tmp_path / "fs.img"
    backing.write_bytes(bytes(96 << 20))
    subprocess.run([shutil.which("mkfs.ext4") or "/sbin/mkfs.ext4", "-q", str(backing)],
                   check=True, timeout=60)
    before = sha(backing)
    node = _losetup(backing)
    if node is None:
        pytest.skip("no loop devices here")
    mountpoint = tmp_path / "mnt"
    mountpoint.mkdir()
    done = subprocess.run(["mount", "-o", "ro", node, str(mountpoint)], capture_output=True,
                          timeout=30, check=False)
    try:
        if done.returncode != 0:
            pytest.skip("mount is not allowed here")
        code, out = cli(capsys, monkeypatch, "image", "burn", str(images["cloud-init"]),
                        "--device", node, "--yes", "--force")
        assert code == 2 and "in use" in out and f"mounted on {mountpoint}" in out, out
    finally:
        if done.returncode == 0:
            subprocess.run(["umount", str(mountpoint)], timeout=30, check=False)
        subprocess.run(["losetup", "-d", node], timeout=30, check=False)
    assert sha(backing) == before


def test_mount_table_is_read() -> None:
    users = device.disk_users()
    for disk in device.root_disks():
        assert "mounted on /" in users.get(disk, set())


def test_file_attached_to_a_loop_device_is_refused(images: dict[str, Path], loop: tuple[Path, Path],
                                                   capsys: pytest.CaptureFixture[str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    node, backing = loop
    code, out = cli(capsys, monkeypatch, "image", "burn", str(images["cloud-init"]), "--device",
                    str(backing), "--yes")
    assert code == 2 and f"attached to {node}" in out


@pytest.mark.parametrize("name", ["firstrun", "firstrun.xz"])
def test_verify_catches_a_card_that_lost_a_write(images: dict[str, Path], tmp_path: Path,
                                                 name: str) -> None:
    """A card that drops data (a fake or failing one) fails verification with exit 1."""
    from cloudmesh.swarm.image.errors import ImageError
    from cloudmesh.swarm.image.source import open_image

    source = open_image(images[name])
    target = device.inspect(tmp_path / "card.img")
    written = burn.write(source, target, quiet=True)
    with open(target.path, "r+b") as card:
        card.seek(50 << 20)
        card.write(b"\0" * 4096 if card.read(1) != b"\0" else b"\1" * 4096)
    with pytest.raises(ImageError, match="verify FAILED"):
        burn.verify(target, written, source, quiet=True)


def test_info_tells_what_first_boot_does_and_warns(images: dict[str, Path], tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    card = tmp_path / "imager.img"
    shutil.copy(images["firstrun"], card)
    fat = Fat(card, BOOT)
    old = (fat.read("cmdline.txt") or b"").decode().strip()
    fat.write({  # what an older writer leaves: regdom after the hook, greedy clean-up, userconf.txt
        "cmdline.txt": (f"{old} systemd.run=/boot/firstrun.sh systemd.run_success_action=reboot "
                        "cfg80211.ieee80211_regdom=DE\n").encode(),
        "firstrun.sh": b"#!/bin/sh\n/usr/lib/raspberrypi-sys-mods/imager_custom set_wlan -h "
                       b"'my net' abc DE\nsed -i 's| systemd.run.*||g' /boot/cmdline.txt\n",
        "userconf.txt": b"pi:$6$x$y\n"})
    code, out = cli(capsys, monkeypatch, "image", "info", str(card), "--no-sha256")
    assert code == 0
    warnings = [line for line in out.splitlines() if line.startswith("  WARNING: ")]
    assert len(warnings) == 3, out
    assert "cgroup" in warnings[0] and "world regulatory domain" in warnings[1]
    assert "userconf.txt" in warnings[2] and "Wi-Fi country DE" not in out
    assert "wifi hidden: True" in out
    code, out = cli(capsys, monkeypatch, "image", "customize", str(card), "--hostname", "red9",
                    "--ssh-key", str(images["key"]), "--wifi-ssid", "my net", "--wifi-country",
                    "DE", "--wifi-password-stdin", stdin="wifi-pass-123\n")
    assert code == 0, out
    code, out = cli(capsys, monkeypatch, "image", "info", str(card), "--no-sha256", "--json")
    import json

    found = json.loads(out)
    assert found["warnings"] == [] and "Wi-Fi country DE from cmdline.txt on every boot" in found["first_boot"]
    assert found["customisation"]["wifi_hidden"] is False and found["customisation"]["user"] == "pi"
    trixie = tmp_path / "trixie.img"
    shutil.copy(images["cloud-init"], trixie)
    Fat(trixie, BOOT).write({"user-data": b"#cloud-config\nenable_ssh: true\nusers:\n  - name: pi\n",
                             "network-config": b"network:\n  version: 2\n  wifis: {}\n"})
    code, out = cli(capsys, monkeypatch, "image", "info", str(trixie), "--no-sha256")
    assert out.count("WARNING") == 4 and "'enable_ssh'" in out and "blocked" in out, out


def test_info_on_a_compressed_image_reads_its_first_boot(images: dict[str, Path],
                                                         capsys: pytest.CaptureFixture[str],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    code, out = cli(capsys, monkeypatch, "image", "info", str(images["captured.xz"]), "--no-sha256")
    assert code == 0 and "os: Debian GNU/Linux 12 (bookworm)" in out and "first boot: firstrun" in out
    assert "WARNING: no cgroup_enable=memory" in out
    code, out = cli(capsys, monkeypatch, "image", "info", str(images["trixie-2025-10-01.xz"]),
                    "--no-sha256")
    assert code == 0 and "first boot: unknown" in out and "2025-11-24" in out


_ODD = ["", "\n", "'", '"', "$", "#", ": ", "\\", ";", " ", "é", "📶", "-", "A", "9", "$(x)"]


@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(hostname=st.lists(st.sampled_from(_ODD + ["red"]), max_size=4).map("".join),
       user=st.lists(st.sampled_from(_ODD + ["ada"]), min_size=1, max_size=3).map("".join),
       ssid=st.lists(st.sampled_from(_ODD + ["lab"]), min_size=1, max_size=5).map("".join))
@example(hostname="--", user="ada", ssid="lab")  # argparse turned `--hostname=--` into []
def test_cli_values_round_trip_or_exit_2_with_nothing_written(
        images: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch, hostname: str, user: str, ssid: str) -> None:
    from cloudmesh.swarm.image import customize

    for kind in ("cloud-init", "firstrun"):
        card = tmp_path / f"{kind}.img"
        if not card.exists():
            shutil.copy(images[kind], card)
        before = sha(card)
        code, out = cli(capsys, monkeypatch, "image", "customize", str(card), f"--hostname={hostname}",
                        f"--user={user}", "--ssh-key", str(images["key"]), f"--wifi-ssid={ssid}",
                        "--wifi-country", "DE", "--wifi-password-stdin", stdin="wifi-pass-123\n")
        try:
            customize.settings(hostname=hostname, user=user, password_hash=None,
                               ssh_keys=[images["key"].read_text().strip()], wifi_ssid=ssid,
                               wifi_psk="0" * 64, wifi_country="DE", timezone=None)
        except customize.ImageInputError as error:
            assert code == 2 and len(out.strip().splitlines()) == 1, out
            assert out.strip().endswith(str(error)) and sha(card) == before
            continue
        assert code == 0, out
        fat = Fat(card, BOOT)
        if kind == "cloud-init":
            data = YAML(typ="safe").load(fat.read("user-data"))
            network = YAML(typ="safe").load(fat.read("network-config"))
            assert data["hostname"] == hostname.lower() and data["user"]["name"] == user
            assert list(network["network"]["wifis"]["wlan0"]["access-points"]) == [ssid]
        else:
            import shlex

            script = (fat.read("firstrun.sh") or b"").decode()
            assert f"set_hostname {shlex.quote(hostname.lower())}" in script
            assert f"userconf {shlex.quote(user)} " in script
            assert shlex.quote(ssid) in script or "ssid=" + "".join(
                f"{b};" for b in ssid.encode()) in script
