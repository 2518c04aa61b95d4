"""Day-two timings on fresh lab hosts; writes its section of bench/results.md.

status and a no-op `create --skip-verify` at N = 3, 6 and 12 hosts (they should stay nearly
flat in N: one connection and one probe per host, all hosts at once), and `add` / `remove`
of one host on a 3-host swarm.

Usage: python bench/bench_daytwo.py [--sizes 3,6,12] [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from bench_create import HERE, cli  # same directory
from results_md import write_section

LAB = ("--name", "benchd", "--subnet", "10.77.205.0/24")
BEGIN, END = "<!-- bench_daytwo: begin -->", "<!-- bench_daytwo: end -->"


def median_of(runs: int, *args: str) -> float:
    return statistics.median(cli(*args)[0] for _ in range(runs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="3,6,12")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("-o", "--output", default=str(HERE / "results.md"))
    args = parser.parse_args()
    os.environ["CMS_SWARM_HOME"] = tempfile.mkdtemp(prefix="cms-swarm-bench-")
    sizes = [int(n) for n in args.sizes.split(",")]
    rows: dict[int, dict[str, float]] = {}
    membership: dict[str, float] = {}
    try:
        for n in sizes:
            cli("lab", "down", *LAB)
            inventory = Path(cli("lab", "up", str(n), *LAB)[1].stdout.strip())
            rows[n] = {"create": cli("create", "-i", str(inventory), "-q", "--skip-verify")[0]}
            rows[n]["status"] = median_of(args.runs, "status", "-i", str(inventory))
            rows[n]["noop"] = median_of(args.runs, "create", "-i", str(inventory), "-q", "--skip-verify")
            print(f"N={n}: " + ", ".join(f"{k} {v:.2f} s" for k, v in rows[n].items()), flush=True)
            if n == 3:
                three = inventory.read_text()
                cli("lab", "up", "4", *LAB)
                inventory.write_text(three)
                membership["add"] = cli("add", "pi4=10.77.205.14", "-i", str(inventory), "-q")[0]
                membership["remove"] = cli("remove", "pi4", "-i", str(inventory), "-q")[0]
                print(f"add {membership['add']:.2f} s, remove {membership['remove']:.2f} s", flush=True)
    finally:
        cli("lab", "down", *LAB, check=False)
    write(args, rows, membership)


def write(args: argparse.Namespace, rows: dict[int, dict[str, float]], membership: dict[str, float]) -> None:
    first, last = min(rows), max(rows)
    lines = [f"| {n} | {r['create']:.1f} | {r['status']:.2f} | {r['noop']:.2f} |" for n, r in sorted(rows.items())]
    section = f"""{BEGIN}
## Day two: status and no-op create against N, add and remove

Written by `python bench/bench_daytwo.py --sizes {args.sizes} --runs {args.runs}` on
{time.strftime('%Y-%m-%d %H:%M')} ({os.cpu_count()} cores); status and no-op are medians of {args.runs}.

| N hosts | fresh create --skip-verify (s) | status (s) | no-op create --skip-verify (s) |
|---:|---:|---:|---:|
{chr(10).join(lines)}

Ratio N={last} / N={first}: status {rows[last]['status'] / rows[first]['status']:.2f}x, no-op create
{rows[last]['noop'] / rows[first]['noop']:.2f}x.
`add` of one fresh host to 3 (check, install, join, inventory file): {membership.get('add', float('nan')):.2f} s;
`remove` of that host (drain, wait, leave, rm, inventory file): {membership.get('remove', float('nan')):.2f} s.
{END}"""
    write_section(Path(args.output), BEGIN, END, section)
    print(section)


if __name__ == "__main__":
    main()
