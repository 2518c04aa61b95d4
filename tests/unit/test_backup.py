"""backup and restore through the runner on fake hosts: the dry run lists exactly the steps
apply runs, the archive is written 0600 with its sha256 line, and every refusal of restore
comes before anything changed on the host (the fake hosts record every command and upload).
"""

from __future__ import annotations

import hashlib
import io
import stat
import tarfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from cloudmesh.swarm import backup
from cloudmesh.swarm.errors import InputError, UsageError
from cloudmesh.swarm.facts import PROBE_SCRIPT
from cloudmesh.swarm.inventory import Inventory
from cloudmesh.swarm.options import RunOptions
from cloudmesh.swarm.phases.backup import ARCHIVE, UPLOAD, WAIT_ACTIVE
from cloudmesh.swarm.plan import Step
from cloudmesh.swarm.report import Reporter
from cloudmesh.swarm.transport import Result, SshTarget, Transport

from .harness import FakeTransport, Handler, Lab, inventory, named_inventory
from .probes import node_row, probe, swarm_info


def swarm_tar() -> bytes:
    """A small archive of the shape backup writes: swarm/ with one regular file."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        folder = tarfile.TarInfo("swarm")
        folder.type, folder.mode = tarfile.DIRTYPE, 0o700
        tar.addfile(folder)
        state = tarfile.TarInfo("swarm/state.json")
        body = b'{"raft": 1}'
        state.size, state.mode = len(body), 0o600
        tar.addfile(state, io.BytesIO(body))
    return out.getvalue()


TAR = swarm_tar()


class Host(FakeTransport):
    """A fake host that also streams a command's stdout (backup's archive: TAR when the handler
    says ok) and records every upload as `put PATH MODE` among its commands."""

    async def stream_out(self, command: str, sink: Callable[[bytes], Awaitable[None] | None], *,
                         sudo: bool = False, timeout: float | None = None,
                         chunk: int = 1 << 20) -> Result:
        self.calls.append((self.name, command))
        result = self.handler(self.name, command)
        if result.ok:
            sink(TAR)
        return Result(result.exit_status, "", result.stderr)

    async def put(self, data: bytes, path: str, *, mode: str = "0644", sudo: bool = False) -> Result:
        self.calls.append((self.name, f"put {path} {mode}"))
        return self.handler(self.name, f"put {path}")


class Hosts(Lab):
    """The runner's connector: one recording Host per inventory host."""

    async def connect(self, target: SshTarget, options: RunOptions) -> Transport:
        await super().connect(target, options)  # unreachable hosts raise here
        host = Host(target.name, self.handler, self.calls)
        self.transports[target.name] = host
        return host  # type: ignore[return-value]


class Recorder(Reporter):
    """A quiet reporter that keeps each step as (host, description, shown)."""

    def __init__(self) -> None:
        super().__init__(file=io.StringIO(), err=io.StringIO(), live=False)
        self.seen: list[tuple[str, str, str]] = []

    def step(self, host: str, step: Step, dry_run: bool = False) -> None:
        super().step(host, step, dry_run)
        self.seen.append((host, step.description, step.shown()))

    @property
    def out(self) -> str:
        return self.console.file.getvalue()  # type: ignore[attr-defined, no-any-return]

    @property
    def errors(self) -> str:
        return self.err.file.getvalue()  # type: ignore[attr-defined, no-any-return]


def answering(probes: dict[str, str], fail: str = "") -> Handler:
    """The probe answers `probes[host]`; a command starting with `fail` exits 1; others succeed."""

    def handler(name: str, command: str) -> Result:
        if command == PROBE_SCRIPT:
            return Result(0, probes[name], "")
        if fail and command.startswith(fail):
            return Result(1, "", "it broke")
        return Result(0, "services=1 secrets=1\n", "")

    return handler


LEADER = probe("pi1", docker="20.10.24", swarm=swarm_info("n1", True),
               nodes=[node_row("n1", "pi1", "Leader", me=True)])
INSTALLED = probe("pi5", docker="20.10.24", groups="pi adm sudo docker")  # Docker installed and running, in no swarm


def changes(lab: Lab) -> list[str]:
    """Every command but the probe: what could change a host."""
    return lab.commands()


# -- backup ---------------------------------------------------------------------------------

def run_backup(lab: Lab, output: Path | None, inv: Inventory | None = None,
               **options: object) -> tuple[int, Recorder]:
    reporter = Recorder()
    code = backup.run_backup(inv or inventory(1), RunOptions(**options), reporter,  # type: ignore[arg-type]
                             output, connector=lab.connect)
    return code, reporter


