#!/usr/bin/env bash
# Install (if needed) and start the graph on the cpu profile at http://127.0.0.1:8000.
# The first start builds the tiny checkpoints (~10 s) and takes about two minutes on 2 cores.
# Stop with Ctrl-C.  Another profile: SEETHINK_PROFILE=gpu-80g scripts/serve.sh
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh
export HF_HUB_OFFLINE=${HF_HUB_OFFLINE:-1} RAY_USAGE_STATS_ENABLED=0
exec .venv/bin/serve run graph:app profile="${SEETHINK_PROFILE:-cpu}"
