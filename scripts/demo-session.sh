#!/usr/bin/env bash
# The session that scripts/record-demo.sh records: from bare lab hosts to a deployed compose
# stack, seen through the Docker context. Each command is shown as typed, then run.
set -euo pipefail
name=${LAB_NAME:-lab}
subnet=${LAB_SUBNET:-10.77.0.0/24}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
show() { printf '\033[1;32m$\033[0m %s\n' "$*"; sleep 1; "$@"; echo; sleep 1; }

show cms-swarm lab up 3 --name "$name" --subnet "$subnet"
cd "$work" && cp "${CMS_SWARM_HOME:-$HOME/.cloudmesh/swarm}/lab/$name/inventory.yaml" lab.yaml
show cms-swarm create -i lab.yaml --skip-verify
# the lab has no registry: each host makes the demo's image from its own busybox-static
image=$(python3 -c 'from cloudmesh.swarm.phases.verify import build_image_command as b; print(b("demo:busybox"))')
for host in pi1 pi2 pi3; do cms-swarm lab ssh --name "$name" --subnet "$subnet" "$host" "$image" >/dev/null; done
cat > compose.yml <<'YAML'
version: "3.8"
services:
  web:
    image: demo:busybox
    command: ["httpd", "-f", "-p", "8080", "-h", "/www"]
    deploy: {replicas: 3}
YAML
show cat compose.yml
show cms-swarm deploy web -i lab.yaml -c compose.yml --resolve-image never
show cms-swarm services -i lab.yaml
show docker --context "swarm-$name" service ps web_web --format 'table {{.Name}}\t{{.Node}}\t{{.CurrentState}}'
