"""The error tree; cli/main.py maps it to exit codes in one place.

Every exception class of the package is drawn here, with where it lives when that is not
this module; tests/unit/test_errors.py fails when a class is missing, hangs elsewhere in the
drawing, or does not derive from SwarmError (anything else would be reported as a bug).

    SwarmError
    ├── InputError              exit 2, raised before any host is contacted
    │   ├── InventoryError      file:line: field: what is wrong
    │   ├── UsageError          bad command-line arguments
    │   └── ImageInputError     image/errors.py: bad input for an image command, nothing written
    │       ├── DeviceRefused   image/errors.py: a safety check refused the target device
    │       └── ToolMissing     image/errors.py: a helper program is not installed
    ├── HostError               exit 1, carries the host it happened on
    │   ├── ConnectError        SSH could not connect or the connection was lost (transport.py
    │   │   │                   maps asyncssh's and the OS's exceptions in `_translate`)
    │   │   └── LoginRefused    the host refused our key or password
    │   ├── HostKeyError        unknown or changed host key
    │   ├── CommandError        a step exited non-zero (step, status, stderr tail)
    │   ├── PreflightError      the prepare phase found problems
    │   ├── NotConverged        after apply, the phase still has work to do
    │   ├── BackupError         backup.py: backup or restore failed; Docker was started again
    │   └── VerifyError         a check (verify's) failed on this host
    ├── ImageError              image/errors.py: exit 1, an image command failed while working
    └── LabError                lab/image.py: exit 1, the lab cannot be set up on this machine
"""

from __future__ import annotations


class SwarmError(Exception):
    """Base of every error this package raises on purpose."""


class InputError(SwarmError):
    """Bad input: exit 2, and nothing was done on any host."""


class InventoryError(InputError):
    """The inventory file or host list is invalid."""


class UsageError(InputError):
    """The command line is invalid."""


class HostError(SwarmError):
    """Something failed on one host; `str()` is the line the user reads."""

    def __init__(self, host: str, message: str) -> None:
        super().__init__(f"{host}: {message}")
        self.host = host
        self.message = message


class ConnectError(HostError):
    """SSH could not connect or authenticate."""


class LoginRefused(ConnectError):
    """The host answered but refused the login (key or password)."""


class HostKeyError(HostError):
    """The host's key is unknown (strict mode) or has changed."""


class CommandError(HostError):
    """A remote step exited non-zero."""

    def __init__(self, host: str, step: str, exit_status: int | None, stderr: str,
                 stdout: str = "") -> None:
        from cloudmesh.swarm.plan import redact

        stderr = redact(stderr)
        # the command's own words tell the user what is wrong; stdout's last line when it
        # wrote nothing to stderr
        said = stderr if stderr.strip() else "\n".join(redact(stdout).strip().splitlines()[-1:])
        tail = " | ".join(line.strip() for line in said.strip().splitlines()[-3:] if line.strip())
        tail = tail[-400:]
        status = "timed out" if exit_status is None else f"exit {exit_status}"
        super().__init__(host, f"{step} failed ({status})" + (f": {tail}" if tail else ""))
        self.step = step
        self.exit_status = exit_status
        self.stderr = stderr


class PreflightError(HostError):
    """The prepare phase found problems on this host."""

    def __init__(self, host: str, problems: list[str]) -> None:
        super().__init__(host, "; ".join(problems))
        self.problems = problems


class NotConverged(HostError):
    """Apply finished but the host still differs from the wanted state."""


class VerifyError(HostError):
    """A check failed on this host (verify: a test task, port or overlay path)."""
