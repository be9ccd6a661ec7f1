#!/bin/bash
# Idle RSS of `roster serve` (or any script given) on a fresh SQLite file, sampled at several
# times after /readyz answers. Several samples, not one: V8 keeps the young generation that a
# start-up burst grew until something shrinks it. Roster's start does (kit/heap.ts); Node 20
# alone did some 20-40 s into idle, Node 24 alone never (issue 14).
#
#   bench/idle-rss.sh <cli.js or server.mjs> [seconds...]     e.g. bench/idle-rss.sh dist/src/cli.js 2 30 60
#
# Environment: PORT (default 18281), ROSTER_ADMIN_PORT (default 19281), NODE (the binary, default
# node; e.g. .cache/node24/node/bin/node with .cache/node24/node_modules/roster-app/dist/src/cli.js).
set -euo pipefail
SCRIPT=$1; shift
TIMES=("${@:-2 15 30 45 60}"); TIMES=(${TIMES[@]})
export PORT=${PORT:-18281} ROSTER_ADMIN_PORT=${ROSTER_ADMIN_PORT:-19281} LOG_LEVEL=warn
DB=$(mktemp -d)/idle-rss.db
ROSTER_DATABASE_URL=sqlite:$DB "${NODE:-node}" "$SCRIPT" serve >/dev/null 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf "$(dirname "$DB")"' EXIT
for _ in $(seq 1 300); do curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null && break; sleep 0.1; done
out="$SCRIPT"; last=0
for t in "${TIMES[@]}"; do
  sleep $((t - last)); last=$t
  out="$out ${t}s=$(awk '/VmRSS/ { printf "%.1fMiB", $2 / 1024 }' "/proc/$PID/status")"
done
echo "$out"
