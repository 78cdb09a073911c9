#!/usr/bin/env bash
# Run a command with a throwaway PostgreSQL 15 cluster: `scripts/with-postgres.sh npm run bench`.
# The command sees PG_URL (and PG_DATA_DIR, PG_BIN, PG_CTL_AS to restart it); the cluster is removed afterwards.
set -euo pipefail
# shellcheck source=postgres-cluster.sh
source "$(dirname "$0")/postgres-cluster.sh"
trap stop_pg EXIT
start_pg
"$@"
