"""The probe's output format: sections marked `=== name ===`, and reading one."""

from __future__ import annotations

import re
from collections.abc import Callable

SECTION = re.compile(r"^=== ([a-z0-9-]+) ===$", re.MULTILINE)


def split_sections(output: str) -> dict[str, str]:
    """`=== name ===` marked probe output to {name: body}."""
    sections: dict[str, str] = {}
    matches = list(SECTION.finditer(output))
    for match, following in zip(matches, [*matches[1:], None]):
        end = following.start() if following else len(output)
        sections[match.group(1)] = output[match.end() : end].strip("\n")
    return sections


def as_int(text: str) -> int | None:
    """A section holding a whole number, else None."""
    return int(text) if text.strip().isdigit() else None


def as_float(text: str) -> float | None:
    """A section holding a number, else None."""
    try:
        return float(text.strip())
    except ValueError:
        return None


def getter(sections: dict[str, str]) -> Callable[[str], str]:
    """A section's text, stripped; "" when the probe did not print it."""
    return lambda name: sections.get(name, "").strip()
