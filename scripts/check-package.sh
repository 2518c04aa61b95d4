#!/usr/bin/env bash
# Build the sdist and wheel, `twine check` them, install the wheel into a fresh venv, and fail on
# any warning from the build or the install; then `cms-swarm --version` and `cms help swarm` work.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
python3 -m venv "$out/tools"
"$out/tools/bin/pip" install -q build twine
"$out/tools/bin/python" -m build -o "$out/dist" . > "$out/build.log" 2>&1 || { cat "$out/build.log"; exit 1; }
if grep -i -E "warning|deprecat" "$out/build.log" | grep -v "byte-compiling is disabled"; then
    echo "check-package: the build warned (above)" >&2; exit 1
fi
"$out/tools/bin/twine" check --strict "$out"/dist/*
python3 -m venv "$out/venv"
"$out/venv/bin/pip" install "$out"/dist/*.whl > "$out/install.log" 2>&1 || { cat "$out/install.log"; exit 1; }
if grep -i -E "^warning|deprecat" "$out/install.log" | grep -v "Location 'file:"; then
    echo "check-package: pip install warned (above)" >&2; exit 1
fi
version=$("$out/venv/bin/python" -c "import importlib.metadata as m; print(m.version('cloudmesh-swarm'))")
[ "$("$out/venv/bin/cms-swarm" --version)" = "cloudmesh-swarm $version" ]
HOME="$out" "$out/venv/bin/cms" help swarm | grep -q "swarm create"
echo "check-package: ok (cloudmesh-swarm $version: sdist, wheel, twine check, pip install, cms plugin)"
