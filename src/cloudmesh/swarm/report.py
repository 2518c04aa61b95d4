"""Everything the user sees: live per-host progress, plans, problems, tables, JSON.

The only module that prints (and the only one that imports rich). Secrets never get
here as values: steps show `***`, and every text passes through `redact` as well.
"""

from __future__ import annotations

import json
import sys
from typing import Any, TextIO

from rich.console import Console
from rich.live import Live
from rich.markup import escape
from rich.table import Table

from cloudmesh.swarm.errors import SwarmError
from cloudmesh.swarm.plan import Check, Plan, Problem, Secret, Step, printable, redact


def clean(text: object) -> str:
    """Text from a host made safe to print: no terminal escapes or control characters, secrets
    masked, rich markup escaped (`[/]` in a hostname is text, not a closing tag)."""
    return escape(printable(str(text)))


def arch_text(node: dict[str, Any]) -> str:
    """The package architecture, and the kernel's where it differs (armhf/aarch64)."""
    arch, machine = node.get("arch") or "", node.get("machine") or ""
    same = {"aarch64": "arm64", "x86_64": "amd64", "armv7l": "armhf", "armv6l": "armhf"}
    return f"{arch}/{machine}" if machine and same.get(machine, machine) != arch else arch


def short_model(model: str) -> str:
    """Raspberry Pi 4 Model B Rev 1.4 -> Pi 4 B r1.4 (the JSON keeps the whole string)."""
    return model.replace("Raspberry Pi", "Pi").replace(" Model ", " ").replace(" Rev ", " r")


SHORT_FLAGS = {"under-voltage": "undervolt", "arm frequency capped": "capped",
               "throttled": "throttled", "soft temperature limit": "soft-temp"}


def throttle_text(throttled: dict[str, Any] | None) -> str:
    """get_throttled in short words: NOW what holds, `was` what happened since boot; ok."""
    if not throttled:
        return ""
    now = [SHORT_FLAGS[f] for f in throttled["now"]]
    before = [SHORT_FLAGS[f] for f in throttled["since_boot"] if f not in throttled["now"]]
    parts = ([f"NOW {'+'.join(now)}"] if now else []) + ([f"was {'+'.join(before)}"] if before else [])
    return ", ".join(parts) or "ok"


