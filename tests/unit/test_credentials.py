"""credentials: the one secret prompt (swarm commands and image customize) and the one key pair
maker (`keys` and the lab)."""

from __future__ import annotations

import io
import stat
from pathlib import Path

import pytest

from cloudmesh.swarm.credentials import ask_become_password, ensure_key_pair, read_secret
from cloudmesh.swarm.errors import UsageError
from cloudmesh.swarm.image.errors import ImageInputError


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def prompts(monkeypatch: pytest.MonkeyPatch, answers: list[str]) -> list[str]:
    """getpass answers in order; returns the prompts it was shown."""
    import getpass

    shown: list[str] = []

    def fake(prompt: str = "") -> str:
        shown.append(prompt)
        return answers.pop(0)

    monkeypatch.setattr(getpass, "getpass", fake)
    monkeypatch.setattr("sys.stdin", Tty())
    return shown


def test_stdin_first_line_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("s3cret\r\nsecond\n"))
    secret = read_secret("unlock key", "--unlock-key-stdin", True)
    assert secret.reveal() == "s3cret" and "s3cret" not in repr(secret)


@pytest.mark.parametrize("error", [UsageError, ImageInputError])
def test_empty_stdin_is_bad_input_of_the_callers_kind(monkeypatch: pytest.MonkeyPatch,
                                                       error: type[UsageError]) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("\n"))
    with pytest.raises(error, match="--x-stdin: no thing on stdin"):
        read_secret("thing", "--x-stdin", True, error=error)


def test_no_terminal_says_which_flag(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    with pytest.raises(UsageError, match="use --password-stdin and pipe it in"):
        read_secret("SSH login password", "--password-stdin", False)


def test_prompt_once_without_confirm(monkeypatch: pytest.MonkeyPatch) -> None:
    shown = prompts(monkeypatch, ["pw"])
    assert read_secret("SSH login password", "--password-stdin", False).reveal() == "pw"
    assert shown == ["SSH login password: "]


def test_confirm_asks_twice_and_refuses_a_mismatch(monkeypatch: pytest.MonkeyPatch) -> None:
    shown = prompts(monkeypatch, ["pw", "pw"])
    assert read_secret("login password", "--password-stdin", False, confirm=True).reveal() == "pw"
    assert shown == ["login password: ", "login password (again): "]
    prompts(monkeypatch, ["pw", "typo"])
    with pytest.raises(ImageInputError, match="the two login passwords differ"):
        read_secret("login password", "--password-stdin", False, confirm=True, error=ImageInputError)


def test_empty_prompt_answer_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    prompts(monkeypatch, [""])
    with pytest.raises(UsageError, match="no login password given"):
        read_secret("login password", "--password-stdin", False)


def test_become_password_prompt(monkeypatch: pytest.MonkeyPatch) -> None:
    shown = prompts(monkeypatch, ["sudo-pw"])
    assert ask_become_password().reveal() == "sudo-pw" and shown == ["sudo password: "]


def test_key_pair_made_once_private_with_comment(tmp_path: Path) -> None:
    path = tmp_path / "new" / "id_ed25519"
    public, made = ensure_key_pair(path, comment="cms-swarm-test9")
    assert made and public.startswith("ssh-ed25519 ") and public.endswith(" cms-swarm-test9")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert (tmp_path / "new" / "id_ed25519.pub").read_text().strip() == public
    again, made = ensure_key_pair(path, comment="other")
    assert (again, made) == (public, False)


def test_key_pair_default_comment_names_this_machine(tmp_path: Path) -> None:
    import os

    public, _ = ensure_key_pair(tmp_path / "k")
    assert public.endswith(f" cms-swarm@{os.uname().nodename}")


def test_public_key_derived_when_the_pub_file_is_missing(tmp_path: Path) -> None:
    path = tmp_path / "id"
    public, _ = ensure_key_pair(path)
    (tmp_path / "id.pub").unlink()
    derived, made = ensure_key_pair(path)
    assert not made and derived.split()[:2] == public.split()[:2]


def test_unreadable_key_is_a_usage_error(tmp_path: Path) -> None:
    path = tmp_path / "id"
    path.write_text("not a key\n")
    with pytest.raises(UsageError, match="cannot read it"):
        ensure_key_pair(path)

