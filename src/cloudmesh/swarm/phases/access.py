"""Access: authorize a key (`keys`) and turn password and root login off (`harden`).

`keys` runs over a connection that logged in with the password once; `harden` runs over
a key-only connection, which is itself the proof that key login works, so nobody locks
themselves out. sshd's rule "the first value obtained wins" decides where settings go:
a drop-in that sorts first under sshd_config.d/ where the main file includes it, else a
marked block at the top of sshd_config. Every change is validated with `sshd -t` before
sshd reloads; a reload keeps existing sessions, including ours.
"""

from __future__ import annotations

from cloudmesh.swarm.phase_context import Context
from cloudmesh.swarm.phases import Phase
from cloudmesh.swarm.phases.shell import RELOAD_SSHD
from cloudmesh.swarm.plan import Plan, Problem, Step

DROP_IN = "/etc/ssh/sshd_config.d/00-cms-swarm.conf"
MAIN = "/etc/ssh/sshd_config"
SETTINGS = (  # ChallengeResponseAuthentication: the name every OpenSSH since 7.x accepts
    "PasswordAuthentication no\n"
    "ChallengeResponseAuthentication no\n"
    "PermitRootLogin no\n"
)
HARDENED = {"passwordauthentication": "no", "permitrootlogin": "no"}
# sshd re-executes itself on SIGHUP and is not listening for a moment: wait until it is again,
# so the next connection (the user's next command) is not refused.
RELOAD = (f"{{ {RELOAD_SSHD} || service ssh reload; }} "
          "&& sleep 0.3 && i=0 && while [ $i -lt 50 ] && ! ss -Hltnp 2>/dev/null | grep -q '\"sshd\"'; "
          "do sleep 0.1; i=$((i+1)); done")
BLOCK_BEGIN, BLOCK_END = "# BEGIN cms-swarm harden", "# END cms-swarm harden"


def key_of(line: str) -> str:
    """`type blob` of a public key line (what authorized_keys matching cares about)."""
    return " ".join(line.split()[:2])


class KeysPhase(Phase):
    """Install the user's public key for the login user (the connection used a password)."""

    title = "Authorize SSH key"

    def plan(self, ctx: Context, host: str, stage: str) -> Plan:
        line = ctx.options.public_key.strip()
        if key_of(line) in ctx.facts[host].authorized_keys:
            return Plan.noop("key already authorized")
        return Plan((Step(
            "append the public key to ~/.ssh/authorized_keys",
            "umask 077 && mkdir -p ~/.ssh && touch ~/.ssh/authorized_keys && chmod 700 ~/.ssh "
            "&& chmod 600 ~/.ssh/authorized_keys && cat >> ~/.ssh/authorized_keys",
            stdin=(line + "\n",)),))


class HardenPhase(Phase):
    """Password and root login off in sshd (or back on with --undo)."""

    title = "Harden sshd"

    def problems(self, ctx: Context, host: str) -> list[Problem]:
        facts = ctx.facts[host]
        found = []
        if ctx.inventory.user_of(ctx.spec(host)) == "root" and not ctx.options.undo:
            found.append(Problem("you log in as root, and harden turns root login off",
                                 "log in as a user with sudo (ssh.user), then harden"))
        if not facts.sudo:
            found.append(Problem("harden needs sudo", "passwordless sudo or --ask-become-pass"))
        elif not facts.sshd:
            found.append(Problem("cannot read sshd's settings (sshd -T failed)",
                                 "check that openssh-server is installed and sshd -t passes"))
        if not ctx.options.undo and not facts.authorized_keys:
            found.append(Problem("no key in ~/.ssh/authorized_keys for the login user",
                                 "cms-swarm keys HOST first, so key login keeps working"))
        return found

    def plan(self, ctx: Context, host: str, stage: str) -> Plan:
        facts = ctx.facts[host]
        if ctx.options.undo:
            return self._undo(facts.sshd_ours)
        if all(facts.sshd_setting(k) == v for k, v in HARDENED.items()):
            return Plan.noop("password and root login already off")
        if facts.sshd_include:
            write = (f"cat > {DROP_IN} && chmod 644 {DROP_IN} "
                     f"&& if /usr/sbin/sshd -t; then {RELOAD}; "
                     f"else rm -f {DROP_IN}; echo 'sshd -t refused the new settings' >&2; exit 1; fi")
            return Plan((Step(f"write {DROP_IN} (password and root login off), check, reload sshd",
                              write, sudo=True, stdin=(f"# written by cms-swarm harden\n{SETTINGS}",)),))
        block = f"{BLOCK_BEGIN}\n{SETTINGS}{BLOCK_END}\n"
        # written 0600 and removed when sshd -t refuses it: no left-over copy of sshd_config
        write = (f"tmp={MAIN}.cms-swarm-new && umask 077 && cat > $tmp && cat {MAIN} >> $tmp "
                 f"&& {{ /usr/sbin/sshd -t -f $tmp && mv -f $tmp {MAIN} || {{ rm -f $tmp; exit 1; }}; }} "
                 f"&& chmod 644 {MAIN} && {RELOAD}")
        return Plan((Step(f"put a block at the top of {MAIN} (password and root login off), "
                          "check, reload sshd", write, sudo=True, stdin=(block,)),))

    def _undo(self, ours: tuple[str, ...]) -> Plan:
        steps = []
        if "drop-in" in ours:
            steps.append(Step(f"remove {DROP_IN}", f"rm -f {DROP_IN}", sudo=True))
        if "block" in ours:
            strip = (f"tmp={MAIN}.cms-swarm-new && sed '/^{BLOCK_BEGIN}$/,/^{BLOCK_END}$/d' {MAIN} > $tmp "
                     f"&& chmod 644 $tmp && mv -f $tmp {MAIN}")
            steps.append(Step(f"remove the cms-swarm block from {MAIN}", strip, sudo=True))
        if not steps:
            return Plan.noop("not hardened by cms-swarm")
        steps.append(Step("check and reload sshd", f"/usr/sbin/sshd -t && {RELOAD}", sudo=True))
        return Plan(tuple(steps))

