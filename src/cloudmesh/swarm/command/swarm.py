"""The Cloudmesh shell plugin: `cms swarm ...` runs exactly what `cms-swarm ...` runs.

cmd5's @command decorator docopt-parses first and swallows SystemExit, and cmd5 exits 0
whatever a command returns; so this plugin hands the raw line to cli.main unparsed.
"""

from __future__ import annotations

import shlex

from cloudmesh.shell.command import PluginCommand


class SwarmCommand(PluginCommand):
    """cms swarm: Docker Swarm on Raspberry Pis and other Debian-family hosts."""

    def do_swarm(self, args: str) -> int:
        """
        ::

          Usage:
            swarm COMMAND [ARGS...]

          Runs `cms-swarm COMMAND ARGS...`; `cms swarm --help` lists the commands and
          `cms swarm COMMAND --help` their options. Commands:
            create check install init verify status reset
            add remove promote demote drain activate label rebalance hostname
            upgrade backup restore keys harden rotate-tokens unlock
            lab up|down|status|ssh   image burn|customize|capture|info

          Arguments:
            COMMAND  one of the commands above
            ARGS     its hosts (a host list such as pi[85-87], or -i FILE) and options

          Note: cms itself always exits 0; use cms-swarm in scripts for exit codes.
          cms expands $VAR in the line: quote such text, or use cms-swarm.
        """
        from cloudmesh.swarm.cli.main import main

        try:
            argv = shlex.split(args)
        except ValueError as error:
            print(f"error: {error}")
            return 2
        return main(argv or ["--help"])
