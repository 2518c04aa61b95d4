"""Run `cms-swarm` as a user types it, from the same environment as the tests."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

CMS_SWARM = str(Path(sys.executable).with_name("cms-swarm"))
OUTPUTS: list[str] = []  # everything the CLI printed in this run (test_secrets greps it, last)
T = TypeVar("T")


def cms_swarm(*args: str, timeout: float = 900, env: dict[str, str] | None = None,
              stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run the CLI; the result carries returncode, stdout and stderr."""
    done = subprocess.run([CMS_SWARM, *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})}, input=stdin,
                          stdin=None if stdin is not None else subprocess.DEVNULL, check=False)
    OUTPUTS.append(done.stdout + done.stderr)
    return done


def eventually(what: str, check: Callable[[], T], seconds: float = 90, *,
               until: Callable[[T], object] | None = None, interval: float = 0.5) -> T:
    """Poll `check` every `interval` s until what it returns holds (is true, or passes `until`)
    and return that; after `seconds`, fail naming `what` and the last value `check` returned,
    so a timeout says what the hosts showed. An exception from `check` ends the wait at once."""
    deadline = time.monotonic() + seconds
    while True:
        seen = check()
        if until(seen) if until is not None else seen:
            return seen
        if time.monotonic() >= deadline:
            raise AssertionError(f"gave up waiting for {what} after {seconds:g} s; last saw: {seen!r}")
        time.sleep(interval)
