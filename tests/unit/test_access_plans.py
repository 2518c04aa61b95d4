"""harden refuses to lock anyone out, rotate-tokens needs a swarm and never converges; the
plain plans of keys, harden, autolock and unlock are cases in data/plans/access/ and tokens/."""

from __future__ import annotations

from cloudmesh.swarm.phases.access import HardenPhase
from cloudmesh.swarm.phases.tokens import RotateTokensPhase

from .harness import context, inventory
from .probes import node_row, probe, swarm_info

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKj8 me@laptop"
OPEN = "passwordauthentication yes\npermitrootlogin without-password"
CLOSED = "passwordauthentication no\npermitrootlogin no"


def sshd(effective: str = OPEN, include: bool = True, ours: str = "", keys: str = KEY) -> str:
    return probe(extra={"sshd": effective, "sshd-include": "yes" if include else "no",
                        "sshd-ours": ours, "authorized-keys": keys})


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


