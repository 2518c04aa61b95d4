"""Facts in, steps out, as data: every tests/unit/data/plans/<phase>/<case>.yaml is one test.

A case gives each host's probe (probes.probe() arguments, recorded sections, overrides),
the inventory, the options and secrets; it expects the exact steps (description and the
command as --dry-run shows it) or no steps and the reason. data/plans/README.md has the format.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from cloudmesh.swarm import phases
from cloudmesh.swarm.facts import split_sections
from cloudmesh.swarm.inventory import Inventory
from cloudmesh.swarm.phase_context import Context
from cloudmesh.swarm.phases import Phase
from cloudmesh.swarm.phases.access import HardenPhase, KeysPhase
from cloudmesh.swarm.phases.backup import BackupPhase, RestorePhase
from cloudmesh.swarm.phases.membership import RemovePhase
from cloudmesh.swarm.phases.nodes import NodeOpsPhase
from cloudmesh.swarm.phases.tokens import AutolockPhase, RotateTokensPhase, UnlockPhase
from cloudmesh.swarm.plan import Plan, Secret, Step

from .harness import context, inventory
from .probes import node_row, probe, swarm_info

DATA = Path(__file__).parent / "data"
PLANS = DATA / "plans"

# `phase:` in a case (default: its directory) -> the phase, built from the case's `args:`; a
# module of phases/ that defines one Phase needs no entry (module_phase finds it)
PHASES: dict[str, Callable[..., Phase]] = {
    "keys": KeysPhase,
    "harden": HardenPhase,
    "rotate-tokens": RotateTokensPhase,
    "autolock": AutolockPhase,
    "unlock": UnlockPhase,
    "nodes": lambda op, targets=(), labels=(), force=False: NodeOpsPhase(
        op, tuple(targets), tuple(labels), force),
    "remove": lambda targets, force=False: RemovePhase(tuple(targets), force),
    "backup": BackupPhase,
    "restore": lambda data: RestorePhase(data.encode()),
}
# directories whose cases must name their phase (one directory per module of phases/)
DIRECTORIES = {"access": ("keys", "harden"), "tokens": ("rotate-tokens", "autolock", "unlock"),
               "membership": ("remove",), "identity": ("prepare",), "network": ("configure",),
               "backup": ("backup", "restore")}
CASE_KEYS = {"about", "phase", "args", "inventory", "options", "facts", "secrets", "clock_offsets",
             "host", "stage", "batches", "problems", "steps", "noop", "cleanup"}


def cases() -> list[Path]:
    return sorted(PLANS.glob("*/*.yaml"))


def load(path: Path) -> dict[str, Any]:
    case = YAML(typ="safe").load(path)
    assert isinstance(case, dict), f"{path}: a case is a mapping"
    unknown = set(case) - CASE_KEYS
    assert not unknown, f"{path}: unknown keys {sorted(unknown)} (see data/plans/README.md)"
    assert case.get("about"), f"{path}: say what the case shows in `about:`"
    assert "steps" in case or {"batches", "problems"} <= set(case), \
        f"{path}: expect `steps:` (or `batches:` and `problems:` only)"
    assert case.get("steps") != [] or case.get("noop"), f"{path}: no steps needs the `noop:` reason"
    return case


def host_probe(name: str, spec: dict[str, Any] | None) -> str:
    """One host's probe text from its case entry (see README.md: facts)."""
    spec = dict(spec or {})
    recorded = spec.pop("file", None)
    sections = spec.pop("sections", {}) or {}
    swarm = dict(spec.pop("swarm")) if spec.get("swarm") is not None else None
    nodes = spec.pop("nodes", None)
    spec.setdefault("hostname", name)
    if swarm is not None:
        known = {k: swarm.pop(k) for k in ("node", "manager", "cluster", "state") if k in swarm}
        info = swarm_info(known.pop("node"), known.pop("manager"), **known)
        spec["swarm"] = {**info, **swarm}
    if nodes is not None:
        rows = []
        for row in nodes:
            row = dict(row)
            known = {k: row.pop(k) for k in ("id", "hostname", "manager", "status", "me") if k in row}
            rows.append({**node_row(known.pop("id"), known.pop("hostname"), **known), **row})
        spec["nodes"] = rows
    parsed = split_sections(probe(**spec))
    parsed.pop("end", None)
    if recorded:
        parsed.update({k: v for k, v in split_sections((DATA / recorded).read_text()).items() if k != "end"})
    parsed.update({str(k): "" if v is None else str(v).rstrip("\n") for k, v in sections.items()})
    return "".join(f"=== {k} ===\n{v}\n" for k, v in parsed.items()) + "=== end ===\n"


