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
            swarm create   [HOSTS] [-i FILE] [options]
            swarm check    [HOSTS] [-i FILE] [options]
            swarm install  [HOSTS] [-i FILE] [options]
            swarm init     [HOSTS] [-i FILE] [options]
            swarm verify   [HOSTS] [-i FILE] [options]
            swarm status   [HOSTS] [-i FILE] [--json] [options]
            swarm reset    [HOSTS] [-i FILE] [--purge] [options]
            swarm keys     [HOSTS] [-i FILE] [--password-stdin] [options]
            swarm harden   [HOSTS] [-i FILE] [--undo] [options]
            swarm rotate-tokens [HOSTS] [-i FILE] [options]
            swarm unlock   [HOSTS] [-i FILE] [--unlock-key-stdin] [options]
            swarm lab up [N] | lab down | lab status | lab ssh NAME

          The same commands and options as `cms-swarm`; see `cms-swarm COMMAND --help`.

          Arguments:
            HOSTS   a host list such as pi[85-87] or 10.1.1.[2-5]

          Options:
            -i FILE            inventory YAML file
            --user USER        SSH user for a host list (default: pi)
            --key FILE         SSH private key
            --dry-run          print the commands per host, change nothing
            -q, -v             quiet, or show the commands run

          Note: cms itself always exits 0; use cms-swarm in scripts for exit codes.
        """
        from cloudmesh.swarm.cli.main import main

        try:
            argv = shlex.split(args)
        except ValueError as error:
            print(f"error: {error}")
            return 2
        return main(argv or ["--help"])
