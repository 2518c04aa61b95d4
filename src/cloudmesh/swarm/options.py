"""RunOptions: every flag a command passes down, in one frozen value (no globals)."""

from __future__ import annotations

from dataclasses import dataclass

from cloudmesh.swarm.plan import Secret

DOCKER_REPO = "https://download.docker.com/linux"  # Docker's apt repositories, one per distro


@dataclass(frozen=True)
class RunOptions:
    """What the user asked for, beyond the inventory."""

    dry_run: bool = False
    force: bool = False
    purge: bool = False
    strict_host_keys: bool = False
    become_password: Secret | None = None
    test_image: str = ""  # "": verify makes its own from each host's busybox-static
    verify_port: int = 38080
    mesh_port: int = 38081
    concurrency: int = 32
    connect_timeout: float = 15.0
    max_clock_skew: float = 30.0
    min_var_free_gb: float = 3.0
    public_key: str = ""  # `keys`: the "type blob comment" line to authorize
    undo: bool = False  # `harden --undo`
    fix_clock: bool = False  # check/create --fix-clock: set skewed clocks from this machine
    engine: str = "distro"  # install --engine: distro (docker.io) or docker-ce (Docker's repository)
    engine_version: str = ""  # install --engine-version: an apt version; "" the newest
    engine_repo: str = DOCKER_REPO  # --engine-repo: Docker's repository, or a mirror
    fix_identities: bool = False  # check --fix, create --fix-identities: renew cloned identities
