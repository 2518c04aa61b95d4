#!/usr/bin/env bash
# The whole test suite on a fresh Debian machine, as root: Docker and lab tools, the venv,
# the gates (ruff, mypy --strict), then unit tests and integration tests on lab hosts (real SSH,
# apt and Docker).
# Extra arguments go to pytest (e.g. -m "not integration" for the quick loop).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-host.sh
bash scripts/venv.sh
# Gates first: lint and strict typing fail the run before any host is started.
.venv/bin/ruff check src tests bench scripts
.venv/bin/mypy --strict src
exec .venv/bin/python -m pytest -p no:cacheprovider -ra "$@" tests
