#!/usr/bin/env bash
# Starts the services the test suite needs on this machine (no systemd in CI containers):
# PostgreSQL with a test role and database on 127.0.0.1:5432.
set -euo pipefail

cluster_version=$(pg_lsclusters --no-header | awk 'NR==1 {print $1}')
cluster_name=$(pg_lsclusters --no-header | awk 'NR==1 {print $2}')
if [ -z "$cluster_version" ]; then
  pg_createcluster 15 main
  cluster_version=15 cluster_name=main
fi
pg_ctlcluster "$cluster_version" "$cluster_name" start 2>/dev/null || true
pg_ctlcluster "$cluster_version" "$cluster_name" status >/dev/null

as_postgres() { runuser -u postgres -- "$@"; }
if ! as_postgres psql -tAc "SELECT 1 FROM pg_roles WHERE rolname='atelier'" | grep -q 1; then
  as_postgres psql -q -c "CREATE ROLE atelier LOGIN PASSWORD 'atelier' CREATEDB"
fi
if ! as_postgres psql -tAc "SELECT 1 FROM pg_database WHERE datname='atelier_test'" | grep -q 1; then
  as_postgres createdb -O atelier atelier_test
fi
echo "PostgreSQL $cluster_version/$cluster_name up: postgresql://atelier@127.0.0.1:5432/atelier_test"