def build(case: dict[str, Any]) -> Context:
    inv_spec = case.get("inventory") or {}
    if isinstance(inv_spec.get("hosts"), list):
        inv = Inventory.model_validate({"name": "t", **inv_spec})
    else:
        inv = inventory(int(inv_spec.get("hosts", len(case["facts"]))), **inv_spec.get("last", {}))
    options = dict(case.get("options") or {})
    if "become_password" in options:
        options["become_password"] = Secret(options["become_password"])
    ctx = context(inv, {name: host_probe(name, spec) for name, spec in case["facts"].items()}, **options)
    ctx.secrets = {k: Secret(v) for k, v in (case.get("secrets") or {}).items()}
    ctx.clock_offsets = {k: float(v) for k, v in (case.get("clock_offsets") or {}).items()}
    return ctx


def phase_of(path: Path, case: dict[str, Any]) -> Phase:
    name = case.get("phase", path.parent.name)
    if path.parent.name in DIRECTORIES:
        assert name in DIRECTORIES[path.parent.name], (
            f"{path}: a case under {path.parent.name}/ names its phase: {DIRECTORIES[path.parent.name]}")
    maker = PHASES.get(name) or module_phase(name)
    assert maker is not None, f"{path}: unknown phase {name!r}"
    return maker(**(case.get("args") or {}))


def module_phase(name: str) -> type[Phase] | None:
    """The one Phase that module phases/<name>.py defines: a new phase needs its file and its
    data directory, nothing registered here."""
    try:
        module = importlib.import_module(f"cloudmesh.swarm.phases.{name}")
    except ModuleNotFoundError:
        return None
    found = [value for value in vars(module).values() if isinstance(value, type)
             and issubclass(value, Phase) and value is not Phase and value.__module__ == module.__name__]
    return found[0] if len(found) == 1 else None


def phase_modules() -> set[str]:
    """Every module of phases/ but the shared shell snippets: each has a data directory."""
    return {info.name for info in pkgutil.iter_modules(phases.__path__)} - {"shell"}


def shown(plan: Plan) -> list[dict[str, str]]:
    steps = []
    for step in plan.steps:
        entry = {"description": step.description, "shown": step.shown()}
        if isinstance(step, Step) and any(isinstance(part, Secret) for part in step.stdin):
            entry["stdin"] = step.stdin_text()  # what the host gets; `shown` keeps it ***
        steps.append(entry)
    return steps


def problems(phase: Phase, ctx: Context, host: str) -> list[str]:
    """A host's problems as the report words them; warnings (which do not fail it) and
    refusals (the command stops as bad input, exit 2) marked."""
    return [("warning: " if p.warning else "refused: " if p.refused else "") + str(p)
            for p in phase.problems(ctx, host)]


def test_every_phase_has_cases_a_bare_host_and_a_converged_one() -> None:
    found = {path.parent.name for path in cases()}
    wanted = phase_modules()
    assert wanted <= found, f"no cases for {sorted(wanted - found)}"
    for directory in found:
        assert len(list((PLANS / directory).glob("*.yaml"))) >= 2, f"{directory}: one case only"
    assert {p.parent.name for p in PLANS.glob("*/*") if p.suffix != ".yaml"} == set(), "cases end .yaml"


@pytest.mark.parametrize("path", cases(), ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_plan_case(path: Path) -> None:
    case = load(path)
    ctx = build(case)
    phase = phase_of(path, case)
    if "batches" in case:  # with `cleanup: true`, the clean-up's batches
        batches = phase.cleanup(ctx) if case.get("cleanup") else phase.batches(ctx)
        assert [[b.stage, list(b.hosts)] for b in batches] == case["batches"]
    for host, expected in (case.get("problems") or {}).items():
        assert problems(phase, ctx, host) == expected, host
    if "steps" not in case:  # a case about batches and problems only (e.g. nothing to plan)
        return
    host = case.get("host", ctx.inventory.hosts[0].name)
    stage = case.get("stage", "all")
    plan = (phase.cleanup_plan if case.get("cleanup") else phase.plan)(ctx, host, stage)
    assert shown(plan) == case["steps"]
    if not case["steps"]:
        assert plan.reason == case["noop"]
    else:
        assert "noop" not in case, f"{path}: a case with steps has no noop reason"
