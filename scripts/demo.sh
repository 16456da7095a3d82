#!/usr/bin/env bash
# `npm run demo`: berth's main job on a fresh Debian 12 machine, with no internet.
# Installs what is missing, starts a local registry seeded with busybox and hello-world, starts
# berthd with that registry as its Docker Hub mirror, and runs the quickstart containers.
# `npm run demo -- stop` stops the registry and berthd again.
set -euo pipefail
cd "$(dirname "$0")/.."
DEMO_DIR=/run/berth-demo
REGISTRY_PORT=${BERTH_DEMO_REGISTRY_PORT:-5055}

stop_all() {
  if [ -f "$DEMO_DIR/berthd.pid" ]; then kill "$(cat "$DEMO_DIR/berthd.pid")" 2>/dev/null || true; fi
  if [ -f "$DEMO_DIR/registry.pid" ]; then kill "$(cat "$DEMO_DIR/registry.pid")" 2>/dev/null || true; fi
  rm -f "$DEMO_DIR"/*.pid
}

if [ "${1:-}" = "stop" ]; then
  stop_all
  echo "demo registry and berthd stopped"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "npm run demo needs root (containers, mounts and namespaces)" >&2
  exit 1
fi

bash scripts/install-deps.sh
mkdir -p "$DEMO_DIR"

# A local registry (Debian's docker-registry) seeded by skopeo with images built from local files.
if ! curl -fsS "http://127.0.0.1:$REGISTRY_PORT/v2/" >/dev/null 2>&1; then
  mkdir -p "$DEMO_DIR/registry"
  cat > "$DEMO_DIR/registry.yml" <<YML
version: 0.1
log: { level: error }
storage:
  filesystem: { rootdirectory: $DEMO_DIR/registry }
  delete: { enabled: true }
http: { addr: 127.0.0.1:$REGISTRY_PORT }
YML
  docker-registry serve "$DEMO_DIR/registry.yml" >"$DEMO_DIR/registry.log" 2>&1 &
  echo $! > "$DEMO_DIR/registry.pid"
  for _ in $(seq 100); do curl -fsS "http://127.0.0.1:$REGISTRY_PORT/v2/" >/dev/null 2>&1 && break; sleep 0.1; done
fi
node --import tsx scripts/seed-registry.ts "127.0.0.1:$REGISTRY_PORT"

# berthd on the default socket, with the local registry as its docker.io mirror.
cat > "$DEMO_DIR/daemon.json" <<JSON
{ "registry-mirrors": ["http://127.0.0.1:$REGISTRY_PORT"] }
JSON
if [ -S /run/berth/berth.sock ] && curl -fsS --unix-socket /run/berth/berth.sock http://berth/_ping >/dev/null 2>&1; then
  if [ ! -f "$DEMO_DIR/berthd.pid" ]; then
    echo "a berthd that the demo did not start answers on /run/berth/berth.sock; stop it first" >&2
    exit 1
  fi
else
  setsid bin/berthd --config-file "$DEMO_DIR/daemon.json" >"$DEMO_DIR/berthd.log" 2>&1 < /dev/null &
  echo $! > "$DEMO_DIR/berthd.pid"
  for _ in $(seq 200); do curl -fsS --unix-socket /run/berth/berth.sock http://berth/_ping >/dev/null 2>&1 && break; sleep 0.05; done
fi

set -x
bin/berth run --rm busybox /bin/echo Hello Docker
bin/berth run --rm hello-world
bin/berth images
{ set +x; } 2>/dev/null
echo
echo "berthd and the demo registry are still running: try 'bin/berth run --rm -it busybox sh' or"
echo "'DOCKER_HOST=unix:///run/berth/berth.sock docker ps -a'. 'npm run demo -- stop' stops them."
