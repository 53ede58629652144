#!/usr/bin/env bash
# Install (if needed) and start the graph on the cpu profile at http://127.0.0.1:8000.
# The first start builds the tiny checkpoints (~10 s) and takes about two minutes on 2 cores.
# Stop with Ctrl-C (or SIGTERM).  Another profile: SEETHINK_PROFILE=gpu-80g scripts/serve.sh
# Another address: SEETHINK_HOST=0.0.0.0 SEETHINK_PORT=8080 scripts/serve.sh
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh
export HF_HUB_OFFLINE=${HF_HUB_OFFLINE:-1} RAY_USAGE_STATS_ENABLED=0
# The environment Ray starts with (seethink/edge.py: ENV; a variable set here already wins):
# seethink's edge middleware (JSON errors, body limits, Host check) in Serve's HTTP servers,
# Serve's throughput mode, and Ray's HAProxy mode: HAProxy on :8000 in front of the Ingress
# replicas' own ports, Serve's proxy on :8500 as its backup, HAProxy's stats on :8404 and its
# Prometheus exporter on :9101. Serve's proxy alone on :8000 instead:
# RAY_SERVE_ENABLE_HA_PROXY=0 RAY_SERVE_ENABLE_DIRECT_INGRESS=0 scripts/serve.sh
# This run's files in a directory of its own: Serve's config, vLLM's IPC sockets and, with HAProxy,
# HAProxy's. On the way out an HAProxy that outlived Ray (it can, when `serve run` is killed
# instead of stopped) is stopped, and the directory removed.
run=$(mktemp -d /tmp/sthap-XXXXXXXX)
trap '.venv/bin/python -m seethink.edge stop-haproxy "$run"' EXIT
eval "$(.venv/bin/python -m seethink.edge env "$run")"
# The address is given: in HAProxy mode Ray binds all interfaces unless told otherwise.
cat > "$run/serve.yaml" <<EOF
http_options: {host: "${SEETHINK_HOST:-127.0.0.1}", port: ${SEETHINK_PORT:-8000}}
applications:
  - name: seethink
    route_prefix: /
    import_path: graph:build_app
    args: {profile: "${SEETHINK_PROFILE:-cpu}"}
EOF
# `serve run` stops Ray and everything it started on SIGTERM. A script's background child ignores
# SIGINT, and a SIGTERM to this script alone would leave `serve run` behind: both are passed on to
# it as SIGTERM, and the script waits until it has stopped.
.venv/bin/serve run "$run/serve.yaml" &
child=$!
trap 'kill -TERM "$child" 2>/dev/null || true' TERM INT
status=0
wait "$child" || status=$?
while kill -0 "$child" 2>/dev/null; do wait "$child" || status=$?; done
exit "$status"
