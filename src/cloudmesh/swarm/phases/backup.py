"""Backup and restore as plans: what runs on the host, so `--dry-run` lists exactly what
apply runs. The local side (checking the archive, writing it and its .sha256) is in
cloudmesh/swarm/backup.py.

Backup, as Docker's admin guide says: stop Docker on one manager, archive
/var/lib/docker/swarm to this machine (streamed, never on the host's disk), start it again.
Restore: upload the archive, then one script checks it, unpacks it aside, checks again, and
only then stops Docker, swaps the state in and runs `docker swarm init --force-new-cluster`,
putting the old state back on any failure.

Two of these steps move bytes instead of printing text, so they run themselves over the
transport (`execute`): `Download` hands the command's stdout to a local sink, `Upload`
writes data to a file on the host.
"""

from __future__ import annotations

import hashlib
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from cloudmesh.swarm.phase_context import Context
from cloudmesh.swarm.phases import Phase
from cloudmesh.swarm.phases.shell import ENGINE_UP
from cloudmesh.swarm.plan import Batch, Plan, Step

if TYPE_CHECKING:
    from cloudmesh.swarm.transport import Result, Transport

STOP = "systemctl stop docker.socket docker"
START = "systemctl start docker"
WAIT_ACTIVE = ("i=0; until [ \"$(docker info --format '{{.Swarm.LocalNodeState}}' 2>/dev/null)\" = active ]; "
               "do i=$((i+1)); [ $i -ge 240 ] && exit 1; sleep 0.5; done")
DOCKER_ROOT = "/var/lib/docker"
UPLOAD = f"{DOCKER_ROOT}/cms-swarm-restore.tar.gz"
ARCHIVE = f"set -e; {STOP}; trap '{START}' EXIT; tar -C /var/lib/docker -czf - swarm"
Sink = Callable[[bytes], None]


@dataclass(frozen=True)
class Download(Step):
    """A step whose binary stdout goes to `sink` chunk by chunk (an archive: never held in
    memory). The sink is bound when applying; it is not part of what the step is."""

    sink: Sink | None = field(default=None, compare=False, repr=False)

    async def execute(self, transport: Transport) -> Result:
        if self.sink is None:
            raise ValueError(f"{self.description}: no sink to write to")
        return await transport.stream_out(self.command, self.sink, sudo=self.sudo,
                                          timeout=self.timeout)


@dataclass(frozen=True)
class Upload(Step):
    """A step that writes `data` to `command` (the path on the host) atomically, with `mode`."""

    data: bytes = field(default=b"", repr=False)
    mode: str = "0600"

    def shown(self) -> str:
        return f"{'sudo ' if self.sudo else ''}write {len(self.data)} bytes to {self.command} (mode {self.mode})"

    async def execute(self, transport: Transport) -> Result:
        return await transport.put(self.data, self.command, mode=self.mode, sudo=self.sudo)


def backup_source(ctx: Context) -> str | None:
    """The manager to archive: one that is not the leader when there is one (the swarm keeps
    its leader while Docker is stopped there), else the leader; None without a swarm."""
    leader = ctx.leader()
    if leader is None:
        return None
    return next((m for m in ctx.swarm_managers() if m != leader), leader)


class BackupPhase(Phase):
    """Archive the swarm state of one manager into `sink` (named `target` in the plan)."""

    title = "Back up the swarm state"
    converges = False  # Docker is stopped and started again: the host ends as it began

    def __init__(self, target: str, sink: Sink | None = None) -> None:
        self.target = target
        self.sink = sink

    def batches(self, ctx: Context) -> list[Batch]:
        source = backup_source(ctx)
        return [Batch("backup", (source,))] if source else []

    def plan(self, ctx: Context, host: str, stage: str) -> Plan:
        alone = " (the only manager: the swarm pauses meanwhile)" if host == ctx.leader() else ""
        return Plan((
            Download(f"stop Docker on this manager and stream /var/lib/docker/swarm to {self.target}{alone}",
                     ARCHIVE, sudo=True, timeout=600, sink=self.sink),
            Step("wait until Docker is back in the swarm", WAIT_ACTIVE, sudo=True, timeout=150),
        ))


def restore_script(address: str, digest: str, root: str = DOCKER_ROOT) -> str:
    """Check the upload, unpack it aside, check again; only then stop Docker and swap the
    state in. Any failure after the swap puts the old state back; Docker is always restarted."""
    return f"""set -e
d={shlex.quote(root)}; u="$d/cms-swarm-restore.tar.gz"; s="$d/cms-swarm-restore.d"
old="$d/swarm.cms-swarm-old"; stopped=; moved=
finish() {{
  st=$?
  if [ $st -ne 0 ] && [ -n "$moved" ]; then
    echo "restore failed: the earlier swarm state is put back" >&2
    {STOP} || true; rm -rf "$d/swarm"; if [ -d "$old" ]; then mv "$old" "$d/swarm"; fi
  fi
  if [ $st -ne 0 ] && [ -n "$stopped" ]; then {START} || true; fi
  rm -rf "$s" "$u"; exit $st
}}
trap finish EXIT
echo "{digest}  $u" | sha256sum -c --status || {{ echo "the uploaded archive is damaged" >&2; exit 3; }}
rm -rf "$s"; mkdir -m 700 "$s"
tar -C "$s" --no-same-owner -xzf "$u" swarm
bad=$(find "$s" -mindepth 1 \\( ! -type f ! -type d -o -perm /7000 -o -type f -links +1 \\) -print | head -n 3)
[ -z "$bad" ] || {{ echo "the archive holds links, devices or setuid files: $bad" >&2; exit 3; }}
[ "$(ls -A "$s")" = swarm ] || {{ echo "the archive holds more than swarm/" >&2; exit 3; }}
stopped=1; {STOP}
rm -rf "$old"; if [ -e "$d/swarm" ]; then mv "$d/swarm" "$old"; fi
moved=1; mv "$s/swarm" "$d/swarm"
{START}
{ENGINE_UP}
docker swarm init --force-new-cluster --advertise-addr {shlex.quote(address)} >/dev/null
{WAIT_ACTIVE}
moved=; rm -rf "$old"
echo services=$(docker service ls -q | wc -l) secrets=$(docker secret ls -q | wc -l)
"""


class RestorePhase(Phase):
    """Bring the swarm state in `data` (a checked backup archive) back on the host, as the
    only manager of a new cluster."""

    title = "Restore the swarm state"
    converges = False  # a restore is not a state the facts can show as reached

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.digest = hashlib.sha256(data).hexdigest()

    def plan(self, ctx: Context, host: str, stage: str) -> Plan:
        return Plan((
            Upload(f"upload the archive to {UPLOAD}", UPLOAD, sudo=True, data=self.data),
            Step("restore the swarm state and force a new cluster on it",
                 restore_script(ctx.ip(host), self.digest), sudo=True, timeout=300),
        ))
