#!/usr/bin/env bash
# CI (issue 20): what an operator runs, from a production install. A copy of the checkout with its build, whose
# node_modules holds the production dependencies only (the lock file's tree, dev packages pruned: what
# `npm ci --omit=dev` installs, without the network), then migrate, admin and the server as the docs name them:
# `npm run migrate|admin|start` and `node dist/...`. No tsx, no esbuild: each must run the built bundles.
# Needs a current build (`npm run build`).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f dist/src/server.js ] || { echo "run npm run build first" >&2; exit 1; }

work="$(mktemp -d)"
server_pid=""
cleanup () {
  if [ -n "$server_pid" ]; then kill -KILL -- "-$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

app="$work/app"
mkdir -p "$app"
# The files git knows, the build, and node_modules hard-linked (cheap), then pruned to production dependencies.
git ls-files -z | xargs -0 cp --parents -t "$app"
cp -a dist "$app/dist"
cp -al node_modules "$app/node_modules"
cd "$app"
# Newer than every source, as a build made after checkout is.
find dist -type f -exec touch {} +
# npm prune rewrites package-lock.json, which `npm ci` never does: keep the checkout's (launch.mjs's staleness check
# reads it, the bundles being built from the packages it pins).
cp -p package-lock.json "$work/package-lock.json"
npm prune --omit=dev --no-audit --no-fund --ignore-scripts >/dev/null 2>&1
cp -p "$work/package-lock.json" package-lock.json
# No tsx. (TypeScript and the Prisma CLI stay: @prisma/client lists both as peers. npm start must still not compile.)
if [ -e node_modules/tsx ]; then echo "tsx left after the prune" >&2; exit 1; fi
npm run postinstall --silent >/dev/null # regenerates the Prisma client, as npm ci does: the build must stay current

export DATA_DIR="$work/data" JWT_SECRET="$(head -c 32 /dev/urandom | base64)" LOG_LEVEL=warn
unset DATABASE_URL || true

echo "--- npm run migrate -- deploy"
npm run --silent migrate -- deploy
echo "--- node dist/prisma/migrate.js deploy (again: nothing pending)"
node dist/prisma/migrate.js deploy | grep -q 'No pending migrations.'
echo "--- npm run admin -- create-service-client"
npm run --silent admin -- create-service-client "Nightly job" --worker 2>"$work/admin-create.err" | grep -q '"clientSecret"'
if grep -q 'older than the sources' "$work/admin-create.err"; then echo "npm run admin found the current build stale" >&2; exit 1; fi
echo "--- node dist/src/admin/cli.js list-service-clients"
node dist/src/admin/cli.js list-service-clients | grep -q '"Nightly job"'

echo "--- npm start (no compile: the build is current)"
port=4790
# Its own process group: npm does not pass SIGTERM on to the script, so the stop below signals the whole group.
PORT=$port LOG_LEVEL=info setsid npm start >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 240); do
  curl -fsS "http://127.0.0.1:$port/health/ready" >/dev/null 2>&1 && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.log"; exit 1; }
  sleep 1
done
curl -fsS "http://127.0.0.1:$port/health/ready"; echo
if grep -q 'compiling' "$work/server.log"; then echo "npm start compiled although the build was current" >&2; exit 1; fi
if grep -q 'older than the sources' "$work/server.log"; then echo "npm start found the current build stale" >&2; exit 1; fi
echo "--- the admin command refuses beside the running server (embedded database)"
if node dist/src/admin/cli.js show-user nobody@example.com 2>"$work/admin.err"; then echo "admin ran beside the server" >&2; exit 1; fi
grep -q 'is in use by another process' "$work/admin.err"
echo "--- SIGTERM: graceful stop"
kill -TERM -- "-$server_pid"
wait "$server_pid" || true
server_pid=""
grep -q 'server closing' "$work/server.log" || { cat "$work/server.log"; echo "no graceful close logged" >&2; exit 1; }
echo "production install: ok"
