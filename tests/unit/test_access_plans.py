"""keys, harden, rotate-tokens, autolock, unlock: facts in, steps out, secrets never shown."""

from __future__ import annotations

from cloudmesh.swarm.phases.access import DROP_IN, HardenPhase, KeysPhase
from cloudmesh.swarm.phases.tokens import AutolockPhase, RotateTokensPhase, UnlockPhase
from cloudmesh.swarm.plan import Secret

from .harness import context, descriptions, inventory
from .probes import node_row, probe, swarm_info

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKj8 me@laptop"
OPEN = "passwordauthentication yes\npermitrootlogin without-password"
CLOSED = "passwordauthentication no\npermitrootlogin no"


def sshd(effective: str = OPEN, include: bool = True, ours: str = "", keys: str = KEY) -> str:
    return probe(extra={"sshd": effective, "sshd-include": "yes" if include else "no",
                        "sshd-ours": ours, "authorized-keys": keys})


def test_keys_appends_the_key_once_over_stdin() -> None:
    ctx = context(inventory(1), {"pi1": sshd(keys="")}, public_key=KEY)
    plan = KeysPhase().plan(ctx, "pi1", "all")
    assert descriptions(plan) == ["append the public key to ~/.ssh/authorized_keys"]
    step = plan.steps[0]
    assert not step.sudo and KEY not in step.command and step.stdin_text() == KEY + "\n"
    assert "chmod 600 ~/.ssh/authorized_keys" in step.command
    other_options = f'from="10.0.0.0/8",no-pty {KEY.split()[0]} {KEY.split()[1]} other-comment'
    ctx = context(inventory(1), {"pi1": sshd(keys=f"ssh-rsa AAAAB3Nza old\n{other_options}")},
                  public_key=KEY)
    assert KeysPhase().plan(ctx, "pi1", "all").reason == "key already authorized"


def test_harden_writes_a_checked_drop_in_where_sshd_includes_them() -> None:
    ctx = context(inventory(1), {"pi1": sshd()})
    assert HardenPhase().problems(ctx, "pi1") == []
    plan = HardenPhase().plan(ctx, "pi1", "all")
    step = plan.steps[0]
    assert step.sudo and f"cat > {DROP_IN}" in step.command
    assert step.command.index("sshd -t") < step.command.index("systemctl reload ssh")
    assert f"rm -f {DROP_IN}" in step.command  # a refused config is taken back
    assert "PasswordAuthentication no\n" in step.stdin_text() and "PermitRootLogin no\n" in step.stdin_text()


def test_harden_on_old_sshd_without_include_prepends_a_validated_block() -> None:
    ctx = context(inventory(1), {"pi1": sshd(include=False)})
    step = HardenPhase().plan(ctx, "pi1", "all").steps[0]
    assert "sshd -t -f $tmp && mv -f $tmp /etc/ssh/sshd_config || { rm -f $tmp; exit 1; }" in step.command
    assert step.stdin_text().startswith("# BEGIN cms-swarm harden\n")


def test_harden_is_a_noop_when_already_closed_and_undo_removes_only_ours() -> None:
    ctx = context(inventory(1), {"pi1": sshd(CLOSED)})
    assert HardenPhase().plan(ctx, "pi1", "all").reason == "password and root login already off"
    ctx = context(inventory(1), {"pi1": sshd(CLOSED, ours="drop-in")}, undo=True)
    assert descriptions(HardenPhase().plan(ctx, "pi1", "all")) == [
        f"remove {DROP_IN}", "check and reload sshd"]
    ctx = context(inventory(1), {"pi1": sshd(CLOSED, ours="")}, undo=True)
    assert HardenPhase().plan(ctx, "pi1", "all").reason == "not hardened by cms-swarm"


def test_harden_refuses_to_lock_anyone_out() -> None:
    root = inventory(1).model_copy(update={"ssh": inventory(1).ssh.model_copy(update={"user": "root"})})
    ctx = context(root, {"pi1": sshd()})
    assert [p.message for p in HardenPhase().problems(ctx, "pi1")] == [
        "you log in as root, and harden turns root login off"]
    ctx = context(inventory(1), {"pi1": sshd(keys="")})
    assert [p.message for p in HardenPhase().problems(ctx, "pi1")] == [
        "no key in ~/.ssh/authorized_keys for the login user"]
    ctx = context(inventory(1), {"pi1": sshd(effective="")})
    assert "sshd -T failed" in HardenPhase().problems(ctx, "pi1")[0].message


def manager_probes(autolock: bool = False, state: str = "active") -> dict[str, str]:
    info = swarm_info("n1", True)
    info["Cluster"]["Spec"] = {"EncryptionConfig": {"AutoLockManagers": autolock}}
    return {"pi1": probe(docker="20.10.24", swarm={**info, "LocalNodeState": state},
                         nodes=[node_row("n1", "pi1", "Leader", me=True)])}


def test_rotate_runs_on_the_leader_and_discards_the_new_tokens() -> None:
    ctx = context(inventory(1), manager_probes())
    phase = RotateTokensPhase()
    assert [b.hosts for b in phase.batches(ctx)] == [("pi1",)]
    step = phase.plan(ctx, "pi1", "leader").steps[0]
    assert step.command.count(">/dev/null") == 2 and not phase.converges
    ctx = context(inventory(1), {"pi1": probe(docker="20.10.24")})
    assert phase.batches(ctx) == [] and phase.problems(ctx, "pi1")[0].message == "no swarm found on these hosts"


def test_autolock_turns_on_once() -> None:
    ctx = context(inventory(1), manager_probes(autolock=False))
    assert descriptions(AutolockPhase().plan(ctx, "pi1", "leader")) == ["turn autolock on"]
    ctx = context(inventory(1), manager_probes(autolock=True))
    assert AutolockPhase().plan(ctx, "pi1", "leader").reason.startswith("autolock already on")


def test_unlock_sends_the_key_in_the_body_and_shows_stars() -> None:
    ctx = context(inventory(1), manager_probes(state="locked"))
    ctx.secrets["unlock"] = Secret("SWMKEY-1-abcdef")
    step = UnlockPhase().plan(ctx, "pi1", "all").steps[0]
    assert "SWMKEY" not in step.command and "/swarm/unlock" in step.command
    assert step.stdin_text() == '{"UnlockKey": "SWMKEY-1-abcdef"}'
    assert "SWMKEY-1-abcdef" not in step.shown() and '"UnlockKey": "***"' in step.shown()
    ctx = context(inventory(1), manager_probes(state="active"))
    assert UnlockPhase().plan(ctx, "pi1", "all").reason == "not locked (active)"
