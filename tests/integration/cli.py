"""Run `cms-swarm` as a user types it, from the same environment as the tests."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

CMS_SWARM = str(Path(sys.executable).with_name("cms-swarm"))
OUTPUTS: list[str] = []  # everything the CLI printed in this run (test_zz_secrets greps it)


def cms_swarm(*args: str, timeout: float = 900, env: dict[str, str] | None = None,
              stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run the CLI; the result carries returncode, stdout and stderr."""
    done = subprocess.run([CMS_SWARM, *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})}, input=stdin,
                          stdin=None if stdin is not None else subprocess.DEVNULL, check=False)
    OUTPUTS.append(done.stdout + done.stderr)
    return done


def eventually(what: str, check: Callable[[], bool], seconds: float = 90) -> None:
    """Poll `check` every 0.5 s until it holds; fail after `seconds`, naming `what`."""
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"gave up waiting for {what} after {seconds:.0f} s"
        time.sleep(0.5)
