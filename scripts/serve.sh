#!/usr/bin/env bash
# Install (if needed) and start the graph on the cpu profile at http://127.0.0.1:8000.
# The first start builds the tiny checkpoints (~10 s) and takes about two minutes on 2 cores.
# Stop with Ctrl-C (or SIGTERM).  Another profile: SEETHINK_PROFILE=gpu-80g scripts/serve.sh
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
eval "$(.venv/bin/python -m seethink.edge env)"
# With HAProxy: its files in a directory of this run; on the way out, an HAProxy that outlived Ray
# (it can, when `serve run` is killed instead of stopped with Ctrl-C) is stopped, files removed
if [ "$RAY_SERVE_ENABLE_HA_PROXY" = 1 ]; then
  hap=$(mktemp -d /tmp/sthap-XXXXXXXX)
  eval "$(.venv/bin/python -c 'import sys; from seethink.edge import haproxy_files
for k, v in haproxy_files(sys.argv[1]).items(): print(f"export {k}={v}")' "$hap")"
  trap '.venv/bin/python -m seethink.edge stop-haproxy "$hap"' EXIT
fi
# `serve run` stops Ray and everything it started on SIGTERM. A script's background child ignores
# SIGINT, and a SIGTERM to this script alone would leave `serve run` behind: both are passed on to
# it as SIGTERM, and the script waits until it has stopped.
.venv/bin/serve run graph:app profile="${SEETHINK_PROFILE:-cpu}" &
child=$!
trap 'kill -TERM "$child" 2>/dev/null || true' TERM INT
status=0
wait "$child" || status=$?
while kill -0 "$child" 2>/dev/null; do wait "$child" || status=$?; done
exit "$status"
