"""Benchmark `create` against the floor, in one run on fresh lab hosts; writes bench/results.md.

floor:  plain parallel `apt-get update && apt-get install --no-install-recommends docker.io`
        over ssh on N fresh hosts (what installing Docker costs at best; dpkg on shared CPUs)
create: `cms-swarm create` on N other fresh hosts (check, install, swarm, verify, status)
no-op:  `cms-swarm create` again (nothing to change), with and without --skip-verify

Usage: python bench/bench_create.py [N=3] [--runs R] [--os bookworm|trixie]
(needs what scripts/setup-host.sh sets up; each release has its own section of results.md)
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from results_md import write_section  # bench/, beside this script

HERE = Path(__file__).resolve().parent
CMS_SWARM = str(Path(sys.executable).with_name("cms-swarm"))
LAB = ("--name", "bench", "--subnet", "10.77.202.0/24")


def cli(*args: str, check: bool = True) -> tuple[float, subprocess.CompletedProcess[str]]:
    """Run cms-swarm; (seconds, result)."""
    started = time.perf_counter()
    done = subprocess.run([CMS_SWARM, *args], capture_output=True, text=True, timeout=1200, check=False)
    seconds = time.perf_counter() - started
    if check and done.returncode != 0:
        sys.exit(f"cms-swarm {' '.join(args)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return seconds, done


def fresh_lab(count: int, release: str) -> Path:
    cli("lab", "down", *LAB)
    _, done = cli("lab", "up", str(count), "--os", release, *LAB)
    return Path(done.stdout.strip().splitlines()[-1])


# What gives a working `docker` at best: on trixie docker.io only recommends docker-cli.
FLOOR_PACKAGES = {"bookworm": "docker.io", "trixie": "docker.io docker-cli"}


def floor(inventory: Path, count: int, release: str) -> float:
    """Parallel apt over plain ssh, one process per host; seconds until the last finishes."""
    directory = inventory.parent
    install = ("sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install "
               f"-y -qq --no-install-recommends {FLOOR_PACKAGES[release]} >/dev/null")
    started = time.perf_counter()
    procs = [subprocess.Popen(
        ["ssh", "-i", str(directory / "id_ed25519"), "-o", "IdentitiesOnly=yes",
         "-o", f"UserKnownHostsFile={directory / 'known_hosts'}", "-o", "StrictHostKeyChecking=yes",
         f"pi@10.77.202.{10 + i}", install]) for i in range(1, count + 1)]
    codes = [p.wait(timeout=900) for p in procs]
    seconds = time.perf_counter() - started
    if any(codes):
        sys.exit(f"floor: apt over ssh failed: exit codes {codes}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("count", nargs="?", type=int, default=3)
    parser.add_argument("--runs", type=int, default=1, help="fresh-host rounds (median reported)")
    parser.add_argument("--os", default="bookworm", choices=sorted(FLOOR_PACKAGES),
                        help="release of the lab hosts")
    parser.add_argument("-o", "--output", default=str(HERE / "results.md"))
    args = parser.parse_args()
    os.environ["CMS_SWARM_HOME"] = tempfile.mkdtemp(prefix="cms-swarm-bench-")
    rows: dict[str, list[float]] = {k: [] for k in
                                    ("floor", "create", "noop", "noop_skip_verify", "status")}
    try:
        for round_ in range(args.runs):
            inventory = fresh_lab(args.count, args.os)
            rows["floor"].append(floor(inventory, args.count, args.os))
            inventory = fresh_lab(args.count, args.os)
            rows["create"].append(cli("create", "-i", str(inventory), "-q")[0])
            rows["noop"].append(cli("create", "-i", str(inventory), "-q")[0])
            rows["noop_skip_verify"].append(cli("create", "-i", str(inventory), "-q",
                                                "--skip-verify")[0])
            rows["status"].append(cli("status", "-i", str(inventory))[0])
            print(f"round {round_ + 1}: " + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in rows.items()),
                  flush=True)
    finally:
        cli("lab", "down", *LAB, check=False)
    write(args, {k: statistics.median(v) for k, v in rows.items()})


def write(args: argparse.Namespace, t: dict[str, float]) -> None:
    """Replace this script's section of results.md for this release (others keep theirs)."""
    tag = "bench_create" if args.os == "bookworm" else f"bench_create {args.os}"
    begin, end = f"<!-- {tag}: begin -->", f"<!-- {tag}: end -->"
    engine = subprocess.run(["docker", "version", "--format", "{{.Server.Version}}"],
                            capture_output=True, text=True, check=False).stdout.strip()
    section = f"""{begin}
## create vs. the floor ({args.count} fresh {args.os} lab hosts)

Written by `python bench/bench_create.py {args.count} --runs {args.runs} --os {args.os}` on
{time.strftime('%Y-%m-%d %H:%M')} ({os.cpu_count()} cores, engine {engine}); medians of
{args.runs} round(s). Each round uses new, fresh lab hosts for the floor and for create.

| what | seconds | ratio |
|---|---:|---:|
| floor: parallel `apt-get update && apt-get install {FLOOR_PACKAGES[args.os]}` over ssh | {t['floor']:.2f} | 1.00 |
| `create` on fresh hosts (check, install, swarm, verify, status) | {t['create']:.2f} | {t['create'] / t['floor']:.2f} x floor |
| `create` again, nothing to change | {t['noop']:.2f} | |
| `create --skip-verify` again, nothing to change | {t['noop_skip_verify']:.2f} | |
| `status` | {t['status']:.2f} | |

Aim: create within 1.2x of the floor, no-op re-run <= 1 s.
{end}"""
    write_section(Path(args.output), begin, end, section)
    print(section)


if __name__ == "__main__":
    main()
