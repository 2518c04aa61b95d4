"""Every exception class of the package is drawn in errors.py's tree, where it really hangs,
and derives from SwarmError, so that the CLI gives it its exit code (2 for bad input before
anything was done, 1 for a failure) instead of reporting an internal error."""

from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path

import pytest

import cloudmesh.swarm
from cloudmesh.swarm import errors
from cloudmesh.swarm.cli import main as cli
from cloudmesh.swarm.errors import InputError, SwarmError

PACKAGE = Path(cloudmesh.swarm.__file__).parent
DRAWN = re.compile(r"^    ([│├└─ ]*)([A-Z]\w*)\b(.*)$")


def _all_modules() -> list[str]:
    found = [info.name for info in pkgutil.walk_packages([str(PACKAGE)], "cloudmesh.swarm.")]
    for name in found:
        importlib.import_module(name)
    return found


def _exception_classes() -> list[type[BaseException]]:
    """Every exception class defined in the package, found from each module (not only the
    subclasses of SwarmError: a class on another base must be found to be refused)."""
    classes: dict[str, type[BaseException]] = {}
    for name in ["cloudmesh.swarm", *_all_modules()]:
        module = importlib.import_module(name)
        for value in vars(module).values():
            if (isinstance(value, type) and issubclass(value, BaseException)
                    and value.__module__ == name):
                classes[f"{name}.{value.__qualname__}"] = value
    return list(classes.values())


def _subclasses(cls: type[BaseException]) -> list[type[BaseException]]:
    out = []
    for sub in cls.__subclasses__():
        if sub.__module__.startswith("cloudmesh.swarm"):
            out += [sub, *_subclasses(sub)]
    return out


def _drawing() -> dict[str, tuple[str | None, str]]:
    """errors.py's tree: class name -> (its parent in the drawing, the rest of its line)."""
    doc = errors.__doc__ or ""
    tree: dict[str, tuple[str | None, str]] = {}
    stack: list[tuple[int, str]] = []
    for line in doc.splitlines():
        found = DRAWN.match(line)
        if not found:
            continue
        column, name = len(found.group(1)), found.group(2)
        while stack and stack[-1][0] >= column:
            stack.pop()
        assert name not in tree, f"{name} is drawn twice"
        tree[name] = (stack[-1][1] if stack else None, found.group(3))
        stack.append((column, name))
    return tree


def test_the_walk_finds_the_classes_outside_errors_py() -> None:
    names = {cls.__name__ for cls in _exception_classes()}
    assert {"VerifyError", "BackupError", "LabError", "ImageError", "DeviceRefused"} <= names


def test_every_exception_class_derives_from_swarm_error() -> None:
    strays = [f"{cls.__module__}.{cls.__qualname__}" for cls in _exception_classes()
              if not issubclass(cls, SwarmError)]
    assert strays == [], "derive these from SwarmError (InputError: exit 2, else exit 1)"


def test_every_error_class_is_drawn_under_its_real_parent() -> None:
    tree = _drawing()
    classes = set(_exception_classes()) | set(_subclasses(SwarmError))
    assert tree["SwarmError"][0] is None
    for cls in classes - {SwarmError}:
        assert cls.__name__ in tree, f"{cls.__name__} ({cls.__module__}) is not drawn in errors.py"
        parent, rest = tree[cls.__name__]
        assert parent == cls.__bases__[0].__name__, f"{cls.__name__} hangs under {parent} in errors.py"
        if cls.__module__ != "cloudmesh.swarm.errors":  # say where to find it
            where = cls.__module__.removeprefix("cloudmesh.swarm.").replace(".", "/") + ".py"
            assert where in rest, f"{cls.__name__}'s line should name {where}"
    assert set(tree) == {cls.__name__ for cls in classes}, "a drawn class does not exist"


def _name(cls: object) -> str:
    return getattr(cls, "__name__", str(cls))


@pytest.mark.parametrize("cls", sorted(_subclasses(SwarmError), key=_name), ids=_name)
def test_the_cli_gives_each_error_its_exit_code(cls: type[SwarmError],
                                                monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    def fail(args: object) -> int:
        error = cls.__new__(cls)
        Exception.__init__(error, "pi1: boom")
        raise error

    monkeypatch.setattr(cli, "dispatch", fail)
    assert cli.main(["check", "pi1"]) == (2 if issubclass(cls, InputError) else 1)
    assert capsys.readouterr().err == "error: pi1: boom\n"
