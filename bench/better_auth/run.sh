#!/usr/bin/env bash
# Run better-auth's organization plugin on SQLite in the foreground (see server.mjs).
# Usage: bench/better_auth/run.sh PORT DATA_DIR
set -euo pipefail
cd "$(dirname "$0")"
# better-sqlite3 has no prebuilt binary reachable here; node-gyp builds it against the local
# Node headers (/usr/include/node) instead of downloading them.
if [ ! -d node_modules ]; then
  npm_config_nodedir=/usr npm ci --no-audit --no-fund
fi
PORT="$1" DATA_DIR="$(realpath "$2")" exec node server.mjs
