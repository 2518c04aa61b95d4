"""Benchmark `image burn` against the floor on this machine; writes its section of bench/results.md.

burn (xz):  `cms-swarm image burn IMG.xz --device FILE --no-verify`  vs  `xz -dc IMG.xz | dd bs=4M conv=fsync`
burn (raw): `cms-swarm image burn IMG --device FILE --no-verify`     vs  `dd if=IMG bs=4M conv=fsync`
verify:     the read-back phase of `image burn` (cache dropped)     vs  `sha256sum FILE` (cache dropped)
memory:     peak RSS of a whole `image burn IMG.xz` with verify (wait4 of that process)

The 1 GiB image (600 MiB of real files from /usr, 100 MiB random, the rest zeros, like a Pi
OS image's mix) and its .xz (xz -6) are made once in --cache and reused. Timings include the
CLI's start-up. Aim (issue 5): burn within 1.2x, verify within 1.2x, RSS < 100 MB.

Usage: python bench/bench_image.py [--runs R] [--fast-runs F] [--cache DIR] [--size-mb N]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

from results_md import write_section  # bench/, beside this script

HERE = Path(__file__).resolve().parent
CMS_SWARM = str(Path(sys.executable).with_name("cms-swarm"))
BEGIN, END = "<!-- bench_image: begin -->", "<!-- bench_image: end -->"


def make_image(cache: Path, size_mb: int) -> tuple[Path, Path]:
    cache.mkdir(parents=True, exist_ok=True)
    image = cache / f"bench-{size_mb}m.img"
    packed = Path(f"{image}.xz")
    if not image.exists() or image.stat().st_size != size_mb << 20:
        print(f"making {image} ...", file=sys.stderr)
        files_mb, random_mb = size_mb * 600 // 1024, size_mb * 100 // 1024
        with open(image, "wb") as out:
            tar = subprocess.Popen(["tar", "cf", "-", "/usr/lib", "/usr/share"], stdout=subprocess.PIPE,
                                   stderr=subprocess.DEVNULL)
            assert tar.stdout is not None
            left = files_mb << 20
            while left and (chunk := tar.stdout.read(min(left, 4 << 20))):
                out.write(chunk)
                left -= len(chunk)
            tar.kill()
            tar.wait()
            out.write(os.urandom((random_mb << 20) + left))
            out.truncate(size_mb << 20)
        packed.unlink(missing_ok=True)
    if not packed.exists():
        print(f"compressing {packed} (xz -6, once) ...", file=sys.stderr)
        subprocess.run(["xz", "-T0", "-6", "-k", "-f", str(image)], check=True)
    return image, packed


def drop_cache(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def timed(argv: list[str], *, shell: bool = False) -> tuple[float, str, float]:
    """(seconds, output, peak RSS in MB of the process itself); dirty pages of earlier runs
    are written out first so they do not land on this run's fsync."""
    os.sync()
    time.sleep(0.5)
    started = time.perf_counter()
    proc = subprocess.Popen(argv if not shell else " ".join(argv), shell=shell,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    output = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        sys.exit(f"{argv} failed: {output}")
    return seconds, output, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="rounds of the .xz burns")
    parser.add_argument("--fast-runs", type=int, default=9, help="rounds of the raw burns")
    parser.add_argument("--cache", type=Path, default=Path("/var/tmp/cms-swarm-bench-image"))
    parser.add_argument("--size-mb", type=int, default=1024)
    args = parser.parse_args()
    image, packed = make_image(args.cache, args.size_mb)
    out = args.cache / "target.img"
    rows: dict[str, list[float]] = {k: [] for k in (
        "floor_xz", "burn_xz", "floor_raw", "burn_raw", "floor_sha", "verify")}
    rss_mb = 0.0
    for round_ in range(args.runs):
        print(f"xz round {round_ + 1}/{args.runs}", file=sys.stderr)
        timed(["cat", str(packed), ">/dev/null"], shell=True)  # input warm for both sides
        out.unlink(missing_ok=True)
        rows["floor_xz"].append(timed([(f"xz -dc {packed} | dd of={out} bs=4M conv=fsync "
                                       "status=none")], shell=True)[0])
        out.unlink(missing_ok=True)
        rows["burn_xz"].append(timed([CMS_SWARM, "image", "burn", str(packed), "--device",
                                      str(out), "--yes", "-q", "--no-verify"])[0])
        out.unlink(missing_ok=True)
        _, said, rss = timed([CMS_SWARM, "image", "burn", str(packed), "--device", str(out),
                              "--yes", "-q"])
        rss_mb = max(rss_mb, rss)
        found = re.search(r"verified in ([0-9.]+) s", said)
        assert found, said
        rows["verify"].append(float(found.group(1)))
        drop_cache(out)
        rows["floor_sha"].append(timed(["sha256sum", str(out)])[0])
    for round_ in range(args.fast_runs):  # short runs on a noisy shared disk: more of them
        print(f"raw round {round_ + 1}/{args.fast_runs}", file=sys.stderr)
        timed(["cat", str(image), ">/dev/null"], shell=True)
        out.unlink(missing_ok=True)
        rows["floor_raw"].append(timed([f"dd if={image} of={out} bs=4M conv=fsync status=none"],
                                       shell=True)[0])
        out.unlink(missing_ok=True)
        seconds, _, rss = timed([CMS_SWARM, "image", "burn", str(image), "--device", str(out),
                                 "--yes", "-q", "--no-verify"])
        rows["burn_raw"].append(seconds)
        rss_mb = max(rss_mb, rss)
    out.unlink(missing_ok=True)
    med = {k: statistics.median(v) for k, v in rows.items()}
    size = f"{args.size_mb / 1024:.0f} GiB" if args.size_mb >= 1024 else f"{args.size_mb} MiB"
    lines = [BEGIN, f"## image burn vs. xz | dd and sha256sum ({size} image)", "",
             (f"Written by `python bench/bench_image.py --runs {args.runs} --fast-runs {args.fast_runs}` on "
             f"{time.strftime('%Y-%m-%d %H:%M')} ({os.cpu_count()} cores, target a file on "
             f"the root disk); medians of {args.runs} rounds (.xz, verify) and {args.fast_runs} "
             "(raw), whole CLI runs (start-up included), disk caches flushed between runs."), "",
             "| what | floor (s) | cms-swarm (s) | ratio |", "|---|---:|---:|---:|",
             (f"| burn `.img.xz` (xz -6): `xz -dc \\| dd bs=4M conv=fsync` vs `image burn --no-verify` "
             f"| {med['floor_xz']:.2f} | {med['burn_xz']:.2f} | {med['burn_xz'] / med['floor_xz']:.2f} x |"),
             (f"| burn raw `.img`: `dd bs=4M conv=fsync` vs `image burn --no-verify` "
             f"| {med['floor_raw']:.2f} | {med['burn_raw']:.2f} | {med['burn_raw'] / med['floor_raw']:.2f} x |"),
             (f"| verify (cache dropped): `sha256sum` vs the read-back phase of `image burn` "
             f"| {med['floor_sha']:.2f} | {med['verify']:.2f} | {med['verify'] / med['floor_sha']:.2f} x |"),
             "", f"Peak RSS of any `cms-swarm image burn` run (incl. .xz with verify): {rss_mb:.0f} MB.",
             "",
             "Aim: burn and verify within 1.2x of the floor, RSS < 100 MB whatever the size.", END]
    section = "\n".join(lines)
    print(section)
    write_section(HERE / "results.md", BEGIN, END, section)


if __name__ == "__main__":
    main()
