"""capture and --shrink end to end on this machine: the same code as over SSH, with a local
transport that runs the host's commands here (real dd, real files, real e2fsprogs)."""

from __future__ import annotations

import asyncio
import hashlib
import lzma
import shutil
import subprocess
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from cloudmesh.swarm.image import capture, ext4, mbr, shrink, synthetic
from cloudmesh.swarm.image.errors import ImageError, ImageInputError
from cloudmesh.swarm.transport import Result

pytestmark = pytest.mark.skipif(not shutil.which("mcopy") or not shutil.which("debugfs"),
                                reason="needs mtools and e2fsprogs (scripts/setup-host.sh)")


class LocalTransport:
    """Runs commands with sh on this machine; only for tests of the capture logic."""

    name = "local"

    async def run(self, command: str, *, sudo: bool = False, stdin: str = "",
                  timeout: float = 60.0) -> Result:
        proc = await asyncio.create_subprocess_exec("sh", "-c", command,
                                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
        return Result(proc.returncode, out.decode(), err.decode())

    async def stream_out(self, command: str, sink: Callable[[bytes], Awaitable[None] | None], *,
                         sudo: bool = False, timeout: float | None = None) -> Result:
        proc = await asyncio.create_subprocess_exec("sh", "-c", command,
                                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert proc.stdout is not None and proc.stderr is not None
        while data := await proc.stdout.read(1 << 20):
            done = sink(data)
            if done is not None:
                await done
        err = await proc.stderr.read()
        return Result(await proc.wait(), "", err.decode())


def run_capture(card: Path, output: Path, **options: object) -> capture.Captured:
    return asyncio.run(capture.capture(LocalTransport(), str(card), output, quiet=True,
                                       say=lambda _: None, **options))  # type: ignore[arg-type]


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture(scope="module")
def card(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return synthetic.build(tmp_path_factory.mktemp("card") / "card.img", "firstrun",
                           size_mb=96, data_mb=6)


@pytest.mark.parametrize("suffix", [".img.xz", ".img.gz", ".img"])
def test_capture_gives_the_card_back(card: Path, tmp_path: Path, suffix: str) -> None:
    output = tmp_path / f"cap{suffix}"
    done = run_capture(card, output)
    data = output.read_bytes()
    raw = {".img.xz": lzma.decompress, ".img.gz": __import__("gzip").decompress}.get(
        suffix, lambda b: b)(data)
    assert raw == card.read_bytes()
    assert done.card_size == done.image_size == card.stat().st_size
    assert Path(f"{output}.sha256").read_text() == f"{sha(data)}  {output.name}\n"
    assert not list(tmp_path.glob(".*"))  # no temporary files left


def test_capture_refuses_to_overwrite_and_bad_names(card: Path, tmp_path: Path) -> None:
    out = tmp_path / "x.img.xz"
    out.write_text("keep")
    with pytest.raises(ImageInputError, match="exists"):
        capture.check_output(out, force=False)
    with pytest.raises(ImageInputError, match="must end in"):
        capture.check_output(tmp_path / "x.tar", force=False)
    for bad in ("dev/sda", "/dev/sd a", "/dev/../etc/passwd", "/dev/x;reboot"):
        with pytest.raises(ImageInputError, match="--device"):
            capture.check_device(bad)
    with pytest.raises(ImageError, match="does not exist"):
        run_capture(tmp_path / "missing.img", tmp_path / "y.img.xz")
    assert out.read_text() == "keep"


def test_capture_shrink_is_smaller_checks_clean_and_grows_on_first_boot(card: Path,
                                                                        tmp_path: Path) -> None:
    output = tmp_path / "small.img.xz"
    done = run_capture(card, output, shrink=True, margin_mb=4)
    small = lzma.decompress(output.read_bytes())
    assert len(small) < card.stat().st_size and done.image_size == len(small)
    assert done.grows
    table = mbr.parse(small[:512])
    last = table.last()
    assert last is not None and last.end == len(small)
    original = mbr.parse(card.read_bytes()[:512])
    assert table.disk_id == original.disk_id  # PARTUUIDs in cmdline.txt/fstab stay valid
    assert small[:original.partitions[1].offset][512:] == card.read_bytes()[512:last.offset]
    part = tmp_path / "root.ext4"
    part.write_bytes(small[last.offset:])
    ext4.run([ext4.tool("e2fsck"), "-fn", str(part)], "e2fsck -fn")  # raises unless clean
    assert ext4.read_file(part, 0, "/etc/os-release") == ext4.read_file(
        card, original.partitions[1].offset, "/etc/os-release")
    assert ext4.read_file(part, 0, "/var/lib/data.bin") == ext4.read_file(
        card, original.partitions[1].offset, "/var/lib/data.bin")
    assert ext4.read_file(part, 0, shrink.SCRIPT_PATH) == shrink.GROW_SCRIPT.encode()
    assert ext4.exists(part, 0, shrink.WANTS_LINK)
    stat = subprocess.run([ext4.tool("debugfs"), "-R", f"stat {shrink.SCRIPT_PATH}", str(part)],
                          capture_output=True, text=True, check=True).stdout
    assert "Mode:  0755" in stat and "User:     0" in stat


def test_shrink_refuses_a_card_without_linux_last_partition(tmp_path: Path) -> None:
    odd = tmp_path / "odd.img"
    with open(odd, "wb") as handle:
        handle.truncate(8 << 20)
        handle.write(mbr.build([mbr.Partition(1, 0x0C, 2048, 4096)], 1))
    with pytest.raises(ImageError, match="not a Linux partition"):
        run_capture(odd, tmp_path / "o.img.xz", shrink=True)
    assert not (tmp_path / "o.img.xz").exists() and not list(tmp_path.glob(".*"))
