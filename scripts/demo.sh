#!/usr/bin/env bash
# The main job on a fresh Debian machine, as root: set up Docker and the lab, start 3 simulated
# Pis, build a verified 3-manager swarm on them with cms-swarm, and show its status.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-host.sh
bash scripts/venv.sh
export PATH="$(pwd)/.venv/bin:$PATH"
cms-swarm lab up 3
inventory="${CMS_SWARM_HOME:-$HOME/.cloudmesh/swarm}/lab/lab/inventory.yaml"
cms-swarm create -i "$inventory"
cms-swarm verify -i "$inventory"
cms-swarm status -i "$inventory"
echo "the lab keeps running: try 'cms-swarm lab ssh pi1', and 'cms-swarm lab down' to remove it"
