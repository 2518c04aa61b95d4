"""The docopt usage `cms help swarm` shows, generated from the parser `cms-swarm` uses,
so it names every command and only options that exist."""

from __future__ import annotations

import argparse
import re

from cloudmesh.swarm import commands


def usage_lines(parser: argparse.ArgumentParser) -> list[str]:
    """`swarm COMMAND ...` per command, every argument it takes (one line each: cms shows them
    as they are), in --help order; one line per verb of lab and image."""
    lines = []
    for name, sub in _subparsers(parser).items():
        declared = commands.COMMANDS[name].usage
        verbs = _subparsers(sub)
        if declared:  # its own words first, then the arguments they leave out
            said = set(re.findall(r"[\w-]+", declared))
            rest = [w for w in _words(sub) if re.findall(r"[\w-]+", w)[0] not in said]
            lines.append(" ".join(["swarm", declared, *rest]))
        elif verbs:
            for verb, verb_parser in verbs.items():
                lines.append(" ".join(["swarm", name, verb, *_words(verb_parser)]))
        else:
            lines.append(" ".join(["swarm", name, *_words(sub)]))
    return lines


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    found = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(found[0].choices) if found else {}


def _words(parser: argparse.ArgumentParser) -> list[str]:
    return [_word(action) for action in parser._actions if action.help != argparse.SUPPRESS
            and not isinstance(action, (argparse._HelpAction, argparse._SubParsersAction))]


def _word(action: argparse.Action) -> str:
    """One argument in docopt's notation: NAME, [NAME], NAME..., -o FILE, [--flag], [--opt=V]."""
    metavar = action.metavar if isinstance(action.metavar, str) else action.dest.upper()
    repeats = "..." if isinstance(action, argparse._AppendAction) or action.nargs in ("+", "*",
                                                                                       argparse.REMAINDER) else ""
    if not action.option_strings:
        choices = list(action.choices or ())
        word = choices[0] if len(choices) == 1 else metavar
        optional = action.nargs in ("?", "*", argparse.REMAINDER)
        return f"[{word}{repeats}]" if optional else f"{word}{repeats}"
    short = next((o for o in action.option_strings if len(o) == 2), "")
    long = next((o for o in action.option_strings if o.startswith("--")), short)
    if action.nargs == 0:
        word = long
    else:
        word = f"{short} {metavar}" if short else f"{long}={metavar}"
    return f"{word}{repeats}" if action.required else f"[{word}{repeats}]"


def options_section() -> list[str]:
    """docopt's Options: what the short options take, and the options most commands share."""
    lines = ["-i FILE --inventory=FILE", "-c FILE --compose-file=FILE", "-o FILE --output=FILE"]
    helps = ["inventory YAML file (docs/inventory.md)", "compose file; repeat for overrides",
             "file to write"]
    for flag in commands.COMMON:
        keywords = dict(flag.keywords)
        takes = keywords.get("action") != "store_true"
        metavar = keywords.get("metavar") or flag.dest.upper()
        long = flag.names[-1]
        lines.append(" ".join([*flag.names[:-1], f"{long}={metavar}" if takes else long]))
        helps.append(str(keywords.get("help")))
    lines.append("--dry-run")
    helps.append("print per host the commands it would run; change nothing")
    width = max(map(len, lines)) + 2
    return [f"{line:<{width}} {text}" for line, text in zip(lines, helps, strict=True)]