def test_backup_dry_run_lists_exactly_the_steps_apply_runs(tmp_path: Path) -> None:
    out = tmp_path / "b.tar.gz"
    dry_lab = Hosts(answering({"pi1": LEADER}))
    code, dry = run_backup(dry_lab, out, dry_run=True)
    assert code == 0 and changes(dry_lab) == [] and not out.exists()
    lab = Hosts(answering({"pi1": LEADER}))
    code, done = run_backup(lab, out)
    assert code == 0, done.errors
    assert dry.seen == done.seen and len(done.seen) == 2
    assert changes(lab) == [ARCHIVE, WAIT_ACTIVE]
    assert f"stream /var/lib/docker/swarm to {out}" in dry.out and "dry run: nothing was changed" in dry.out


def test_backup_writes_the_archive_0600_with_its_sha256_line(tmp_path: Path) -> None:
    out = tmp_path / "b.tar.gz"
    code, reporter = run_backup(Hosts(answering({"pi1": LEADER})), out)
    assert code == 0, reporter.errors
    assert out.read_bytes() == TAR and stat.S_IMODE(out.stat().st_mode) == 0o600
    digest = hashlib.sha256(TAR).hexdigest()
    assert (tmp_path / "b.tar.gz.sha256").read_text() == f"{digest}  b.tar.gz\n"
    assert reporter.result["backup"] == {"path": str(out), "sha256": digest, "bytes": len(TAR), "host": "pi1"}
    assert f"backup of swarm c1 from pi1: {out} ({len(TAR)} bytes" in reporter.out
    assert sorted(tmp_path.iterdir()) == [out, tmp_path / "b.tar.gz.sha256"]  # no .partial left


def test_backup_takes_a_manager_that_is_not_the_leader(tmp_path: Path) -> None:
    follower = probe("pi2", docker="20.10.24", swarm=swarm_info("n2", True))
    worker = probe("pi3", docker="20.10.24", swarm=swarm_info("n3", False))
    lab = Hosts(answering({"pi1": LEADER, "pi2": follower, "pi3": worker}))
    code, reporter = run_backup(lab, tmp_path / "b.tar.gz", inventory(3))
    assert code == 0, reporter.errors
    assert [h for h, c in lab.calls if c != PROBE_SCRIPT] == ["pi2", "pi2"]


def test_backup_output_that_exists_is_refused_before_any_host(tmp_path: Path) -> None:
    out = tmp_path / "b.tar.gz"
    out.write_text("keep me")
    lab = Hosts(answering({"pi1": LEADER}))
    with pytest.raises(UsageError, match="exists; add --force"):
        run_backup(lab, out)
    assert lab.transports == {} and lab.calls == [] and out.read_text() == "keep me"


def test_backup_without_a_swarm_is_refused_before_any_change(tmp_path: Path) -> None:
    lab = Hosts(answering({"pi1": probe("pi1", docker="20.10.24")}))
    with pytest.raises(InputError, match="no swarm found"):
        run_backup(lab, tmp_path / "b.tar.gz")
    assert changes(lab) == [] and list(tmp_path.iterdir()) == []


def test_a_failed_archive_leaves_no_file_and_says_why(tmp_path: Path) -> None:
    out = tmp_path / "b.tar.gz"
    code, reporter = run_backup(Hosts(answering({"pi1": LEADER}, fail=ARCHIVE)), out)
    assert code == 1 and list(tmp_path.iterdir()) == []
    assert "pi1: archiving the swarm state failed (exit 1): it broke" in reporter.errors


def test_docker_not_back_keeps_the_archive_without_its_sha256(tmp_path: Path) -> None:
    out = tmp_path / "b.tar.gz"
    code, reporter = run_backup(Hosts(answering({"pi1": LEADER}, fail=WAIT_ACTIVE)), out)
    assert code == 1 and out.read_bytes() == TAR and not (tmp_path / "b.tar.gz.sha256").exists()
    assert "Docker did not come back into the swarm after the backup" in reporter.errors


# -- restore --------------------------------------------------------------------------------

def archive(tmp_path: Path, data: bytes = TAR, sha256: str | None = None) -> Path:
    path = tmp_path / "swarm.tar.gz"
    path.write_bytes(data)
    digest = hashlib.sha256(data).hexdigest() if sha256 is None else sha256
    (tmp_path / "swarm.tar.gz.sha256").write_text(f"{digest}  swarm.tar.gz\n")
    return path


def run_restore(lab: Lab, path: Path, **options: object) -> tuple[int, Recorder]:
    reporter = Recorder()
    code = backup.run_restore(named_inventory(["pi5"]), RunOptions(**options), reporter,  # type: ignore[arg-type]
                              path, "pi5", connector=lab.connect)
    return code, reporter


