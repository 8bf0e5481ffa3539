#!/usr/bin/env bash
# The lab page's test (CI runs it): builds web/dist, then drives the page in headless Chromium
# with WebGPU on SwiftShader through puppeteer-core (installed from npm into target/web-test).
# Needs chromium (apt-get install chromium) and node with npm.
#   scripts/test_web.sh [--screenshot docs/web_lab.png] [--query '?compare=1&autostart=1']
set -euo pipefail
cd "$(dirname "$0")/.."
command -v chromium >/dev/null || { echo "the page test needs Chromium: apt-get install chromium" >&2; exit 1; }
command -v npm >/dev/null || { echo "the page test needs node and npm: apt-get install nodejs npm" >&2; exit 1; }
bash scripts/build_web.sh
if [ ! -d target/web-test/node_modules/puppeteer-core ] || ! grep -q '"version": "24' target/web-test/node_modules/puppeteer-core/package.json; then
  mkdir -p target/web-test
  npm install --prefix target/web-test --no-save --no-audit --no-fund puppeteer-core@24 >/dev/null
fi
CHROMIUM=${CHROMIUM:-$(command -v chromium)} PUPPETEER_DIR=target/web-test node web/test/page.mjs "$@"