class Reporter:
    """Progress and results; `quiet` keeps errors and the summary, `verbose` adds commands."""

    def __init__(self, quiet: bool = False, verbose: bool = False, file: TextIO | None = None,
                 err: TextIO | None = None, live: bool | None = None,
                 json_file: TextIO | None = None) -> None:
        self.quiet = quiet
        # --json: the one document goes here (stdout); human output was sent to stderr
        self.json_file = json_file
        self.result: dict[str, Any] = {}  # a command's own --json result (backup: path, sha256)
        self.steps: dict[str, list[str]] = {}  # per host, what ran (or would run: dry run)
        self.warnings: dict[str, list[str]] = {}
        self.verbose = verbose
        self.console = Console(file=file or sys.stdout, highlight=False, soft_wrap=True)
        self.err = Console(file=err or sys.stderr, highlight=False, soft_wrap=True)
        if not self.console.is_terminal:
            self.console.width = 160  # a pipe or a log file: do not squeeze tables to 80 columns
        use_live = self.console.is_terminal if live is None else live
        self._live: Live | None = None
        self._activity: dict[str, tuple[str, str]] = {}
        self._use_live = use_live and not quiet
        self._phase = ""
        self._reasons: dict[str, str] = {}

    # -- live view -----------------------------------------------------------------------
    def _table(self) -> Table:
        table = Table(box=None, show_header=True, header_style="bold")
        table.add_column("host")
        table.add_column("phase")
        table.add_column("doing")
        for host, (phase, doing) in self._activity.items():
            table.add_row(clean(host), clean(phase), clean(doing))
        return table

    def _set(self, host: str, doing: str) -> None:
        self._activity[host] = (self._phase, doing)
        if self._live is not None:
            self._live.update(self._table())

    def line(self, text: str) -> None:
        """One plain line (also used above the live view)."""
        if not self.quiet:
            self.console.print(clean(text))

    def close(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None

    # -- events from the runner ----------------------------------------------------------
    def phase(self, title: str, hosts: list[str]) -> None:
        self._phase = title
        if self._use_live:
            if self._live is None:
                self._live = Live(self._table(), console=self.console, refresh_per_second=8,
                                  transient=True)
                self._live.start()
            for host in hosts:
                self._set(host, "starting")
        elif not self.quiet:
            self.console.print(f"[bold]== {clean(title)}[/bold] ({len(hosts)} hosts)")

    def step(self, host: str, step: Step | Check, dry_run: bool = False) -> None:
        self.steps.setdefault(host, []).append(step.description)
        if dry_run:
            self.line(f"{host}: would {step.description}: {step.shown()}")
            return
        if self._use_live:
            self._set(host, step.description)
        elif not self.quiet:
            self.line(f"{host}: {step.description}")
        if self.verbose:
            self.line(f"{host}:   $ {step.shown()}")

    def plan(self, host: str, phase: str, plan: Plan, dry_run: bool = False) -> None:
        if dry_run:
            if not plan.steps:
                self.line(f"{host}: nothing to do ({plan.reason})")
            for step in plan.steps:
                self.step(host, step, dry_run=True)
        elif not plan.steps and not self._use_live:
            if self.verbose:
                self.line(f"{host}: unchanged ({plan.reason})")
        elif not plan.steps:
            self._set(host, f"unchanged ({plan.reason})")
        if not plan.steps:
            self._reasons.setdefault(host, plan.reason)

    def problem(self, host: str, problem: Problem) -> None:
        kind = "warning" if problem.warning else "problem"
        text = f"{host}: {kind}: {problem}"
        if problem.warning:
            self.warnings.setdefault(host, []).append(redact(str(problem)))
        if problem.warning and self.quiet:
            return
        if self._live is not None:
            self._live.console.print(clean(text))
        else:
            (self.console if problem.warning else self.err).print(clean(text))

    def host_failed(self, host: str, error: SwarmError) -> None:
        self._set(host, "FAILED")
        text = redact(str(error))
        if not text.startswith(f"{host}:"):
            text = f"{host}: {text}"
        if self._live is not None:
            self._live.console.print(f"[red]{clean(text)}[/red]")
        else:
            self.err.print(clean(text))

    def host_done(self, host: str, phase: str, changed: bool, note: str = "") -> None:
        reason = self._reasons.pop(host, "")
        word = "changed" if changed else (reason or "ok")
        text = f"{host}: {phase}: {word}" + (f" ({note})" if note else "")
        if self._use_live:
            self._set(host, word + (f" ({note})" if note else ""))
            if self._live is not None:
                self._live.console.print(clean(text))
        elif not self.quiet:
            self.line(text)

    def unlock_key(self, key: Secret) -> None:
        """The one place a secret is shown: the unlock key, once, when autolock turns on."""
        self.close()
        self.console.print(f"swarm unlock key: {key.reveal()}")
        self.err.print("warning: store this key safely now (a password manager): locked managers "
                       "need it after a restart (`cms-swarm unlock`); it is not shown again and "
                       "not logged. A manager shows it with: sudo docker swarm unlock-key -q")

    def error(self, text: str) -> None:
        self.close()
        self.err.print(f"error: {clean(text)}")

    def summary(self, failed: list[str], changed: list[str], total: int, dry_run: bool) -> None:
        self.close()
        if dry_run:
            self.line("dry run: nothing was changed")
        elif failed:
            self.err.print(f"failed on {len(failed)} of {total} hosts: {clean(', '.join(failed))}")
        elif not self.quiet or changed:
            what = f"changed {len(changed)}" if changed else "nothing changed"
            self.console.print(f"done: {total} hosts ok, {what}")

    def document(self, data: dict[str, Any]) -> None:
        """--json: the command's one JSON document (secrets masked as everywhere)."""
        self.close()
        out = self.json_file or sys.stdout
        out.write(redact(json.dumps(data, indent=2)) + "\n")
        out.flush()

    def services(self, services: list[dict[str, Any]]) -> None:
        """`services`: one row per service (the JSON has the same fields)."""
        table = Table(title="services")
        for column in ("service", "mode", "replicas", "image", "ports", "nodes", "error"):
            table.add_column(column)
        for svc in services:
            table.add_row(*(clean(cell) for cell in (
                svc["name"], svc["mode"], f"{svc['running']}/{svc['desired']}", svc["image"],
                svc["ports"], ", ".join(svc["nodes"]), svc["error"] or "")))
        self.console.print(table)

    # -- status --------------------------------------------------------------------------
    def status(self, data: dict[str, Any], as_json: bool) -> None:
        self.close()
        if as_json:
            self.console.file.write(json.dumps(data, indent=2) + "\n")
            return
        swarm = data["swarm"]
        table = Table(title=clean(f"cluster {data['cluster']}: "
                      + (f"swarm {swarm['id'][:12]}, {swarm['managers']} managers, "
                         f"{swarm['nodes']} nodes" if swarm else "no swarm")))
        boards = any(node.get("model") for node in data["nodes"])
        columns = ["host", "address", "role", "leader", "state", "availability", "engine", "arch", "memory"]
        for column in columns + (["model", "temp", "power", "root"] if boards else []):
            table.add_column(column)
        for node in data["nodes"]:
            row = [node["host"], node["address"] or "", node["role"] or "",
                   "yes" if node["leader"] else "", node["state"],
                   node["availability"] or "", node["engine"] or "", arch_text(node),
                   f"{node['memory_mb'] / 1024:.1f} GB" if node.get("memory_mb") else ""]
            if boards:
                temp = node.get("temperature_c")
                row += [short_model(node.get("model") or ""),
                        f"{temp:.0f}°C" if temp is not None else "", throttle_text(node.get("throttled")),
                        node.get("root_device") or ""]
            table.add_row(*(clean(cell) for cell in row))
        self.console.print(table)
        for node in data["nodes"]:
            throttled = node.get("throttled")
            if throttled and throttled["now"]:
                self.console.print(clean(
                    f"{node['host']}: warning: {', '.join(throttled['now'])} now (get_throttled "
                    f"{throttled['value']}): check the power supply and cooling"))
        if swarm:
            lost = clean(", ".join(swarm["unreachable_managers"]))
            self.console.print(
                f"quorum: {'holds' if swarm['quorum'] else 'LOST'} ({swarm['reachable_managers']} of "
                f"{swarm['managers']} managers reachable; can lose {swarm['tolerates']} more)"
                + (f"; unreachable managers: {lost}" if lost else ""))
