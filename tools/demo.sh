#!/usr/bin/env bash
# The main job as it stands: see `make demo`.
set -euo pipefail
build=${1:-build}
"$build/chunkserve" help
