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
        """Generated below from cms-swarm's parser (plugin_doc)."""
        from cloudmesh.swarm.cli.main import main

        try:
            argv = shlex.split(args)
        except ValueError as error:
            print(f"error: {error}")
            return 2
        return main(argv or ["--help"])


def plugin_doc() -> str:
    """`cms help swarm`: the docopt usage of every command, from the parser cms-swarm uses."""
    from cloudmesh.swarm.cli.main import build_parser
    from cloudmesh.swarm.cli.usage import options_section, usage_lines

    indent = "\n            "
    return f"""
        ::

          Usage:
            {indent.join(usage_lines(build_parser()))}

          Runs `cms-swarm COMMAND ARGS...` (the same code and options); `cms swarm COMMAND
          --help` lists every option of a command, `cms-swarm completion bash` completes them.

          Arguments:
            HOSTS      a host list such as pi[85-87] or NAME=ADDRESS,... (instead of -i FILE);
                       promote ... remove: the inventory hosts to act on, e.g. pi3 or pi[3-4]
            NAME       a stack name (deploy)
            SHELL      bash, zsh or fish

          Options:
            {indent.join(options_section())}

          Note: cms itself always exits 0; use cms-swarm in scripts for exit codes
          (0 ok, 1 a host failed, 2 bad input). cms expands $VAR in the line: quote such
          text, or use cms-swarm.
        """


SwarmCommand.do_swarm.__doc__ = plugin_doc()
