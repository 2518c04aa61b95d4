"""Command-line layers: `cms-swarm` (main.py) and the lab sub-commands (lab.py)."""
