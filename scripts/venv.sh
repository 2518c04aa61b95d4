#!/usr/bin/env bash
# Create (once) the project's virtualenv in .venv and install cloudmesh-swarm with its test and
# dev extras (pytest, hypothesis; ruff and mypy for the gates in scripts/test.sh).
# Non-editable-compat install so that `cms help` lists the swarm plugin (cmd5 trap).
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv --help >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq python3-venv; }
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q --config-settings editable_mode=compat -e '.[test,dev]'
echo "venv: $(pwd)/.venv ($(.venv/bin/cms-swarm --version))"
