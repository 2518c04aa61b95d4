"""Benchmark `lab up` per kind of host; writes its section of bench/results.md.

For each kind (release/arch): the image build (only with --rebuild: the cached image is
removed first), then `lab up N` from nothing with the image cached (boot to sshd and host
keys read), then `lab down`.

Usage: python bench/bench_lab.py [N=3] [--kinds bookworm/amd64,trixie/amd64,bookworm/arm64]
       [--rebuild]   (needs what scripts/setup-host.sh sets up)
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from results_md import write_section  # bench/, beside this script

HERE = Path(__file__).resolve().parent
CMS_SWARM = str(Path(sys.executable).with_name("cms-swarm"))
LAB = ("--name", "benchlab", "--subnet", "10.77.203.0/24")
BEGIN, END = "<!-- bench_lab: begin -->", "<!-- bench_lab: end -->"


def timed(*args: str) -> float:
    started = time.perf_counter()
    done = subprocess.run([CMS_SWARM, *args], capture_output=True, text=True, timeout=3600, check=False)
    if done.returncode != 0:
        sys.exit(f"cms-swarm {' '.join(args)} failed ({done.returncode}):\n{done.stderr}")
    return time.perf_counter() - started


def build(release: str, arch: str) -> float:
    """Seconds to build the kind's image from nothing (debootstrap + import)."""
    from cloudmesh.swarm.lab import image

    kind = image.Kind(release, arch)
    client = image.engine()
    if image.cached(client, kind):
        client.images.remove(kind.image, force=True)
    started = time.perf_counter()
    image.ensure(client, kind, say=lambda _: None)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("count", nargs="?", type=int, default=3)
    parser.add_argument("--kinds", default="bookworm/amd64,trixie/amd64,bookworm/arm64")
    parser.add_argument("--rebuild", action="store_true", help="also time each image build")
    parser.add_argument("-o", "--output", default=str(HERE / "results.md"))
    args = parser.parse_args()
    os.environ["CMS_SWARM_HOME"] = tempfile.mkdtemp(prefix="cms-swarm-bench-")
    rows = []
    for kind in args.kinds.split(","):
        release, arch = kind.split("/")
        built = build(release, arch) if args.rebuild else None
        subprocess.run([CMS_SWARM, "lab", "down", *LAB], capture_output=True, timeout=600, check=False)
        try:
            up = timed("lab", "up", str(args.count), "--os", release, "--arch", arch, *LAB)
        finally:
            subprocess.run([CMS_SWARM, "lab", "down", *LAB], capture_output=True, timeout=600, check=False)
        rows.append((kind, built, up))
        print(f"{kind}: build {built and f'{built:.0f} s'}, lab up {up:.1f} s", flush=True)
    write(args, rows)


def write(args: argparse.Namespace, rows: list[tuple[str, float | None, float]]) -> None:
    lines = "\n".join(f"| {kind} | {'' if built is None else f'{built:.0f}'} | {up:.1f} |"
                      for kind, built, up in rows)
    section = f"""{BEGIN}
## `lab up {args.count}` per kind of host

Written by `python bench/bench_lab.py {args.count} --kinds {args.kinds}{' --rebuild' if args.rebuild else ''}`
on {time.strftime('%Y-%m-%d %H:%M')} ({os.cpu_count()} cores). Build: debootstrap and import of
the kind's image (once per machine and recipe; empty when not re-measured). Up: from no hosts
to {args.count} hosts answering on SSH with their keys read, image cached.

| kind | image build (s) | lab up {args.count} (s) |
|---|---:|---:|
{lines}
{END}"""
    write_section(Path(args.output), BEGIN, END, section)
    print(section)


if __name__ == "__main__":
    main()
