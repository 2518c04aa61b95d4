"""The command table (commands.py) and what is built from it agree: phases, --dry-run, usage."""

from __future__ import annotations

import argparse

import pytest

from cloudmesh.swarm.actions import PHASES
from cloudmesh.swarm.cli.main import build_parser
from cloudmesh.swarm.commands import COMMANDS

PARSERS = next(a for a in build_parser()._actions
               if isinstance(a, argparse._SubParsersAction)).choices


def test_every_phase_a_command_names_exists_and_every_phase_is_used() -> None:
    named = {phase for command in COMMANDS.values() for phase in command.phases}
    assert named == set(PHASES)


def test_the_parser_has_every_command_in_the_table_order() -> None:
    assert list(PARSERS) == list(COMMANDS)


@pytest.mark.parametrize("name", list(COMMANDS))
def test_dry_run_is_offered_exactly_where_the_table_says_hosts_change(name: str) -> None:
    options = {o for action in PARSERS[name]._actions for o in action.option_strings}
    assert ("--dry-run" in options) == COMMANDS[name].changes_hosts


@pytest.mark.parametrize("name", [n for n, c in COMMANDS.items() if c.parser is None])
def test_cms_help_swarm_names_every_option_of_the_command(name: str) -> None:
    from cloudmesh.swarm.command.swarm import SwarmCommand

    usage = SwarmCommand.do_swarm.__doc__ or ""
    line = next(line.split() for line in usage.splitlines() if line.split()[:2] == ["swarm", name])
    said = {word.strip("[]().").split("=")[0].rstrip(".") for word in line}
    for action in PARSERS[name]._actions:
        if action.option_strings and action.dest != "help":
            assert said & set(action.option_strings), f"swarm {name}: {action.option_strings} missing"
