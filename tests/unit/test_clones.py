"""Cloned cards: the identity facts, prepare's one line per copy, the --fix-identities steps,
and the known_hosts update after new host keys."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from cloudmesh.swarm.facts import parse_facts, parse_identity
from cloudmesh.swarm.known_hosts import entry_name, fingerprint, keys_of, replace_keys
from cloudmesh.swarm.phases.identity import check_identities, check_node_name, identity_steps
from cloudmesh.swarm.phases.prepare import PreparePhase

from .harness import context, inventory
from .probes import node_row, probe, swarm_info

DATA = Path(__file__).parent / "data"
RECORDED = (DATA / "identity/lab-bookworm-docker20").read_text()
KEY_A = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILHVHNgvjAcUlvcYDJ9C7hrOghkgfJm9XSq/rWDfn8Sn"
KEY_B = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINXtkJK9lDcfpjZBAtwsaCQHY7jt3ctAEIfamlD+eG54"


def identity(machine: str = "a", keys: tuple[str, ...] = (KEY_A,), engine: str = "e") -> str:
    lines = [f"machine-id {machine * 64}" if machine else ""]
    lines += [f"host-key {key}" for key in keys]
    lines += [f"engine-key {engine * 64}"] if engine else []
    return "\n".join(lines)


def host(name: str, ident: str, **kwargs: object) -> str:
    return probe(hostname=name, extra={"identity": ident}, **kwargs)  # type: ignore[arg-type]


def test_recorded_identity_section_of_a_lab_host_with_docker_20() -> None:
    found = parse_identity(RECORDED)
    assert found.machine_id == "c6093edb199c6a589e2ee1776754ef8b6c3c58415dec52ce22e733ed0cbefc07"
    assert [key.split()[0] for key in found.host_keys] == ["ecdsa-sha2-nistp256", "ssh-ed25519",
                                                           "ssh-rsa"]
    assert found.engine_id == "4f41ef7423c3c2e522411984a05103620708ad49d692ddf13d876bbcd6824bc1"
    assert parse_facts(probe(extra={"identity": RECORDED})).identity == found


def test_engine_id_file_wins_over_key_json_and_junk_is_ignored() -> None:
    found = parse_identity(f"engine-key {'1' * 64}\nengine-id {'2' * 64}\nmachine-id short\n"
                           "host-key not-a-type AAAA\nhost-key ssh-ed25519")
    assert found.engine_id == "2" * 64 and found.machine_id == "" and found.host_keys == ()


def test_fresh_cards_share_nothing() -> None:
    ctx = context(inventory(3), {"pi1": host("pi1", identity("a", (KEY_A,), "e")),
                                 "pi2": host("pi2", identity("b", (KEY_B,), "f")),
                                 "pi3": host("pi3", identity("c", (), ""))})
    assert all(check_identities(ctx, h, ctx.facts[h]) == [] for h in ctx.facts)


def test_copies_get_one_line_naming_what_they_share_with_whom() -> None:
    same = identity()
    ctx = context(inventory(3), {"pi1": host("pi1", same), "pi2": host("pi2", same),
                                 "pi3": host("pi3", identity("c", (KEY_A,), "f"))})
    assert check_identities(ctx, "pi1", ctx.facts["pi1"]) == []  # the first keeps its own
    (pi2,) = check_identities(ctx, "pi2", ctx.facts["pi2"])
    assert str(pi2).startswith("cloned card: same machine-id and Docker engine ID as pi1; "
                               "SSH host keys as pi1, pi3 (fix: cms-swarm check --fix")
    assert not pi2.warning
    (pi3,) = check_identities(ctx, "pi3", ctx.facts["pi3"])
    assert pi3.message == "cloned card: same SSH host keys as pi1, pi2"
    assert PreparePhase().plan(ctx, "pi2", "all").reason == "all checks passed"  # no fix asked


def test_fix_identities_renews_machine_id_keys_and_engine_of_the_copy_only() -> None:
    same = identity()
    ctx = context(inventory(2), {"pi1": host("pi1", same, docker="20.10.24"),
                                 "pi2": host("pi2", same, docker="20.10.24")},
                  fix_identities=True)
    (warning,) = check_identities(ctx, "pi2", ctx.facts["pi2"])
    assert warning.warning and warning.message.endswith("renewing (--fix-identities)")
    assert not PreparePhase().plan(ctx, "pi1", "all").needs_work
    steps = PreparePhase().plan(ctx, "pi2", "all").steps
    assert [s.description for s in steps] == [
        "make a new machine-id", "restart the engine with a new engine ID",
        "make new SSH host keys (known_hosts is updated after)"]
    assert all(step.sudo for step in steps)
    assert "/proc/sys/kernel/random/uuid" in steps[0].command
    assert "rm -rf /var/lib/docker/engine-id /etc/docker/key.json &&" in steps[1].command
    assert "/var/lib/docker/swarm" not in steps[1].command
    assert steps[1].command.index("systemctl stop docker") < steps[1].command.index("rm -rf")
    # new keys are made beside the old ones, which go only once the new ones exist
    assert steps[2].command.index("ssh-keygen -A") < steps[2].command.index("rm -f /etc/ssh")


def test_copied_swarm_state_is_cleared_on_the_copy_and_the_original_kept() -> None:
    """pi2 is the node the swarm knows at its own address; pi1 is a card copied from it."""
    state = swarm_info("node-x", manager=True)
    state["NodeAddr"] = "10.0.0.12"
    same = identity()
    ctx = context(inventory(2), {"pi1": host("pi1", same, docker="20.10.24", swarm=state),
                                 "pi2": host("pi2", same, docker="20.10.24", swarm=state)},
                  fix_identities=True)
    assert check_identities(ctx, "pi2", ctx.facts["pi2"]) == []
    (problem,) = check_identities(ctx, "pi1", ctx.facts["pi1"])
    assert "Docker engine ID and swarm node ID as pi2" in problem.message
    (step,) = [s for s in identity_steps(ctx, "pi1") if "engine" in s.description]
    assert step.description == "restart the engine with a new engine ID and no copied swarm state"
    assert "/var/lib/docker/swarm" in step.command


def test_an_engine_that_joined_already_keeps_its_id_with_a_warning() -> None:
    ctx = context(inventory(2), {
        "pi1": host("pi1", identity("a", (KEY_A,), "e"), docker="20.10.24",
                    swarm=swarm_info("n1", True)),
        "pi2": host("pi2", identity("b", (KEY_B,), "e"), docker="20.10.24",
                    swarm=swarm_info("n2", False))}, fix_identities=True)
    (problem,) = check_identities(ctx, "pi2", ctx.facts["pi2"])
    assert problem.warning and "swarm node already" in problem.message
    assert identity_steps(ctx, "pi2") == []


def test_no_docker_yet_removes_the_engine_files_without_restarting() -> None:
    same = identity()
    ctx = context(inventory(2), {"pi1": host("pi1", same), "pi2": host("pi2", same)},
                  fix_identities=True)
    step = identity_steps(ctx, "pi2")[1]
    assert step.command == "rm -rf /var/lib/docker/engine-id /etc/docker/key.json"


def test_known_hosts_lines_of_the_host_are_replaced_others_kept(tmp_path: Path) -> None:
    path = tmp_path / "known_hosts"
    path.write_text(f"# mine\n10.0.0.12 {KEY_A}\n10.0.0.11 {KEY_A}\n"
                    f"[10.0.0.12]:2222 {KEY_A}\n@cert-authority * {KEY_A}\n")
    assert replace_keys(path, "10.0.0.12", [KEY_B])
    text = path.read_text()
    assert f"10.0.0.11 {KEY_A}" in text and f"[10.0.0.12]:2222 {KEY_A}" in text
    assert f"10.0.0.12 {KEY_B}" in text and f"10.0.0.12 {KEY_A}" not in text
    assert "# mine" in text and "@cert-authority" in text
    assert path.stat().st_mode & 0o777 == 0o600
    assert not replace_keys(path, "10.0.0.12", [KEY_B])  # done: no change the second time
    assert not replace_keys(path, "10.0.0.99", [KEY_B])  # never seen: accept-new records it
    assert keys_of(path, entry_name("10.0.0.12", 2222)) == [KEY_A]


def test_hashed_known_hosts_entries_are_matched(tmp_path: Path) -> None:
    if not shutil.which("ssh-keygen"):
        return
    path = tmp_path / "known_hosts"
    path.write_text(f"10.0.0.12 {KEY_A}\n")
    subprocess.run(["ssh-keygen", "-H", "-f", str(path)], check=True, capture_output=True)
    assert "10.0.0.12" not in path.read_text()
    assert keys_of(path, "10.0.0.12") == [KEY_A]
    assert replace_keys(path, "10.0.0.12", [KEY_B]) and keys_of(path, "10.0.0.12") == [KEY_B]


def test_fingerprint_is_what_ssh_keygen_prints(tmp_path: Path) -> None:
    assert fingerprint(KEY_A) == "SHA256:grClLAA+6zSM3iracr60AwnvD65t9N7qAnAvISdJo0o"
    if shutil.which("ssh-keygen"):
        (tmp_path / "k.pub").write_text(KEY_B + "\n")
        out = subprocess.run(["ssh-keygen", "-lf", str(tmp_path / "k.pub")], check=True,
                             capture_output=True, text=True).stdout
        assert out.split()[1] == fingerprint(KEY_B)


def test_check_fix_and_create_fix_identities_set_the_option() -> None:
    from cloudmesh.swarm.cli.main import build_parser

    parser = build_parser()
    assert parser.parse_args(["check", "pi1", "--fix"]).fix_identities
    assert parser.parse_args(["check", "pi1", "--fix-identities", "--dry-run"]).dry_run
    assert parser.parse_args(["create", "pi1", "--fix-identities"]).fix_identities
    assert parser.parse_args(["add", "pi4", "--fix-identities"]).fix_identities
    assert not parser.parse_args(["check", "pi1"]).fix_identities


def test_a_node_listed_under_a_copys_hostname_is_warned() -> None:
    rows = [node_row("n1", "pi2", "Leader", me=True), node_row("n2", "pi2")]
    ctx = context(inventory(2), {
        "pi1": host("pi1", identity("a"), docker="20.10.24", swarm=swarm_info("n1", True),
                    nodes=rows),
        "pi2": host("pi2", identity("b", (KEY_B,), "f"), docker="20.10.24",
                    swarm=swarm_info("n2", False))})
    (warning,) = check_node_name(ctx, "pi1", ctx.facts["pi1"])
    assert warning.warning and warning.message.startswith("the swarm lists this node (n1) as 'pi2'")
    assert check_node_name(ctx, "pi2", ctx.facts["pi2"]) == []
