"""Shell snippets that several phases put in their steps, written once.

Each is a string (or a function making one) that runs on a host through `sh -c`; a phase
that needs one imports it from here, so a fix (a longer wait, another lock) reaches every
phase that runs it. A snippet used by one phase only stays in that phase's module.
"""

from __future__ import annotations

import shlex

from cloudmesh.swarm.plan import Step

# -- apt: install, upgrade, reset ----------------------------------------------------------
APT = "DEBIAN_FRONTEND=noninteractive apt-get -q -o DPkg::Lock::Timeout=300"
# An apt or dpkg that outlived its SSH session (a killed run) may still hold the locks
# (`apt-get update`'s list lock has no timeout option): let it finish first, bounded.
WAIT_FOR_APT = ("i=0; while pgrep -x apt-get >/dev/null || pgrep -x dpkg >/dev/null; do "
                "i=$((i+1)); [ $i -ge 600 ] && break; sleep 1; done; ")

REFRESH_LISTS = Step(
    "refresh package lists when older than a day",
    "if [ -z \"$(find /var/lib/apt/lists -maxdepth 1 -name '*_Packages*' -mmin -1440 | head -n 1)\" ]; "
    f"then {WAIT_FOR_APT}{APT} update; fi",
    sudo=True,
    timeout=300,
)

# -- the engine: install, upgrade, identity, restore ---------------------------------------
# Until the engine answers on its socket (60 s at most); after a start, restart or restore.
ENGINE_UP = ("i=0; until err=$(docker info 2>&1 >/dev/null); do i=$((i+1)); "  # keeps the last error
             "[ $i -ge 120 ] && { printf '%s\\n' \"$err\" | tail -n 1 >&2; exit 1; }; sleep 0.5; done")

# -- the Engine API: configure (joins), tokens (unlock) ------------------------------------
# Reads a JSON body on stdin and POSTs it to the local engine; prints the API's error.
API_POST = (
    "import http.client,socket,sys\n"
    "class C(http.client.HTTPConnection):\n"
    "    def connect(self):\n"
    "        self.sock=socket.socket(socket.AF_UNIX); self.sock.settimeout(self.timeout)\n"
    "        self.sock.connect('/var/run/docker.sock')\n"
    "c=C('localhost',timeout=110)\n"
    "c.request('POST',sys.argv[1],sys.stdin.buffer.read(),{'Content-Type':'application/json'})\n"
    "r=c.getresponse(); body=r.read().decode(errors='replace')\n"
    "sys.exit(0) if r.status<300 else sys.exit(sys.stderr.write(body) and 1)\n"
)


def api_post(path: str) -> str:
    """The command that POSTs its stdin (JSON) to the local Engine API at `path`."""
    return f"python3 -c {shlex.quote(API_POST)} {path}"


# -- sshd: access (harden), identity (new host keys) ---------------------------------------
# The unit is `ssh` on Debian and Ubuntu, `sshd` elsewhere; each caller adds its fallback.
RELOAD_SSHD = "systemctl reload ssh 2>/dev/null || systemctl reload sshd 2>/dev/null"
