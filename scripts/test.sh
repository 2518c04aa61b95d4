#!/usr/bin/env bash
# The whole test suite on a fresh Debian machine, as root: Docker and lab tools, the venv,
# then unit tests and integration tests on lab hosts (real SSH, apt and Docker).
# Extra arguments go to pytest (e.g. -m "not integration" for the quick loop).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-host.sh
bash scripts/venv.sh
exec .venv/bin/python -m pytest -p no:cacheprovider -ra "$@" tests
