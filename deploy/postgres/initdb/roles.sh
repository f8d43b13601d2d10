#!/usr/bin/env bash
# The login roles ModelMonitor's services connect as (least privilege; schema version 8). docker-compose.yml mounts
# this folder at /docker-entrypoint-initdb.d: the postgres image runs it once, when it initialises an empty data
# volume, as the superuser (POSTGRES_USER) over the local socket, before it accepts connections over the network.
#
#   modelmonitor_writer   the ingestion API and the aggregator: read and write rows, no DDL
#   modelmonitor_reader   the exporter: read every table but api_keys (the key hashes)
#   modelmonitor_grafana  Grafana's Postgres data source: read the statistics, not api_keys nor admin_audit
#
# This script only creates the roles, with LOGIN and a password; the privileges are granted by the schema migration
# V8 (the `migrate` service, as the database owner), which finds the roles here and grants to them. Without this
# script the migration creates them NOLOGIN, and the services cannot log in.
#
# The passwords come from the postgres service's environment (MODELMONITOR_WRITER_PASSWORD,
# MODELMONITOR_READER_PASSWORD, MODELMONITOR_GRAFANA_PASSWORD). docker-compose.yml's defaults are DEMO PASSWORDS,
# published in this repository: change them (an .env file next to docker-compose.yml) before the database holds
# anything you care about. A password must not contain ';' (the services' connection strings are split on it).
#
# Idempotent: a role that can log in already is left as it is (its password too); a missing role is created; a role
# that exists but cannot log in (made NOLOGIN by the V8 migration, in a database from before this script) gets LOGIN
# and its password. The postgres image runs this script only on an empty data volume; for a volume made before, run it
# by hand, then restart the services:
#   docker compose exec postgres /docker-entrypoint-initdb.d/roles.sh
#   docker compose restart ingestion aggregator exporter grafana
# To change a password later: set the new value in the compose variable, and in Postgres, e.g.
#   docker compose exec postgres psql -U modelmonitor -d modelmonitor -c "ALTER ROLE modelmonitor_writer PASSWORD '...'"
set -euo pipefail

: "${MODELMONITOR_WRITER_PASSWORD:?set MODELMONITOR_WRITER_PASSWORD on the postgres service}"
: "${MODELMONITOR_READER_PASSWORD:?set MODELMONITOR_READER_PASSWORD on the postgres service}"
: "${MODELMONITOR_GRAFANA_PASSWORD:?set MODELMONITOR_GRAFANA_PASSWORD on the postgres service}"

# The passwords reach psql as variables (:'name' quotes them as SQL literals), never spliced into the SQL text.
# Roles belong to the cluster, so the database connected to does not matter.
psql -v ON_ERROR_STOP=1 --no-psqlrc --username "${POSTGRES_USER:-postgres}" --dbname "${POSTGRES_DB:-${POSTGRES_USER:-postgres}}" \
  -v writer_password="$MODELMONITOR_WRITER_PASSWORD" \
  -v reader_password="$MODELMONITOR_READER_PASSWORD" \
  -v grafana_password="$MODELMONITOR_GRAFANA_PASSWORD" <<'SQL'
SELECT format(CASE WHEN existing.oid IS NULL THEN 'CREATE ROLE %I LOGIN PASSWORD %L' ELSE 'ALTER ROLE %I LOGIN PASSWORD %L' END,
              wanted.role_name, wanted.password)
FROM (VALUES ('modelmonitor_writer', :'writer_password'),
             ('modelmonitor_reader', :'reader_password'),
             ('modelmonitor_grafana', :'grafana_password')) AS wanted (role_name, password)
LEFT JOIN pg_roles AS existing ON existing.rolname = wanted.role_name
WHERE existing.oid IS NULL OR NOT existing.rolcanlogin
\gexec
SELECT rolname AS role, rolcanlogin AS can_log_in FROM pg_roles WHERE rolname LIKE 'modelmonitor\_%' ORDER BY rolname;
SQL
