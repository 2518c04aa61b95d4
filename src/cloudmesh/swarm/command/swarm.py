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
            swarm create [-i FILE | HOSTS] [--user=USER] [--key=FILE] [--engine=ENGINE] [--skip-verify] [--use] [--autolock] [--force] [--dry-run] [--json]
            swarm check [-i FILE | HOSTS] [--user=USER] [--fix] [--fix-clock] [--json]
            swarm install [-i FILE | HOSTS] [--user=USER] [--engine=ENGINE] [--engine-version=V] [--dry-run] [--json]
            swarm init [-i FILE | HOSTS] [--user=USER] [--autolock] [--force] [--dry-run] [--json]
            swarm verify [-i FILE | HOSTS] [--user=USER] [--test-image=IMAGE] [--verify-port=PORT] [--json]
            swarm status [-i FILE | HOSTS] [--user=USER] [--json]
            swarm reset [-i FILE | HOSTS] [--user=USER] [--purge] [--dry-run] [--json]
            swarm context [-i FILE | HOSTS] [--user=USER] [--use] [--json]
            swarm deploy NAME [HOSTS] [-i FILE] (-c FILE... | --rm) [--image-archive=TAR...] [--timeout=S] [--resolve-image=WHEN] [--json]
            swarm services [-i FILE | HOSTS] [--stack=NAME] [--json]
            swarm keys [-i FILE | HOSTS] [--user=USER] [--key=FILE] [--password-stdin] [--accept-host-key] [--json]
            swarm harden [-i FILE | HOSTS] [--user=USER] [--undo] [--dry-run] [--json]
            swarm rotate-tokens [-i FILE | HOSTS] [--dry-run] [--json]
            swarm unlock [-i FILE | HOSTS] [--unlock-key-stdin] [--json]
            swarm hostname [-i FILE | HOSTS] [--dry-run] [--json]
            swarm promote TARGETS [-i FILE] [--force] [--dry-run] [--json]
            swarm demote TARGETS [-i FILE] [--force] [--dry-run] [--json]
            swarm drain TARGETS [-i FILE] [--dry-run] [--json]
            swarm activate TARGETS [-i FILE] [--dry-run] [--json]
            swarm label TARGETS LABELS... [-i FILE] [--dry-run] [--json]
            swarm rebalance [-i FILE | HOSTS] [--dry-run] [--json]
            swarm add TARGETS [-i FILE] [--role=ROLE] [--engine=ENGINE] [--dry-run] [--json]
            swarm remove TARGETS [-i FILE] [--force] [--dry-run] [--json]
            swarm upgrade [-i FILE | HOSTS] [--version=V] [--dry-run] [--json]
            swarm backup [-i FILE | HOSTS] [-o FILE] [--force] [--dry-run] [--json]
            swarm restore ARCHIVE --host=HOST [-i FILE] [--force] [--dry-run] [--json]
            swarm inventory new HOSTS [--user=USER] [--key=FILE] [--name=NAME] [-o FILE] [--force]
            swarm completion SHELL
            swarm lab (up [N] [--os=RELEASE] [--arch=ARCH] | down | status | ssh HOST) [--name=NAME] [--subnet=NET]
            swarm image burn IMAGE --device=DEV [--hostname=NAME | --hosts=LIST] [--ssh-key=FILE]
            swarm image customize IMAGE [--hostname=NAME] [--ssh-key=FILE]
            swarm image capture HOST -o FILE [-i FILE] [--shrink] [--sysprep]
            swarm image info IMAGE [--json]

          Runs `cms-swarm COMMAND ARGS...` (the same code and options); `cms swarm COMMAND
          --help` lists every option of a command, `cms-swarm completion bash` completes them.

          Arguments:
            HOSTS      a host list such as pi[85-87] or NAME=ADDRESS,... (instead of -i FILE)
            TARGETS    inventory hosts to act on, e.g. pi3 or pi[3-4]
            NAME       a stack name (deploy)
            SHELL      bash, zsh or fish

          Options:
            -i FILE --inventory=FILE   inventory YAML file (docs/inventory.md)
            -c FILE --compose-file=FILE  compose file; repeat for overrides
            -o FILE --output=FILE      file to write
            --user=USER                SSH user for a host list (default: pi)
            --json                     one JSON document on stdout (docs/result.schema.json)
            --dry-run                  print per host the commands it would run; change nothing

          Note: cms itself always exits 0; use cms-swarm in scripts for exit codes
          (0 ok, 1 a host failed, 2 bad input). cms expands $VAR in the line: quote such
          text, or use cms-swarm.
        """
        from cloudmesh.swarm.cli.main import main

        try:
            argv = shlex.split(args)
        except ValueError as error:
            print(f"error: {error}")
            return 2
        return main(argv or ["--help"])
