"""os_release_values: the one os-release parser (facts probe and image customize)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cloudmesh.swarm.os_release import os_release_values

OS_RELEASE = Path(__file__).parent / "data" / "os-release"


def test_quoting_escapes_and_comments() -> None:
    values = os_release_values(
        "# a comment\n\n  ID='Debian'\nID_LIKE=\"ubuntu debian\"\n"
        'PRETTY_NAME="say \\"hi\\""\nVERSION_ID=12\nno equals sign here\n'
        "VERSION=\"12 (bookworm)\"\nEMPTY=\nHOME_URL=\"https://www.debian.org/\"\n")
    assert values == {"ID": "Debian", "ID_LIKE": "ubuntu debian", "PRETTY_NAME": 'say "hi"',
                      "VERSION_ID": "12", "VERSION": "12 (bookworm)", "EMPTY": "",
                      "HOME_URL": "https://www.debian.org/"}


@pytest.mark.parametrize("line, value", [
    ('NAME="unbalanced', '"unbalanced'),
    ("NAME='it's'", "it's"),
    ("NAME=two words", "two words"),
    ("NAME=a=b", "a=b"),
])
def test_odd_lines_keep_their_text(line: str, value: str) -> None:
    assert os_release_values(line) == {"NAME": value}


def test_empty_text_has_no_values() -> None:
    assert os_release_values("") == {} and os_release_values("# only\n\n") == {}


@pytest.mark.parametrize("path", sorted(OS_RELEASE.iterdir()), ids=lambda p: p.name)
def test_every_recorded_file_has_an_id_and_no_quotes_left(path: Path) -> None:
    values = os_release_values(path.read_text())
    assert values.get("ID")
    assert not any(value[:1] in "\"'" and value[-1:] == value[:1] for value in values.values() if value)
