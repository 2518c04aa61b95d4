"""/etc/os-release as KEY -> value, read the way a shell reads it (the format is shell syntax).

Read from a host by the facts probe and from a card image's root file system by `image`;
one parser, so a host and its card never disagree on what OS they hold.
"""

from __future__ import annotations

import shlex


def os_release_values(text: str) -> dict[str, str]:
    """Every `KEY=value` line, its value unquoted and unescaped (`"say \\"hi\\""` -> `say "hi"`);
    comments, blank lines and lines without `=` are skipped. A value with unbalanced quotes
    keeps its text, less a quote at both ends."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, raw = line.partition("=")
        try:
            value = " ".join(shlex.split(raw))
        except ValueError:
            value = raw.strip()
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
                value = value[1:-1]
        values[key.strip()] = value
    return values
