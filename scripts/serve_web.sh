#!/usr/bin/env bash
# Serves web/dist/ (scripts/build_web.sh builds it) at http://localhost:${PORT:-8000}/.
# WebGPU needs a secure context: localhost is one; open the page in Chrome/Edge 113+, Safari 26+,
# or Firefox 141+ (Windows) with WebGPU.
set -euo pipefail
cd "$(dirname "$0")/../web/dist" 2>/dev/null || { echo "no web/dist: run scripts/build_web.sh first" >&2; exit 1; }
PORT=${PORT:-8000}
echo "serving the lab at http://localhost:$PORT/ (Ctrl-C stops)"
exec python3 -m http.server "$PORT" --bind 127.0.0.1
