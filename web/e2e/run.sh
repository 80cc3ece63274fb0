#!/bin/sh
# Browser test of the dashboard (not part of `go test`: it needs Chromium and Node).
#   web/e2e/run.sh            from anywhere; installs playwright-core from the lockfile on first use
# Needs: node ≥ 18, npm, Go, Chromium at /usr/bin/chromium (apt-get install chromium) or $CHROMIUM.
set -eu
cd "$(dirname "$0")"
if [ ! -d node_modules/playwright-core ]; then
	npm ci --no-audit --no-fund --silent
fi
exec node dashboard.test.mjs "$@"
