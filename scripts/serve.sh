#!/usr/bin/env bash
# Install (if needed) and start the graph on the cpu profile at http://127.0.0.1:8000.
# The first start builds the tiny checkpoints (~10 s) and takes about two minutes on 2 cores.
# Stop with Ctrl-C (or SIGTERM).  Another profile: SEETHINK_PROFILE=gpu-80g scripts/serve.sh
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh
export HF_HUB_OFFLINE=${HF_HUB_OFFLINE:-1} RAY_USAGE_STATS_ENABLED=0
# Serve's proxy runs seethink's edge middleware (JSON errors, body limits, Host check), and Serve
# runs in its throughput-oriented mode (seethink/edge.py: ENV)
export RAY_SERVE_HTTP_PROXY_CALLBACK_IMPORT_PATH=${RAY_SERVE_HTTP_PROXY_CALLBACK_IMPORT_PATH:-seethink.edge:proxy_middlewares}
export RAY_SERVE_THROUGHPUT_OPTIMIZED=${RAY_SERVE_THROUGHPUT_OPTIMIZED:-1}
export RAY_SERVE_RUN_ROUTER_IN_SEPARATE_LOOP=${RAY_SERVE_RUN_ROUTER_IN_SEPARATE_LOOP:-1}
export RAY_SERVE_PROXY_USE_GRPC=${RAY_SERVE_PROXY_USE_GRPC:-1}
# Opt-in: HAProxy (Ray's HAProxy mode, its binary comes with ray[serve]) on :8000 in front of the
# Ingress replicas' own ports, Serve's proxy on :8500 as its backup, stats :8404, exporter :9101:
# RAY_SERVE_ENABLE_HA_PROXY=1 RAY_SERVE_ENABLE_DIRECT_INGRESS=1 scripts/serve.sh. Off by default:
# it streams answers in bursts (seethink/edge.py: ENV says more)
export RAY_SERVE_ENABLE_DIRECT_INGRESS=${RAY_SERVE_ENABLE_DIRECT_INGRESS:-0}
export RAY_SERVE_ENABLE_HA_PROXY=${RAY_SERVE_ENABLE_HA_PROXY:-0}
export RAY_SERVE_HAPROXY_TIMEOUT_CLIENT_S=${RAY_SERVE_HAPROXY_TIMEOUT_CLIENT_S:-60}
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