def test_restore_dry_run_lists_exactly_the_steps_apply_runs(tmp_path: Path) -> None:
    path = archive(tmp_path)
    dry_lab = Hosts(answering({"pi5": INSTALLED}))
    code, dry = run_restore(dry_lab, path, dry_run=True)
    assert code == 0 and changes(dry_lab) == [], dry.errors
    lab = Hosts(answering({"pi5": INSTALLED}))
    code, done = run_restore(lab, path)
    assert code == 0, done.errors
    assert dry.seen == done.seen and [d for _, d, _ in done.seen] == [
        f"upload the archive to {UPLOAD}", "restore the swarm state and force a new cluster on it"]
    script = backup.restore_script("10.0.0.1", hashlib.sha256(TAR).hexdigest())
    assert changes(lab) == [f"put {UPLOAD} 0600", script]
    assert f"sudo write {len(TAR)} bytes to {UPLOAD} (mode 0600)" in dry.out
    assert "pi5: swarm restored as its only manager: services=1 secrets=1; join more nodes" in done.out


@pytest.mark.parametrize("data, sha256, why", [
    (TAR[:-10], hashlib.sha256(TAR).hexdigest(), "sha256 does not match"),  # damaged in transit
    (TAR[:-10], None, "not a gzip'd tar archive"),  # cut short, its sha256 made to fit
    (b"not a tar", None, "not a gzip'd tar archive"),
])
def test_a_damaged_archive_is_refused_before_any_host(tmp_path: Path, data: bytes, sha256: str | None,
                                                      why: str) -> None:
    lab = Hosts(answering({"pi5": INSTALLED}))
    with pytest.raises(InputError, match=why):
        run_restore(lab, archive(tmp_path, data, sha256))
    assert lab.transports == {} and lab.calls == []


def test_restore_onto_a_host_in_another_swarm_is_refused_before_any_change(tmp_path: Path) -> None:
    # Docker needs its log rotation (an install step) and the clock a fix (a prepare step):
    # the refusal comes before either
    member = probe("pi5", docker="20.10.24", swarm=swarm_info("n9", False), clock=time.time() + 600,
                   extra={"daemon-json": ""})
    lab = Hosts(answering({"pi5": member}))
    with pytest.raises(InputError, match=r"pi5: already in a swarm \(active\); restore replaces it only with --force"):
        run_restore(lab, archive(tmp_path), fix_clock=True)
    assert changes(lab) == []


def test_restore_with_force_replaces_the_swarm_the_host_is_in(tmp_path: Path) -> None:
    member = probe("pi5", docker="20.10.24", groups="pi adm sudo docker", swarm=swarm_info("n9", False))
    lab = Hosts(answering({"pi5": member}))
    code, reporter = run_restore(lab, archive(tmp_path), force=True)
    assert code == 0, reporter.errors
    assert changes(lab)[0] == f"put {UPLOAD} 0600"


def test_restore_stops_on_the_install_check_before_prepare_changes_anything(tmp_path: Path) -> None:
    # prepare would set the clock (--fix-clock) before install found daemon.json broken
    host = probe("pi5", clock=time.time() + 600, extra={"daemon-json": "[1, 2]"})
    lab = Hosts(answering({"pi5": host}))
    code, reporter = run_restore(lab, archive(tmp_path), fix_clock=True)
    assert code == 1 and changes(lab) == []
    assert "daemon.json is not a JSON object" in reporter.errors


def test_restore_stops_on_the_prepare_check_before_any_change(tmp_path: Path) -> None:
    lab = Hosts(answering({"pi5": probe("pi5", sudo=False)}))
    code, reporter = run_restore(lab, archive(tmp_path))
    assert code == 1 and changes(lab) == []
    assert "sudo needs a password" in reporter.errors


def test_restore_on_an_unreachable_host_changes_nothing(tmp_path: Path) -> None:
    lab = Hosts(answering({"pi5": INSTALLED}), unreachable=("pi5",))
    code, reporter = run_restore(lab, archive(tmp_path))
    assert code == 1 and lab.calls == [] and "cannot connect" in reporter.errors


def test_a_failed_upload_and_a_failed_restore_say_which(tmp_path: Path) -> None:
    code, reporter = run_restore(Hosts(answering({"pi5": INSTALLED}, fail="put")), archive(tmp_path))
    assert code == 1 and "pi5: upload failed: it broke" in reporter.errors
    lab = Hosts(answering({"pi5": INSTALLED}, fail="set -e"))
    code, reporter = run_restore(lab, archive(tmp_path))
    assert code == 1 and "pi5: restore failed (exit 1): it broke" in reporter.errors
